package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/seeds"
)

// Ingest runs `mrhub bench ingest`: publish N synthetic reports to an embedded broker, consume
// them through the hub into a fresh database, and compare with bulk COPY of the same rows.
func Ingest(ctx context.Context, args []string, out io.Writer, log *zap.Logger) error {
	fs := flag.NewFlagSet("mrhub bench ingest", flag.ContinueOnError)
	n := fs.Int("n", 150000, "reports to publish")
	partitions := fs.Int("partitions", 6, "partitions of the reports topic")
	consumers := fs.Int("consumers", 2, "consumer-group members in the hub")
	batch := fs.Int("batch-size", 1000, "messages per database transaction")
	workers := fs.Int("decode-workers", 2, "decoders per batch")
	dbURL := fs.String("database-url", envOr("DATABASE_URL", config.Default().DatabaseURL), "PostgreSQL server (a throw-away database is created beside the one named)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the end-to-end phase to this file")
	memLimit := fs.Int64("memlimit-mb", 256, "Go soft memory limit for this process, as GOMEMLIMIT sets it for a hub in production (0 = none; GOMEMLIMIT in the environment wins)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*memLimit << 20)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if os.Getenv("MRHUB_PHASES") == "1" {
		enablePhases()
		defer printPhases(out)
	}
	gen, err := newReportGen(max(*n/5, 1))
	if err != nil {
		return err
	}

	// Throw-away database and broker.
	dsn := sibling(*dbURL, "mrhub_bench_ingest")
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		return err
	}
	defer db.DropDatabase(context.Background(), dsn) //nolint:errcheck
	dataDir, err := os.MkdirTemp("", "mrhub-bench-kafka-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	b, err := broker.Start(broker.Options{DataDir: dataDir, Topics: broker.HubTopics(int32(*partitions)), MaxMessageBytes: 8 << 20})
	if err != nil {
		return err
	}
	defer b.Close()

	cfg := config.Default()
	cfg.DatabaseURL = dsn
	cfg.KafkaBrokers = b.Addrs()
	cfg.IDKeyHex = testenv.Key()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Partitions = *partitions
	cfg.Consumers = *consumers
	cfg.BatchSize = *batch
	cfg.DecodeWorkers = *workers
	cfg.GroupID = "mrhub-bench"
	if err := seedDB(ctx, cfg, log); err != nil {
		return err
	}
	h, err := hub.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer h.Close()

	fmt.Fprintf(out, "bench ingest: %d reports (~%d bytes each), %d partitions, %d consumers, batch %d, GOMAXPROCS %d, Go memory limit %d MiB (broker, producer and hub in this process)\n",
		*n, len(gen.tmpl), *partitions, *consumers, *batch, runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1)>>20)
	if settings, err := db.ServerSettings(ctx, h.Pool); err == nil {
		fmt.Fprintln(out, "database:", settings)
	}
	start := time.Now()
	sctx, stop := context.WithCancel(ctx)
	serveErr := make(chan error, 1)
	go func() { serveErr <- h.Serve(sctx, nil) }()

	// Publish.
	pubErr := make(chan error, 1)
	go func() { pubErr <- publishGenerated(sctx, b.Addrs(), gen, *n) }()

	// Wait for the last commit: every message's offset recorded in ingest_offsets.
	var done int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPrint := start
	for done < int64(*n) {
		select {
		case err := <-pubErr:
			if err != nil {
				stop()
				return fmt.Errorf("publishing: %w", err)
			}
			pubErr = nil
		case err := <-serveErr:
			stop()
			return fmt.Errorf("hub stopped: %w", err)
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-tick.C:
		}
		if err := h.Pool.QueryRow(ctx, `SELECT COALESCE(sum(next_offset),0) FROM ingest_offsets WHERE consumer = $1`, cfg.GroupID).Scan(&done); err != nil {
			stop()
			return err
		}
		if time.Since(lastPrint) >= 2*time.Second || done >= int64(*n) {
			lastPrint = time.Now()
			el := time.Since(start).Seconds()
			fmt.Fprintf(out, "  %6.1fs consumed %d/%d (%.0f reports/s) rss %d MB\n", el, done, *n, float64(done)/el, peakRSSMB())
		}
	}
	e2e := time.Since(start)
	stop()
	<-serveErr
	var indexed, obs int
	_ = h.Pool.QueryRow(ctx, `SELECT count(*) FROM reports`).Scan(&indexed)
	_ = h.Pool.QueryRow(ctx, `SELECT count(*) FROM observations`).Scan(&obs)
	rate := float64(*n) / e2e.Seconds()
	rss := peakRSSMB()
	fmt.Fprintf(out, "end to end: %d reports in %.1fs = %.0f reports/s (indexed %d, observations %d), peak RSS %d MB\n",
		*n, e2e.Seconds(), rate, indexed, obs, rss)

	// Raw: COPY the same rows straight into a fresh database with the same schema.
	raw, err := rawCopy(ctx, *dbURL, h, gen, *n, *consumers, log)
	if err != nil {
		return fmt.Errorf("raw bulk load: %w", err)
	}
	fmt.Fprintf(out, "raw bulk COPY of the same rows (%d connections): %.0f reports/s\n", *consumers, raw)
	fmt.Fprintf(out, "ingest reports_per_s=%.0f ratio=%.2f rss_mb=%d\n", rate, rate/raw, rss)
	return nil
}

func seedDB(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	pool, err := hub.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := seeds.Region()
	if err != nil {
		return err
	}
	return catalog.Upsert(ctx, pool, r)
}

