// Package hub assembles a running mrhub process from its configuration: the PostgreSQL pool
// (database created and migrated on start), the region catalogue, the identity hasher, the
// report consumers (one kafka-go group member each), the outbox relay, and the HTTP server for
// health, readiness and metrics. cmd/mrhub calls Open and Serve; tests and the demo do the same.
package hub
