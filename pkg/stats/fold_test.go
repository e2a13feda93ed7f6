package stats_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// Reminders committed out of id order, while two folders fold concurrently, are each counted
// exactly once: the rollup equals both the reminders table and a rebuild from scratch. (Without
// the bounding lock, a fold that read max(id) while a lower id was still uncommitted would skip
// that row for good; with two folders and no row lock, rows would be counted twice.)
func TestFoldRemindersIsExactUnderConcurrentInserts(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	items := []string{"JY001", "JY002", "JY010"}
	insts := []string{testenv.HospitalA, testenv.HospitalB}

	var writers sync.WaitGroup
	for w := 0; w < 8; w++ {
		writers.Add(1)
		go func(w int) {
			defer writers.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < 30; i++ {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					// What every reminder writer does first (stats.ReminderLock).
					if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, stats.ReminderLock); err != nil {
						return err
					}
					for r := 0; r < 1+rnd.IntN(3); r++ {
						// Days spread over two months, so daily and monthly rows both take part.
						at := time.Date(2026, 10, 25, 3, 0, 0, 0, time.UTC).Add(time.Duration(rnd.IntN(14)) * 24 * time.Hour)
						if _, err := tx.Exec(ctx, `INSERT INTO reminders(at, institution, token_id, patient_id, item, recognizable, reason)
							VALUES ($1, $2, 1, $3, $4, false, 'no_result')`, at, insts[rnd.IntN(len(insts))], int64(w*1000+i), items[rnd.IntN(len(items))]); err != nil {
							return err
						}
					}
					// Hold the ids uncommitted for a while: later ids commit first.
					time.Sleep(time.Duration(rnd.IntN(11)) * time.Millisecond)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	done := make(chan struct{})
	var folded atomic.Int64
	var folders sync.WaitGroup
	for f := 0; f < 2; f++ {
		folders.Add(1)
		go func() {
			defer folders.Done()
			for {
				n, err := stats.FoldReminders(ctx, pool)
				if err != nil {
					t.Error(err)
					return
				}
				folded.Add(n)
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	folders.Wait()
	n, err := stats.FoldReminders(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	folded.Add(n)

	total := count(t, pool, `SELECT count(*) FROM reminders`)
	if total < 8*30 {
		t.Fatalf("%d reminders written, want at least %d", total, 8*30)
	}
	if got := folded.Load(); got != int64(total) {
		t.Errorf("folds counted %d reminders, want %d", got, total)
	}
	// Every (grain, level) combination adds up to the table, group by group.
	mismatch := `SELECT count(*) FROM (
		SELECT grain, level, period, institution, item, sum(reminders) n FROM stats_rollup GROUP BY 1, 2, 3, 4, 5
		) got FULL JOIN (
		SELECT l.grain, l.level, CASE l.grain WHEN 'd' THEN stats_day(r.at) ELSE date_trunc('month', stats_day(r.at))::date END period,
		       r.institution, CASE WHEN l.level & 2 = 2 THEN r.item ELSE '' END item, count(*) n
		FROM reminders r CROSS JOIN stats_levels l GROUP BY 1, 2, 3, 4, 5
		) want USING (grain, level, period, institution, item)
		WHERE got.n IS DISTINCT FROM want.n`
	if n := count(t, pool, mismatch); n != 0 {
		t.Errorf("%d rollup groups differ from the reminders table", n)
	}
	if n := count(t, pool, `SELECT count(DISTINCT period) FROM stats_rollup WHERE grain = 'm'`); n != 2 {
		t.Errorf("monthly periods = %d, want 2", n)
	}
	// A rebuild agrees, and leaves nothing to fold.
	if _, err := pool.Exec(ctx, `SELECT stats_rebuild()`); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, mismatch); n != 0 {
		t.Errorf("after a rebuild, %d rollup groups differ from the reminders table", n)
	}
	if n, err := stats.FoldReminders(ctx, pool); err != nil || n != 0 {
		t.Errorf("fold after a rebuild: %d, %v; want 0", n, err)
	}
}

// A fold neither waits for a vacuum of reminders nor makes reminder writers queue behind one (a
// table lock to bound the ids would conflict with VACUUM's SHARE UPDATE EXCLUSIVE, and an
// anti-wraparound vacuum cannot be cancelled): with that lock held by another transaction, a
// fold and a writer both finish.
func TestFoldDoesNotWaitForVacuum(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	vacuum, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer vacuum.Rollback(ctx)                                                                         //nolint:errcheck
	if _, err := vacuum.Exec(ctx, `LOCK TABLE reminders IN SHARE UPDATE EXCLUSIVE MODE`); err != nil { // what VACUUM takes
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = pgx.BeginFunc(tctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(tctx, `SELECT pg_advisory_xact_lock_shared($1)`, stats.ReminderLock); err != nil {
			return err
		}
		_, err := tx.Exec(tctx, `INSERT INTO reminders(institution, token_id, patient_id, item, recognizable) VALUES ($1, 1, 1, 'JY001', false)`, testenv.HospitalA)
		return err
	})
	if err != nil {
		t.Fatalf("writing a reminder during a vacuum: %v", err)
	}
	n, err := stats.FoldReminders(tctx, pool)
	if err != nil || n != 1 {
		t.Fatalf("fold during a vacuum: %d, %v; want 1, nil", n, err)
	}
}
