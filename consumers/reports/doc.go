// Package reports consumes mrhub.reports.v1: fetch → decode and validate (FHIR R4, strictly) →
// apply the indexing profile → write the batch in one PostgreSQL transaction → commit the
// offsets. Offsets are committed only after the transaction commits, so a crash in between
// redelivers the batch, which the index recognises (ingest_offsets) and skips.
//
// Each Consumer owns a kafka-go group reader; the group gives every partition to exactly one
// reader, and a Consumer writes one batch at a time, so the order within a partition is kept and
// concurrency is bounded by the number of Consumers (not by the number of messages). Decoding
// inside a batch runs on a bounded pool of workers, and overlaps the write of the batch before
// it: each Consumer holds at most one batch being written and one decoded batch waiting.
//
// Bad input never blocks a partition: a message that cannot be indexed becomes a dead letter
// (written to the outbox with the batch, relayed to mrhub.dlq.v1 with its reason) and its offset
// is committed with the others. Transient failures (database or broker unreachable, a race lost
// to another hub instance) pause consumption and are retried with backoff, without losing or
// skipping anything.
package reports
