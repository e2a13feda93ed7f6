package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/stats"
)

// reminderRow is one reminder (an item shown by GET /api/v1/recognizable).
type reminderRow struct {
	Institution  string
	TokenID      int64
	PatientID    int64
	Item         string
	ReportID     *string
	Recognizable bool
	Reason       string
}

// reminderGroup is the rows of one request and where to report their fate.
type reminderGroup struct {
	rows []reminderRow
	done chan error // buffered (1)
}

// reminderWriter writes reminders with group commit: a request hands over its rows and waits
// until they are committed, as with its own INSERT, but requests that arrive while writes are in
// flight join the next write, so N concurrent requests cost a few INSERTs and commits instead
// of N. Nothing is acknowledged before it is committed, so a crash loses
// no reminder whose request was answered. A batch that fails on a constraint is retried request
// by request, so one bad request does not fail the others.
type reminderWriter struct {
	exec    func(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	log     *zap.Logger
	maxRows int           // rows per INSERT at most
	timeout time.Duration // per INSERT

	written atomic.Int64 // rows committed, ever (the folder folds only after new ones)

	mu      sync.Mutex
	pending []reminderGroup
	closed  bool
	kick    chan struct{} // cap 1: work is pending
	stopped chan struct{} // closed when every flusher has exited
}

func newReminderWriter(exec func(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error), log *zap.Logger, flushers int) *reminderWriter {
	w := &reminderWriter{exec: exec, log: log, maxRows: 2000, timeout: 10 * time.Second,
		kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	var wg sync.WaitGroup
	for i := 0; i < max(flushers, 1); i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.loop() }()
	}
	go func() { wg.Wait(); close(w.stopped) }()
	return w
}

// reminderFlushers is how many INSERTs may be in flight at once. One: requests arriving while an
// INSERT waits for its commit (a WAL flush) gather into the next, larger one, and the writer
// holds at most one of the pool's connections, which the reads of every request share. On the
// query benchmark (100k reports, 64 clients, pool of 4) four flushers cost ~0.15 ms more
// PostgreSQL CPU and ~0.1 ms more process CPU per answer than one, for smaller batches and more
// commits, and took up to all four connections from the reads.
const reminderFlushers = 1

// Write hands rows over and waits until they are committed (or failed). When ctx ends first the
// rows may still be written.
func (w *reminderWriter) Write(ctx context.Context, rows []reminderRow) error {
	if len(rows) == 0 {
		return nil
	}
	g := reminderGroup{rows: rows, done: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.insert([]reminderGroup{g}) // after Close: write directly
	}
	w.pending = append(w.pending, g)
	select { // under mu: Close closes kick under mu
	case w.kick <- struct{}{}:
	default:
	}
	w.mu.Unlock()
	select {
	case err := <-g.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes whatever is pending and stops the writer; later writes go straight to the
// database, one INSERT each.
func (w *reminderWriter) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.kick)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *reminderWriter) loop() {
	for range w.kick {
		w.drain()
	}
	w.drain() // rows added between the last kick and Close
}

// drain writes everything pending, in batches of at most maxRows.
func (w *reminderWriter) drain() {
	for {
		w.mu.Lock()
		n, rows := 0, 0
		for n < len(w.pending) && (n == 0 || rows+len(w.pending[n].rows) <= w.maxRows) {
			rows += len(w.pending[n].rows)
			n++
		}
		batch := w.pending[:n:n]
		w.pending = w.pending[n:]
		if len(w.pending) == 0 {
			w.pending = nil
		}
		w.mu.Unlock()
		if n == 0 {
			return
		}
		w.flush(batch)
	}
}

func (w *reminderWriter) flush(batch []reminderGroup) {
	err := w.insert(batch)
	var pe *pgconn.PgError
	if err != nil && len(batch) > 1 && errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "23" {
		// A constraint failed: find the offending request(s) by writing each on its own.
		for _, g := range batch {
			g.done <- w.insert([]reminderGroup{g})
		}
		return
	}
	if err != nil {
		w.log.Error("writing reminders", zap.Int("requests", len(batch)), zap.Error(err))
	}
	for _, g := range batch {
		g.done <- err
	}
}

func (w *reminderWriter) insert(batch []reminderGroup) error {
	var n int
	for _, g := range batch {
		n += len(g.rows)
	}
	inst, items, reasons := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	toks, pids := make([]int64, 0, n), make([]int64, 0, n)
	reps, oks := make([]*string, 0, n), make([]bool, 0, n)
	for _, g := range batch {
		for _, r := range g.rows {
			inst, toks, pids, items = append(inst, r.Institution), append(toks, r.TokenID), append(pids, r.PatientID), append(items, r.Item)
			reps, oks, reasons = append(reps, r.ReportID), append(oks, r.Recognizable), append(reasons, r.Reason)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	// The WHERE clause takes stats.ReminderLock in shared mode before the first row gets its id,
	// so that a fold never counts past an id that is still uncommitted.
	_, err := w.exec(ctx, `INSERT INTO reminders(institution, token_id, patient_id, item, report_id, recognizable, reason)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bool[], $7::text[])
		WHERE pg_advisory_xact_lock_shared($8) IS NOT NULL`,
		inst, toks, pids, items, reps, oks, reasons, stats.ReminderLock)
	if err != nil {
		return fmt.Errorf("recording reminders: %w", err)
	}
	w.written.Add(int64(n))
	return nil
}

// reminderFolder folds committed reminders into the statistics rollup (stats.FoldReminders)
// every interval while new ones are being written, and once more when it stops.
type reminderFolder struct {
	fold     func(ctx context.Context) (int64, error)
	written  func() int64
	log      *zap.Logger
	interval time.Duration
	once     sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

func startReminderFolder(fold func(ctx context.Context) (int64, error), written func() int64, log *zap.Logger, interval time.Duration) *reminderFolder {
	f := &reminderFolder{fold: fold, written: written, log: log, interval: interval, stop: make(chan struct{}), stopped: make(chan struct{})}
	go f.loop()
	return f
}

func (f *reminderFolder) loop() {
	defer close(f.stopped)
	t := time.NewTicker(f.interval)
	defer t.Stop()
	var seen int64
	run := func() {
		w := f.written()
		if w == seen {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := f.fold(ctx); err != nil {
			// The rows stay unfolded and the next fold (or a statistics query) counts them.
			f.log.Warn("folding reminders into the statistics", zap.Error(err))
			return
		}
		seen = w
	}
	for {
		select {
		case <-f.stop:
			run()
			return
		case <-t.C:
			run()
		}
	}
}

// Close stops the folder after a last fold; later calls only wait for that.
func (f *reminderFolder) Close() {
	f.once.Do(func() { close(f.stop) })
	<-f.stopped
}
