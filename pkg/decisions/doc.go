// Package decisions validates and stores clinicians' recognition decisions (互认 / 不互认) and
// their revocations, arriving on mrhub.decisions.v1 or POST /api/v1/decisions, with one JSON
// Schema for both (schemas/events/decision.schema.json).
//
// Contract:
//
//   - A decision names the deciding institution, department, clinician, patient (system|value),
//     the ordered catalogue item, the prior report's canonical id, the outcome and, when
//     declined, a platform decline reason (note required where the reason says so).
//   - It is accepted only when the report was recognisable for that item at decided_at: in the
//     index and mapped to that item, current and final (final/amended/corrected/appended), not
//     later than decided_at, inside the item's validity window (decided_at < clock +
//     validity_days), its issuing institution HR-qualified for the item on the report's date, and
//     held by the identified patient. Declines are checked the same way: a decline is a decision
//     about a recognisable result.
//   - The sender may decide only for itself: a clinician token's institution must be the deciding
//     institution; a HIS token or the topic's mrhub-source may also be a member of the deciding
//     institution's medical community (as for reports).
//   - The decision id is the idempotency key: the same content again changes nothing
//     (Duplicate); different content under the same id is a conflict (HTTP 409 /
//     decision.conflict). The content compared is hashed with the identity key (it holds the
//     patient identifier).
//   - A revocation takes the decision out of every statistic but `revoked`; revoking twice
//     changes nothing. Savings are the item's catalogue price when decided, once per recognised,
//     non-revoked decision.
//   - Rejections are *Error with a stable Code (decision.*), the offending Field and an HTTP
//     Status; on the topic they become dead letters with those codes. Statistics rollups are kept
//     by database triggers in the same transaction (schemas/migrations/0003_decisions.sql).
package decisions
