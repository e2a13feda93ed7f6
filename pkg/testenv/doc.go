// Package testenv gives integration tests and benchmarks their own real infrastructure: a fresh
// PostgreSQL database per test (created, migrated and dropped; server from
// MRHUB_TEST_DATABASE_URL, default the local server), an embedded Kafka-protocol broker on a free
// 127.0.0.1 port with its own data directory, and FHIR report fixtures for the seeded region.
//
// When PostgreSQL is unreachable the test is skipped with a message, unless MRHUB_REQUIRE_PG=1
// (set by .ci/run), in which case it fails.
package testenv
