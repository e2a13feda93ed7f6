// Package db opens mrhub's PostgreSQL pool, creates the database when it is missing, and applies
// the embedded forward-only migrations of package schemas.
//
// Migrate takes a session advisory lock so that several hub instances starting together apply
// each migration exactly once; applied versions are recorded in schema_migrations with the
// migration's SHA-256, and a changed landed migration is refused rather than silently skipped.
//
// Router (replicas.go) sends the HTTP read paths to PostgreSQL streaming replicas
// (MRHUB_DATABASE_REPLICA_URLS) that are up and within MRHUB_REPLICA_MAX_LAG of the primary,
// and to the primary otherwise; it exports each replica's state and lag as metrics, labelled
// with the replica's host:port only.
package db
