// Package stats answers the bureau's recognition statistics (GET /api/v1/stats/recognition) from
// the rollups kept by schemas/migrations/0003_decisions.sql, as JSON (Report) or CSV.
//
// Definitions (../shared/DOMAIN.md):
//
//   - Periods are China-time (Asia/Shanghai) calendar days; to is inclusive. Decisions count on
//     the day of decided_at, by the deciding institution (and its department, and the ordered
//     item); reminders on the day shown, by the requesting institution and the item; retrievals
//     on the day of the opening, by the reader's institution and the report's item. Reminders and
//     retrievals carry no department: they count under department "".
//   - decisions = non-revoked decisions; recognized; declined_counting (reason with
//     counts_in_rate); declined_not_counting (98, 99); revoked = revoked decisions of the period,
//     which count in no other figure; rate = recognized ÷ (recognized + declined_counting),
//     rounded to 4 decimals, null when the divisor is 0; savings_cents = the catalogue price of
//     every recognised, non-revoked decision; declines_by_reason = non-revoked declines per reason
//     code, every platform reason present.
//   - Groups are sorted by their key values in the order of `by`.
//
// Decisions and retrievals reach the rollup through triggers, in the transaction that records
// them. Reminders, one per item of every "recognisable now" answer and so by far the most
// frequent rows, are folded in instead (FoldReminders): the HTTP server folds every second and
// before it answers a statistics query, so an answer includes every reminder committed before it
// was asked.
//
// A query reads the coarsest rollup rows that answer it: the level keeping only the department
// and item columns asked for, monthly rows for whole months and daily rows for the partial
// months at the ends (daily rows throughout with by=day), so its cost depends on the number of
// institutions × departments × items × periods asked for, not on the number of decisions.
package stats
