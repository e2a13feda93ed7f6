package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Replica states, as /readyz and the mrhub_db_replica_up metric show them.
const (
	ReplicaUp         = "up"          // connected, replaying, within the lag limit: reads go to it
	ReplicaLagging    = "lagging"     // behind the primary by more than the lag limit: skipped
	ReplicaDown       = "down"        // unreachable, or a read on it failed: skipped until a check succeeds
	ReplicaNotStandby = "not_standby" // reachable but not in recovery (not a streaming replica): skipped
	ReplicaUnchecked  = "unchecked"   // not checked yet: skipped
)

// RouterOptions configures a Router.
type RouterOptions struct {
	MaxLag        time.Duration // a replica further behind is skipped (default 5 s)
	CheckInterval time.Duration // how often replicas are checked (default 1 s)
	MaxConns      int32         // pool size per replica (≤ 0: pgx's default)
	Log           *zap.Logger
}

// Router sends reads to healthy streaming replicas and everything else to the primary.
//
// A background check (every CheckInterval) reads the primary's pg_current_wal_lsn() and each
// replica's pg_is_in_recovery() and pg_last_wal_replay_lsn(). A replica's lag is 0 when it has
// replayed everything the primary had written at the check (an idle primary therefore shows no
// lag, where pg_last_xact_replay_timestamp() would age without any real lag); otherwise it is
// the time since the newest check at which the primary's WAL position was no further than the
// replica's replay position (an upper bound of how stale its data is). Replicas that are down,
// not standbys, or lag more than MaxLag are skipped until a check finds them caught up; with
// none usable, reads go to the primary.
//
// Pick also takes a minimum LSN: a replica is used only when its last observed replay position
// has reached it. Callers use it for read-your-writes (see PrimaryLSN).
type Router struct {
	primary  *pgxpool.Pool
	replicas []*Replica
	opt      RouterOptions
	next     atomic.Uint32

	mu      sync.Mutex
	history []lsnSample // primary WAL positions, oldest first, for the lag estimate

	primaryReads, replicaReads, fallbacks atomic.Int64

	marks writeMarks // read-your-writes (marks.go)

	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type lsnSample struct {
	at  time.Time
	lsn uint64
}

// Replica is one read replica with its last observed state.
type Replica struct {
	Name string // host:port of the replica (no credentials): the metric label
	pool *pgxpool.Pool

	mu      sync.Mutex
	state   string
	lag     time.Duration
	replay  uint64
	lastErr string
}

// ReplicaState is a replica's state for /readyz.
type ReplicaState struct {
	Name       string  `json:"name"`
	State      string  `json:"state"`
	LagSeconds float64 `json:"lag_seconds"`
	Error      string  `json:"error,omitempty"`
}

// NewRouter opens a pool per replica URL (without waiting for the replicas: one that is down at
// start is skipped until it answers) and starts the checks. With no URLs every read goes to the
// primary and nothing runs in the background.
func NewRouter(ctx context.Context, primary *pgxpool.Pool, urls []string, o RouterOptions) (*Router, error) {
	if o.MaxLag <= 0 {
		o.MaxLag = 5 * time.Second
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	r := &Router{primary: primary, opt: o, stop: make(chan struct{}), stopped: make(chan struct{})}
	for _, u := range urls {
		cfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			r.closePools()
			return nil, fmt.Errorf("parsing replica URL %s: %w", Redact(u), err)
		}
		if o.MaxConns > 0 {
			cfg.MaxConns = o.MaxConns
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			r.closePools()
			return nil, fmt.Errorf("opening replica pool %s: %w", Redact(u), err)
		}
		r.replicas = append(r.replicas, &Replica{Name: ReplicaName(u), pool: pool, state: ReplicaUnchecked})
	}
	if len(r.replicas) == 0 {
		close(r.stopped)
		return r, nil
	}
	r.Check(ctx)
	go r.loop()
	return r, nil
}

// ReplicaName is the host:port of a connection URL (never its user or password).
func ReplicaName(dsn string) string {
	if cfg, err := pgconn.ParseConfig(dsn); err == nil {
		return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	}
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		return u.Host
	}
	return "(unparsable replica URL)"
}

// Primary is the primary's pool.
func (r *Router) Primary() *pgxpool.Pool { return r.primary }

// HasReplicas reports whether any replica is configured.
func (r *Router) HasReplicas() bool { return r != nil && len(r.replicas) > 0 }

func (r *Router) loop() {
	defer close(r.stopped)
	t := time.NewTicker(r.opt.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.opt.CheckInterval+time.Second)
			r.Check(ctx)
			cancel()
		}
	}
}

