package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/stats"
)

// A reminder INSERT takes stats.ReminderLock (shared) before its rows get ids: while a fold
// holds the lock exclusively, "recognisable now" waits for it, and goes on when it is released.
// (Without the lock, a fold could count past an id still uncommitted and never count that row.)
func TestReminderInsertWaitsForTheFoldLock(t *testing.T) {
	e := newEnv(t)
	seed(e)
	ctx := context.Background()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, stats.ReminderLock); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- e.get("/api/v1/recognizable?item=JY001&patient="+pid1(), e.clin).status }()

	// Wait until a backend queues on the lock: the INSERT, not anything before it.
	lockWaits := `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query LIKE 'INSERT INTO reminders%'`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := e.pool.QueryRow(ctx, lockWaits).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		select {
		case st := <-done:
			t.Fatalf("recognizable answered %d while the fold lock was held", st)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no reminder INSERT is waiting on the fold lock")
		}
	}
	if n := e.count(`SELECT count(*) FROM reminders`); n != 0 {
		t.Fatalf("%d reminders written while the fold lock was held", n)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, stats.ReminderLock); err != nil {
		t.Fatal(err)
	}
	if st := <-done; st != 200 {
		t.Fatalf("recognizable after the lock was released: %d", st)
	}
	if n := e.count(`SELECT count(*) FROM reminders`); n != 1 {
		t.Fatalf("%d reminders, want 1", n)
	}
}
