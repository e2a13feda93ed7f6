// Package decisions consumes mrhub.decisions.v1: fetch → one transaction per batch (decode,
// authorise by mrhub-source, validate, write decisions and revocations, dead letters to the
// outbox, partition offsets to ingest_offsets) → commit offsets after the database commit. A
// batch redelivered after a crash between the two is skipped by its offsets; a decision
// delivered again later is a duplicate by its id. Bad messages are dead-lettered with
// mrhub-error-code / mrhub-error-message and never block their partition. After each batch's
// commit the consumer marks the institutions that wrote (WriteMarker, met by db.Router), so
// that their reads on read replicas wait for the batch as after a decision through the API.
package decisions
