package bench

import (
	"context"
	"encoding/hex"
	"encoding/json"
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
	"syscall"
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
	cpuStart := processCPU()
	sctx, stop := context.WithCancel(ctx)
	serveErr := make(chan error, 1)
	go func() { serveErr <- h.Serve(sctx, nil) }()

	// Publish.
	pubErr := make(chan error, 1)
	go func() { pubErr <- publishGenerated(sctx, b.Addrs(), gen, *n) }()

	// Wait for the last commit: every message's offset recorded in ingest_offsets.
	var done, doneAtFirst int64
	var firstCommit time.Duration
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
		if done > 0 && firstCommit == 0 {
			firstCommit, doneAtFirst = time.Since(start), done
		}
		if time.Since(lastPrint) >= 2*time.Second || done >= int64(*n) {
			lastPrint = time.Now()
			el := time.Since(start).Seconds()
			fmt.Fprintf(out, "  %6.1fs consumed %d/%d (%.0f reports/s) rss %d MB\n", el, done, *n, float64(done)/el, peakRSSMB())
		}
	}
	e2e := time.Since(start)
	cpu := processCPU() - cpuStart
	stop()
	<-serveErr
	var indexed, obs int
	_ = h.Pool.QueryRow(ctx, `SELECT count(*) FROM reports`).Scan(&indexed)
	_ = h.Pool.QueryRow(ctx, `SELECT count(*) FROM observations`).Scan(&obs)
	rate := float64(*n) / e2e.Seconds()
	rss := peakRSSMB()
	fmt.Fprintf(out, "end to end: %d reports in %.1fs = %.0f reports/s (indexed %d, observations %d), peak RSS %d MB\n",
		*n, e2e.Seconds(), rate, indexed, obs, rss)
	steady := "—" // everything came with the first commit seen
	if rest := e2e - firstCommit; rest > 0 && int64(*n) > doneAtFirst {
		steady = fmt.Sprintf("%.0f reports/s", float64(int64(*n)-doneAtFirst)/rest.Seconds())
	}
	ds := h.Decoder.Stats()
	fmt.Fprintf(out, "cpu: %.2f ms of process CPU per report (hub, broker and producer in this process; %.1f cores busy on average); FHIR decoding: %d one-pass, %d left to the library\n",
		float64(cpu.Microseconds())/1000/float64(*n), cpu.Seconds()/e2e.Seconds(), ds.Fast, ds.Fallback)
	fmt.Fprintf(out, "ramp: first commit after %.1fs (%d reports); from there to the last commit %s (steady state); the whole-run rate above is the one compared\n",
		firstCommit.Seconds(), doneAtFirst, steady)

	// Raw: COPY the same rows straight into a fresh database with the same schema.
	raw, loaded, err := rawCopy(ctx, *dbURL, h, gen, *n, *consumers, log)
	if err != nil {
		return fmt.Errorf("raw bulk load: %w", err)
	}
	fmt.Fprintf(out, "raw bulk COPY of the same rows (%s; same schema and indexes, %d connections): %.0f reports/s\n", loaded, *consumers, raw)
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

// rawCopy profiles the same reports (untimed) and COPYs the rows the hub keeps for them —
// patients (one per person, as identity resolution leaves them), their identifiers, reports,
// versions, observations and one outbox index event per report — into a fresh database with the
// hub's schema (timed), with conns parallel writers. It returns reports/s and what it loaded.
func rawCopy(ctx context.Context, server string, h *hub.Hub, gen *reportGen, n, conns int, log *zap.Logger) (float64, string, error) {
	dsn := sibling(server, "mrhub_bench_raw")
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		return 0, "", err
	}
	defer db.DropDatabase(context.Background(), dsn) //nolint:errcheck
	cfg := h.Cfg
	cfg.DatabaseURL = dsn
	if err := seedDB(ctx, cfg, log); err != nil {
		return 0, "", err
	}
	pool, err := db.Open(ctx, dsn, int32(conns+1))
	if err != nil {
		return 0, "", err
	}
	defer pool.Close()
	prof := h.Profiler()
	const chunk = 1000
	var elapsed time.Duration
	var mu sync.Mutex
	var firstErr error
	people := &rawPeople{owner: map[string]int64{}}
	var total rawCounts
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
					return 0, "", err
				}
				for _, e := range es {
					e.Pos = index.Position{Topic: config.TopicReports, Partition: i % 6, Offset: int64(i)}
				}
				entries = append(entries, es...)
			}
			rows, err := people.rows(entries, cfg.TopicIndex)
			if err != nil {
				return 0, "", err
			}
			total.add(rows)
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := rows.copy(ctx, pool)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
			}()
		}
		t0 := time.Now()
		wg.Wait()
		elapsed += time.Since(t0)
		if firstErr != nil {
			return 0, "", firstErr
		}
	}
	return float64(n) / elapsed.Seconds(), total.String(), nil
}

// rawPeople assigns patient ids as identity resolution does for the benchmark's reports: one
// patient per person, each identifier kept once.
type rawPeople struct {
	owner map[string]int64 // kind|issuer|hash -> patient id
	last  int64
}

// rawRows are the rows of one raw COPY transaction, table by table.
type rawRows struct {
	pats, ids, reps, vers, obs, outbox [][]any
}

// rawCounts counts what the raw load wrote, for the bench's description of it.
type rawCounts struct{ pats, ids, reps, vers, obs, outbox int }

