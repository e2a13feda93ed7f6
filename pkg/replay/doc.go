// Package replay rebuilds the index from mrhub.reports.v1: it reads every partition from a given
// offset or time up to the end the topic had when the replay started, and applies the messages
// through the same consumer, profile and index store as the live hub, under a consumer name of
// its own (its offsets in ingest_offsets never skip or move the live group's). Replaying is
// idempotent: a report already indexed with the same content is a no-op, a version not seen
// before is added by the usual ordering rules. With Republish, it also queues a fresh event for
// every report so that mrhub.index.v1 can be rebuilt (a backfill emits events too).
package replay
