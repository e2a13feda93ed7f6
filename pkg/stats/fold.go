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

// FoldReminders adds every reminder not yet counted to the rollup and returns how many it added
// (schemas/migrations/0008_reminder_folds.sql). It is exact under concurrent INSERTs and
// concurrent folds: a first, short transaction waits for the INSERTs in flight (LOCK ... IN
// SHARE MODE) and reads the highest id, below which no row can still appear; a second counts up
// to it.
func FoldReminders(ctx context.Context, db Beginner) (int64, error) {
	var through int64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE reminders IN SHARE MODE`); err != nil {
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
