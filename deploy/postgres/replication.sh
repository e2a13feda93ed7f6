#!/bin/sh
# Runs once, when the postgres service initialises its data volume (docker-entrypoint-initdb.d):
# lets the postgres-replica service stream WAL from this server as POSTGRES_USER (a superuser,
# hence allowed to replicate), with the same password authentication as other connections.
# A volume initialised before this script existed needs the same line added by hand (then
# `SELECT pg_reload_conf()`).
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
