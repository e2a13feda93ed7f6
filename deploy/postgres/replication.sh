#!/bin/sh
# Runs once, when the postgres service initialises its data volume (docker-entrypoint-initdb.d):
# lets the postgres-replica service stream WAL from this server as POSTGRES_USER (a superuser,
# hence allowed to replicate), with the same password authentication as other connections, and
# creates the physical replication slot mrhub_replica that the standby streams through: the
# primary keeps every WAL segment the standby has not received yet (up to max_slot_wal_keep_size,
# compose.yaml), so a busy primary cannot recycle WAL the standby still needs.
# A volume initialised before this script existed needs both by hand: the pg_hba.conf line (then
# `SELECT pg_reload_conf()`) and `SELECT pg_create_physical_replication_slot('mrhub_replica')`.
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "SELECT pg_create_physical_replication_slot('mrhub_replica')"
