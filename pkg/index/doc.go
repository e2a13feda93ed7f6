// Package index is the shared report index in PostgreSQL: the canonical reports, every version
// received (history), the current version's observations and imaging studies, the master patient
// index links (through package identity), and the transactional outbox that publishes each change
// on mrhub.index.v1 and each dead letter on mrhub.dlq.v1.
//
// Apply writes one consumer batch in one transaction:
//   - messages at offsets already recorded in ingest_offsets (a batch redelivered after a crash
//     between the database commit and the Kafka commit) are skipped;
//   - patients are resolved (identity.Resolve);
//   - each report is deduplicated on its natural key: the same content again is a no-op; a new
//     version is stored in history and becomes current only when it ranks above the current one
//     (meta.versionId, then meta.lastUpdated, then issued, then status, then content hash; a
//     version lacking a criterion ranks below one that has it, see CompareRank), so an older
//     version that arrives late never regresses the index; cancelled and entered-in-error
//     withdraw the report (current = false, a tombstone on the index topic);
//   - outbox rows (index events, dead letters) and the partition offsets are written in the same
//     transaction. A report's first index event says change "new", every later change of its
//     current version "version" (a withdrawal is a tombstone with that header), a change of its
//     patient only "patient_merge"; content already stored publishes nothing
//     (schemas/events/index-v1.md).
//
// Correctness across hub instances comes from PostgreSQL, not process memory: rows are locked
// FOR UPDATE in key order, and a concurrent insert of the same new report or identifier fails
// with a unique violation that makes the caller retry the whole batch (IsTransient).
package index
