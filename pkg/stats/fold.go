package stats

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Beginner starts a transaction (a pool or a connection).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// ReminderLock is the advisory lock that orders reminder INSERTs and folds. Every transaction
// that inserts reminders takes it in shared mode before its first row gets an id
// (pg_advisory_xact_lock_shared, e.g. in the INSERT's WHERE clause); a fold takes it exclusively
// for a moment to bound the ids it may count. An advisory lock, not a table lock: LOCK TABLE …
// IN SHARE MODE, the obvious bound, conflicts with VACUUM, so a vacuum of reminders (or an
// anti-wraparound one, which cannot be cancelled) would have held every "recognisable now"
// answer waiting behind a fold.
const ReminderLock int64 = 0x6d72726d6e646572 // "mrrmnder"

// FoldReminders adds every reminder not yet counted to the rollup and returns how many it added
// (schemas/migrations/0008_reminder_folds.sql). It is exact under concurrent INSERTs that follow
// the ReminderLock protocol and under concurrent folds: a first, short transaction takes
// ReminderLock exclusively, which waits for the inserting transactions in flight, and reads the
// highest id, below which no row can still appear; a second counts up to it.
func FoldReminders(ctx context.Context, db Beginner) (int64, error) {
	var through int64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, ReminderLock); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM reminders`).Scan(&through)
	})
	if err != nil {
		return 0, fmt.Errorf("folding reminders into the statistics: bounding: %w", err)
	}
	var n int64
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT stats_fold_reminders($1)`, through).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("folding reminders into the statistics: %w", err)
	}
	return n, nil
}