func publishGenerated(ctx context.Context, brokers []string, gen *reportGen, n int) error {
	w := bus.NewWriter(brokers, config.TopicReports, nil) // the benchmark's own plaintext broker
	w.RequiredAcks = kafka.RequireOne
	defer w.Close()
	src := []protocol.Header{{Key: bus.HeaderSource, Value: []byte(testenv.HospitalA)}}
	const chunk = 500
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < n; i++ {
		k, v := gen.render(i)
		msgs = append(msgs, kafka.Message{Key: []byte(k), Value: v, Headers: src})
		if len(msgs) == chunk || i == n-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return err
			}
			msgs = msgs[:0]
		}
	}
	return nil
}

// rawCopy profiles the same reports (untimed) and COPYs their rows — patients, identifiers,
// reports, versions, observations — into a fresh database (timed), with conns parallel writers.
func rawCopy(ctx context.Context, server string, h *hub.Hub, gen *reportGen, n, conns int, log *zap.Logger) (float64, error) {
	dsn := sibling(server, "mrhub_bench_raw")
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		return 0, err
	}
	defer db.DropDatabase(context.Background(), dsn) //nolint:errcheck
	cfg := h.Cfg
	cfg.DatabaseURL = dsn
	if err := seedDB(ctx, cfg, log); err != nil {
		return 0, err
	}
	pool, err := db.Open(ctx, dsn, int32(conns+1))
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	prof := h.Profiler()
	const chunk = 1000
	var elapsed time.Duration
	var mu sync.Mutex
	var firstErr error
	var patientSeq int64
	for from := 0; from < n; from += chunk * conns {
		var wg sync.WaitGroup
		for c := 0; c < conns; c++ {
			lo := from + c*chunk
			hi := min(lo+chunk, n)
			if lo >= hi {
				break
			}
			var entries []*index.Entry
			for i := lo; i < hi; i++ {
				_, v := gen.render(i)
				es, err := prof.Message(v, testenv.HospitalA)
				if err != nil {
					return 0, err
				}
				entries = append(entries, es...)
			}
			base := patientSeq
			patientSeq += int64(len(entries))
			wg.Add(1)
			go func(entries []*index.Entry, base int64) {
				defer wg.Done()
				err := copyRows(ctx, pool, entries, base)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
			}(entries, base)
		}
		t0 := time.Now()
		wg.Wait()
		elapsed += time.Since(t0)
		if firstErr != nil {
			return 0, firstErr
		}
	}
	return float64(n) / elapsed.Seconds(), nil
}

func copyRows(ctx context.Context, pool *pgxpool.Pool, entries []*index.Entry, base int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var pats, ids, reps, vers, obs [][]any
		for i, e := range entries {
			pid := base + int64(i) + 1
			pats = append(pats, []any{pid, false})
			for _, k := range e.Patient.Keys {
				ids = append(ids, []any{k.Kind, k.Issuer, append(k.Hash, byte(i), byte(base), byte(base>>8), byte(base>>16)), k.Masked, pid})
			}
			rank := e.Rank()
			reps = append(reps, []any{e.ID, e.NaturalKey, e.Performer, e.IdentifierSystem, e.IdentifierValue, pid, e.Item, e.Kind,
				e.CodeSystem, e.Code, e.CodeDisplay, e.Category, e.Status, true, e.Effective, e.Issued, e.Clock, e.HRScope, 1, 1, rank, e.ContentHash, e.Source})
			vers = append(vers, []any{e.ID, 1, e.ContentHash, e.Status, rank, e.Source, string(e.Resource)})
			for j, o := range e.Observations {
				obs = append(obs, []any{e.ID + "-" + strconv.Itoa(j+1), e.ID, j + 1, pid, o.Item, o.CodeSystem, o.Code, o.CodeDisplay, o.Status,
					o.Effective, o.ValueNum, o.ValueText, o.Unit, o.RefLow, o.RefHigh, o.Interpretation, string(o.Resource)})
			}
		}
		steps := []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"patients", []string{"id", "provisional"}, pats},
			{"patient_identifiers", []string{"kind", "issuer", "value_hash", "masked", "patient_id"}, ids},
			{"reports", []string{"id", "natural_key", "performer", "identifier_system", "identifier_value", "patient_id", "item", "kind",
				"code_system", "code", "code_display", "category", "status", "current", "effective", "issued", "clock", "hr_scope", "version",
				"max_version", "version_rank", "content_hash", "source"}, reps},
			{"report_versions", []string{"report_id", "version", "content_hash", "status", "version_rank", "source", "resource"}, vers},
			{"observations", []string{"id", "report_id", "ordinal", "patient_id", "item", "code_system", "code", "code_display", "status",
				"effective", "value_num", "value_text", "unit", "ref_low", "ref_high", "interpretation", "resource"}, obs},
		}
		for _, s := range steps {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.table}, s.cols, pgx.CopyFromRows(s.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", s.table, err)
			}
		}
		return nil
	})
}

func sibling(dsn, prefix string) string {
	u := testenv.DatabaseURL(prefix)
	// keep the server and credentials of dsn, new database name
	i := strings.LastIndex(u, "/")
	name := u[i+1:]
	if q := strings.Index(name, "?"); q >= 0 {
		name = name[:q]
	}
	base := dsn
	if q := strings.Index(base, "?"); q >= 0 {
		base = base[:q]
	}
	j := strings.LastIndex(base, "/")
	return base[:j+1] + name + "?sslmode=disable"
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// peakRSSMB is the process's peak resident set (VmHWM) in MB.
func peakRSSMB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.Atoi(f[1])
				return kb / 1024
			}
		}
	}
	return -1
}