func (c *rawCounts) add(r *rawRows) {
	c.pats += len(r.pats)
	c.ids += len(r.ids)
	c.reps += len(r.reps)
	c.vers += len(r.vers)
	c.obs += len(r.obs)
	c.outbox += len(r.outbox)
}

func (c *rawCounts) String() string {
	return fmt.Sprintf("%d patients, %d identifiers, %d reports, %d versions, %d observations, %d outbox events",
		c.pats, c.ids, c.reps, c.vers, c.obs, c.outbox)
}

func (p *rawPeople) rows(entries []*index.Entry, indexTopic string) (*rawRows, error) {
	r := &rawRows{}
	now := time.Now()
	for _, e := range entries {
		var pid int64
		for _, k := range e.Patient.Keys {
			if id, ok := p.owner[k.Kind+"|"+k.Issuer+"|"+string(k.Hash)]; ok {
				pid = id
				break
			}
		}
		if pid == 0 {
			p.last++
			pid = p.last
			d := e.Patient.Demo
			var bd any
			if d.BirthDate != nil {
				bd = *d.BirthDate
			}
			var phone any
			if len(d.PhoneHash) > 0 {
				phone = d.PhoneHash
			}
			r.pats = append(r.pats, []any{pid, false, d.Name, d.Gender, bd, phone})
		}
		var idents []index.EventPatientID
		for _, k := range e.Patient.Keys {
			idents = append(idents, index.EventPatientID{Kind: k.Kind, Issuer: k.Issuer, Masked: k.Masked})
			id := k.Kind + "|" + k.Issuer + "|" + string(k.Hash)
			if _, ok := p.owner[id]; !ok {
				p.owner[id] = pid
				r.ids = append(r.ids, []any{k.Kind, k.Issuer, k.Hash, k.Masked, pid})
			}
		}
		rank := e.Rank()
		r.reps = append(r.reps, []any{e.ID, e.NaturalKey, e.Performer, e.IdentifierSystem, e.IdentifierValue, pid, nullable(e.Item), e.Kind,
			e.CodeSystem, e.Code, e.CodeDisplay, e.Category, e.Status, true, e.Effective, e.Issued, e.Clock, e.HRScope, 1, 1, rank, e.ContentHash, e.Source})
		r.vers = append(r.vers, []any{e.ID, 1, e.ContentHash, e.Status, rank, e.MetaVersionID, e.LastUpdated, e.Issued, e.Source,
			e.Pos.Topic, e.Pos.Partition, e.Pos.Offset, json.RawMessage(e.Resource)})
		for j, o := range e.Observations {
			item, eff := o.Item, o.Effective
			if item == "" {
				item = e.Item
			}
			if eff == nil {
				eff = &e.Clock
			}
			r.obs = append(r.obs, []any{e.ID + "-" + strconv.Itoa(j+1), e.ID, j + 1, pid, nullable(item), o.CodeSystem, o.Code, o.CodeDisplay, o.Status,
				eff, o.ValueNum, o.ValueText, o.Unit, o.RefLow, o.RefHigh, o.Interpretation, json.RawMessage(o.Resource)})
		}
		// The index event the hub queues for a new report (same encoding, same headers).
		ev := index.Event{ID: e.ID, Performer: e.Performer, Patient: index.EventPatient{ID: "p" + strconv.FormatInt(pid, 10), Identifiers: idents},
			Item: &e.Item, Kind: e.Kind, Code: index.EventCode{System: e.CodeSystem, Code: e.Code, Display: e.CodeDisplay}, Category: e.Category,
			Status: e.Status, Effective: e.Effective, Issued: e.Issued, Clock: e.Clock, HRScope: e.HRScope, Version: 1,
			Hash: hex.EncodeToString(e.ContentHash), Source: e.Source, Change: "new", UpdatedAt: now}
		if e.IdentifierSystem != "" || e.IdentifierValue != "" {
			ev.Identifier = &index.EventIdent{System: e.IdentifierSystem, Value: e.IdentifierValue}
		}
		value, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		headers, _ := json.Marshal(map[string]string{"mrhub-change": ev.Change, "mrhub-version": "1"})
		r.outbox = append(r.outbox, []any{indexTopic, []byte(e.ID), value, json.RawMessage(headers)})
	}
	return r, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// copy loads r in one transaction, one COPY per table.
func (r *rawRows) copy(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		steps := []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"patients", []string{"id", "provisional", "name", "gender", "birth_date", "phone_hash"}, r.pats},
			{"patient_identifiers", []string{"kind", "issuer", "value_hash", "masked", "patient_id"}, r.ids},
			{"reports", []string{"id", "natural_key", "performer", "identifier_system", "identifier_value", "patient_id", "item", "kind",
				"code_system", "code", "code_display", "category", "status", "current", "effective", "issued", "clock", "hr_scope", "version",
				"max_version", "version_rank", "content_hash", "source"}, r.reps},
			{"report_versions", []string{"report_id", "version", "content_hash", "status", "version_rank", "meta_version_id", "last_updated",
				"issued", "source", "kafka_topic", "kafka_partition", "kafka_offset", "resource"}, r.vers},
			{"observations", []string{"id", "report_id", "ordinal", "patient_id", "item", "code_system", "code", "code_display", "status",
				"effective", "value_num", "value_text", "unit", "ref_low", "ref_high", "interpretation", "resource"}, r.obs},
			{"outbox", []string{"topic", "key", "value", "headers"}, r.outbox},
		}
		for _, s := range steps {
			if len(s.rows) == 0 {
				continue
			}
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
// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
