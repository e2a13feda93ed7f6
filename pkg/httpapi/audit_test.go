package httpapi

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// fakeDB records the reminder INSERTs of a reminderWriter.
type fakeDB struct {
	mu      sync.Mutex
	calls   int
	items   []string      // every item written, in order
	gate    chan struct{} // when set, each call waits for a receive
	entered chan struct{} // when set, each call signals it started
	bad     string        // an item that violates a constraint
}

func (f *fakeDB) exec(_ context.Context, _ string, args ...any) (pgconn.CommandTag, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	items := args[3].([]string)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for _, it := range items {
		if it == f.bad {
			return pgconn.CommandTag{}, &pgconn.PgError{Code: "23503", Message: "violates foreign key constraint"}
		}
	}
	f.items = append(f.items, items...)
	return pgconn.NewCommandTag("INSERT 0 " + strconv.Itoa(len(items))), nil
}

func rowsFor(prefix string, n int) []reminderRow {
	out := make([]reminderRow, n)
	for i := range out {
		out[i] = reminderRow{Institution: "X", TokenID: 1, PatientID: 1, Item: prefix + strconv.Itoa(i)}
	}
	return out
}

// Concurrent requests share INSERTs, and each returns only once its rows are written.
func TestReminderWriterGroupCommit(t *testing.T) {
	f := &fakeDB{}
	w := newReminderWriter(f.exec, zap.NewNop(), reminderFlushers)
	defer w.Close()
	const n = 200
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rows := rowsFor("r"+strconv.Itoa(i)+"-", 3)
			if err := w.Write(context.Background(), rows); err != nil {
				t.Error(err)
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			found := 0
			for _, it := range f.items {
				for _, r := range rows {
					if it == r.Item {
						found++
					}
				}
			}
			if found != len(rows) {
				t.Errorf("request %d returned before its rows were written (%d of %d)", i, found, len(rows))
			}
		}(i)
	}
	wg.Wait()
	if len(f.items) != 3*n {
		t.Fatalf("%d rows written, want %d", len(f.items), 3*n)
	}
	t.Logf("%d requests in %d INSERTs", n, f.calls)
}

// Rows handed over while a write is in flight are written by Close: nothing is lost on a
// graceful shutdown; writes after Close go straight to the database.
func TestReminderWriterCloseFlushes(t *testing.T) {
	f := &fakeDB{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	w := newReminderWriter(f.exec, zap.NewNop(), 1)
	errs := make(chan error, 10)
	go func() { errs <- w.Write(context.Background(), rowsFor("first", 1)) }()
	<-f.entered // the first INSERT is in flight and blocked
	for i := 0; i < 9; i++ {
		go func(i int) { errs <- w.Write(context.Background(), rowsFor("later"+strconv.Itoa(i)+"-", 2)) }(i)
	}
	// wait until the nine are queued behind the blocked INSERT
	for deadline := time.Now().Add(5 * time.Second); ; {
		w.mu.Lock()
		q := len(w.pending)
		w.mu.Unlock()
		if q == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want 9", q)
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	go func() {
		for range f.entered {
		}
	}()
	for i := 0; i < 2; i++ { // the blocked INSERT, then the queued nine in one
		f.gate <- struct{}{}
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for i := 0; i < 10; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(f.items) != 1+9*2 {
		t.Fatalf("%d rows written, want 19", len(f.items))
	}
	f.gate = nil
	if err := w.Write(context.Background(), rowsFor("after", 1)); err != nil {
		t.Fatal(err)
	}
	if len(f.items) != 20 {
		t.Fatalf("write after Close: %d rows, want 20", len(f.items))
	}
}

// A request whose rows violate a constraint fails alone; the others sharing its batch succeed.
func TestReminderWriterConstraintFailsOneRequest(t *testing.T) {
	f := &fakeDB{gate: make(chan struct{}), entered: make(chan struct{}, 100), bad: "bad0"}
	w := newReminderWriter(f.exec, zap.NewNop(), 1)
	defer w.Close()
	first := make(chan error, 1)
	go func() { first <- w.Write(context.Background(), rowsFor("first", 1)) }()
	<-f.entered
	type res struct {
		name string
		err  error
	}
	out := make(chan res, 3)
	for _, p := range []string{"ok", "bad", "fine"} {
		go func(p string) { out <- res{p, w.Write(context.Background(), rowsFor(p, 2))} }(p)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		w.mu.Lock()
		q := len(w.pending)
		w.mu.Unlock()
		if q == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want 3", q)
		}
		time.Sleep(time.Millisecond)
	}
	close(f.gate)
	go func() {
		for range f.entered {
		}
	}()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		r := <-out
		var pe *pgconn.PgError
		if (r.name == "bad") != (r.err != nil && errors.As(r.err, &pe)) {
			t.Errorf("%s: err = %v", r.name, r.err)
		}
	}
	if len(f.items) != 1+2+2 {
		t.Fatalf("%d rows written, want 5 (the bad request's rows only missing)", len(f.items))
	}
}
