// Package schemas embeds the database migrations and the event contracts of mrhub's topics.
//
// migrations/NNNN_name.sql are numbered, forward-only PostgreSQL migrations applied in order by
// pkg/db. events/*.schema.json are JSON Schemas (draft 2020-12) of the values mrhub publishes or
// accepts on Kafka besides FHIR itself.
package schemas

import "embed"

// Migrations holds migrations/*.sql.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Events holds events/*.schema.json.
//
//go:embed events/*.json events/*.md
var Events embed.FS