// Close stops the checks and closes the replica pools (not the primary's).
func (r *Router) Close() {
	r.once.Do(func() {
		if len(r.replicas) > 0 {
			close(r.stop)
		}
	})
	<-r.stopped
	r.closePools()
}

func (r *Router) closePools() {
	for _, rep := range r.replicas {
		rep.pool.Close()
	}
}

// Check reads the primary's WAL position and every replica's state once (the background loop
// calls it every CheckInterval; tests call it to avoid waiting).
func (r *Router) Check(ctx context.Context) {
	now := time.Now()
	primaryLSN, perr := r.PrimaryLSN(ctx)
	if perr == nil {
		r.mu.Lock()
		r.history = append(r.history, lsnSample{at: now, lsn: primaryLSN})
		// Keep enough history to tell any lag up to twice the limit.
		keep := int(2*r.opt.MaxLag/r.opt.CheckInterval) + 2
		if len(r.history) > keep {
			r.history = append(r.history[:0:0], r.history[len(r.history)-keep:]...)
		}
		r.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, rep := range r.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.checkReplica(ctx, rep, now, primaryLSN, perr == nil)
		}()
	}
	wg.Wait()
}

func (r *Router) checkReplica(ctx context.Context, rep *Replica, now time.Time, primaryLSN uint64, primaryKnown bool) {
	ctx, cancel := context.WithTimeout(ctx, r.opt.CheckInterval)
	defer cancel()
	var inRecovery bool
	var replay *string
	var sinceReplay *float64 // seconds since the last replayed commit's time on the primary
	err := rep.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,
		EXTRACT(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8`).Scan(&inRecovery, &replay, &sinceReplay)
	rep.mu.Lock()
	defer rep.mu.Unlock()
	prev := rep.state
	switch {
	case err != nil:
		rep.state, rep.lastErr = ReplicaDown, err.Error()
	case !inRecovery || replay == nil:
		rep.state, rep.lastErr = ReplicaNotStandby, "the server is not in recovery: not a streaming replica"
	default:
		rep.lastErr = ""
		rep.replay, _ = ParseLSN(*replay)
		if primaryKnown && rep.replay >= primaryLSN {
			rep.lag = 0
		} else {
			// Two upper bounds of the staleness; the smaller holds. The replay timestamp alone
			// would grow on an idle primary, the position samples alone are one check coarse.
			rep.lag = r.lagAt(now, rep.replay)
			if sinceReplay != nil {
				rep.lag = min(rep.lag, time.Duration(max(*sinceReplay, 0)*float64(time.Second)))
			}
		}
		rep.state = ReplicaUp
		if rep.lag > r.opt.MaxLag {
			rep.state = ReplicaLagging
		}
	}
	if prev != rep.state {
		r.opt.Log.Info("read replica state", zap.String("replica", rep.Name), zap.String("state", rep.state),
			zap.Duration("lag", rep.lag), zap.String("error", rep.lastErr))
	}
}

// lagAt estimates how stale a replica that has replayed up to replay is at now: the time since
// the newest sample of the primary's position that replay covers (the oldest sample's age when
// none is covered).
func (r *Router) lagAt(now time.Time, replay uint64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.history) == 0 {
		return 0
	}
	for i := len(r.history) - 1; i >= 0; i-- {
		if r.history[i].lsn <= replay {
			if i == len(r.history)-1 {
				return 0
			}
			// Caught up with sample i, not with i+1: its data dates from between the two.
			return now.Sub(r.history[i].at)
		}
	}
	return now.Sub(r.history[0].at)
}

// PrimaryLSN is the primary's current WAL write position. Taken after a commit, a replica whose
// replay position has reached it shows that commit.
func (r *Router) PrimaryLSN(ctx context.Context) (uint64, error) {
	var s string
	if err := r.primary.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return 0, fmt.Errorf("reading the primary's WAL position: %w", err)
	}
	return ParseLSN(s)
}

// ParseLSN parses PostgreSQL's text form of an LSN ("16/B374D848").
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	var h, l uint64
	if _, err := fmt.Sscanf(hi, "%X", &h); !ok || err != nil {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	if _, err := fmt.Sscanf(lo, "%X", &l); err != nil {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	return h<<32 | l, nil
}

// Pick returns the pool for one read: a replica that is up and has replayed at least minLSN
// (0: any), taken in turn, else the primary (rep nil). With wait > 0 and no replica known to
// have reached minLSN, it asks the usable replicas again for up to wait before falling back.
func (r *Router) Pick(ctx context.Context, minLSN uint64, wait time.Duration) (pool *pgxpool.Pool, rep *Replica) {
	if r == nil {
		return nil, nil
	}
	n := len(r.replicas)
	if n == 0 || minLSN == ^uint64(0) { // no replica, or a position no replica can be known to have
		r.primaryReads.Add(1)
		return r.primary, nil
	}
	start := int(r.next.Add(1))
	var behind []*Replica
	for i := 0; i < n; i++ {
		c := r.replicas[(start+i)%n]
		c.mu.Lock()
		up, replay := c.state == ReplicaUp, c.replay
		c.mu.Unlock()
		if !up {
			continue
		}
		if replay >= minLSN {
			r.replicaReads.Add(1)
			return c.pool, c
		}
		behind = append(behind, c)
	}
	if wait > 0 && len(behind) > 0 {
		deadline := time.Now().Add(wait)
		for ctx.Err() == nil {
			for _, c := range behind {
				var s string
				if err := c.pool.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&s); err != nil {
					continue
				}
				if lsn, err := ParseLSN(s); err == nil && lsn >= minLSN {
					c.mu.Lock()
					c.replay = max(c.replay, lsn)
					c.mu.Unlock()
					r.replicaReads.Add(1)
					return c.pool, c
				}
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	r.primaryReads.Add(1)
	return r.primary, nil
}

// Failed records that a read on rep failed with err; when err shows the replica unusable (see
// ReplicaFailure) it is marked down until the next successful check, and Failed returns true:
// the caller reads again from the primary.
func (r *Router) Failed(rep *Replica, err error) bool {
	if rep == nil || !ReplicaFailure(err) {
		return false
	}
	rep.mu.Lock()
	if rep.state != ReplicaDown {
		r.opt.Log.Warn("read replica failed a read: reading from the primary until it passes a check",
			zap.String("replica", rep.Name), zap.Error(err))
	}
	rep.state, rep.lastErr = ReplicaDown, err.Error()
	rep.mu.Unlock()
	r.fallbacks.Add(1)
	return true
}

// ReplicaFailure reports whether err from a read on a replica means the replica (not the query)
// failed: connection errors, the server shutting down or refusing connections, and recovery
// conflicts (a hot standby cancelling a query whose rows replay removed).
func ReplicaFailure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash shutdown, cannot connect now
			pe.Code == "53300",                       // too many connections
			pe.Code == "40001" || pe.Code == "40P01": // conflict with recovery
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgx.ErrTxClosed) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// States returns every replica's state, in configuration order.
func (r *Router) States() []ReplicaState {
	if r == nil {
		return nil
	}
	out := make([]ReplicaState, 0, len(r.replicas))
	for _, rep := range r.replicas {
		rep.mu.Lock()
		out = append(out, ReplicaState{Name: rep.Name, State: rep.state, LagSeconds: rep.lag.Seconds(), Error: redactErr(rep.lastErr)})
		rep.mu.Unlock()
	}
	return out
}

// redactErr keeps connection errors short and free of credentials (pgx errors name the host and
// user, never the password; cut at the first line all the same).
func redactErr(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

var (
	descUp = prometheus.NewDesc("mrhub_db_replica_up", "1 when the read replica is used for reads (connected, replaying, within MRHUB_REPLICA_MAX_LAG), else 0.",
		[]string{"replica"}, nil)
	descLag = prometheus.NewDesc("mrhub_db_replica_lag_seconds", "Estimated replication lag of the read replica at its last check.",
		[]string{"replica"}, nil)
	descReads = prometheus.NewDesc("mrhub_db_reads_total", "HTTP read paths routed, by target (replica or primary).",
		[]string{"target"}, nil)
	descFallbacks = prometheus.NewDesc("mrhub_db_replica_fallbacks_total", "Reads that failed on a replica and were answered from the primary.",
		nil, nil)
)

// Describe implements prometheus.Collector.
func (r *Router) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descLag
	ch <- descReads
	ch <- descFallbacks
}

// Collect implements prometheus.Collector.
func (r *Router) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r.States() {
		up := 0.0
		if s.State == ReplicaUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, s.Name)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, s.LagSeconds, s.Name)
	}
	ch <- prometheus.MustNewConstMetric(descReads, prometheus.CounterValue, float64(r.replicaReads.Load()), "replica")
	ch <- prometheus.MustNewConstMetric(descReads, prometheus.CounterValue, float64(r.primaryReads.Load()), "primary")
	ch <- prometheus.MustNewConstMetric(descFallbacks, prometheus.CounterValue, float64(r.fallbacks.Load()))
}
