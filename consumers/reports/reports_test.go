package reports_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/consumers/reports"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/testenv"
)

type env struct {
	t       *testing.T
	brokers []string
	dsn     string
	pool    *pgxpool.Pool
	cfg     config.Config
}

func newEnv(t *testing.T) *env {
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 3)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions = 3
	cfg.Consumers = 1
	return &env{t: t, brokers: b.Addrs(), dsn: dsn, pool: pool, cfg: cfg}
}

// serve runs a hub until the returned stop function is called.
func (e *env) serve(cfg config.Config) (stop func()) {
	e.t.Helper()
	h, err := hub.Open(context.Background(), cfg, zaptest.NewLogger(e.t))
	if err != nil {
		e.t.Fatalf("opening hub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, nil) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("hub stopped with: %v", err)
			}
			h.Close()
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) waitCount(want int, timeout time.Duration, sql string, args ...any) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := e.count(sql, args...)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waiting for %q = %d: still %d after %v", sql, want, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func reportsN(n, from int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		k := from + i
		out[i] = testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("R%06d", k), NID: testenv.NID(k),
			Name: "测试" + fmt.Sprint(k), Gender: "female", BirthDate: "1980-01-02"}.JSON()
	}
	return out
}

func key(prefix string) func(int) string {
	return func(i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
}

func TestPublishNIndexesExactlyNAndRedeliveryChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.serve(e.cfg)
	const n = 60
	msgs := reportsN(n, 0)
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, key("k"), msgs...)
	e.waitCount(n, 60*time.Second, `SELECT count(*) FROM reports`)
	if got := e.count(`SELECT count(*) FROM observations`); got != n*8 {
		t.Fatalf("observations = %d, want %d", got, n*8)
	}
	if got := e.count(`SELECT count(*) FROM reports WHERE item = 'JY001' AND current AND status = 'final'`); got != n {
		t.Fatalf("reports mapped to JY001 = %d, want %d", got, n)
	}
	var before string
	if err := e.pool.QueryRow(context.Background(), `SELECT md5(string_agg(id || version || encode(content_hash,'hex') || seq, ',' ORDER BY id)) FROM reports`).Scan(&before); err != nil {
		t.Fatal(err)
	}

	// Redeliver everything (new offsets, same content): still n reports, n versions, no change.
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, key("k"), msgs...)
	e.waitCount(2*n, 60*time.Second, `SELECT COALESCE(sum(next_offset),0)::int FROM ingest_offsets`)
	var after string
	if err := e.pool.QueryRow(context.Background(), `SELECT md5(string_agg(id || version || encode(content_hash,'hex') || seq, ',' ORDER BY id)) FROM reports`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("redelivery changed the index")
	}
	if got := e.count(`SELECT count(*) FROM report_versions`); got != n {
		t.Fatalf("report_versions = %d after redelivery, want %d", got, n)
	}
	// Index events: exactly one per report, relayed to mrhub.index.v1.
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	got := testenv.ReadAll(t, e.brokers, config.TopicIndex, n, 20*time.Second)
	if len(got) != n {
		t.Fatalf("index events = %d, want %d", len(got), n)
	}
	for _, m := range got {
		if strings.Contains(string(m.Value), testenv.NID(0)[:10]) {
			t.Fatalf("index event carries a plaintext resident ID: %s", m.Value)
		}
	}
}

func TestBadMessagesAreDeadLetteredAndThePartitionMovesOn(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.MaxMessageBytes = 64 << 10
	e.serve(cfg)
	good := func(i int) []byte {
		return testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("G%d", i), NID: testenv.NID(100 + i)}.JSON()
	}
	big := testenv.Report{Performer: testenv.HospitalA, ID: "BIG", NID: testenv.NID(7), Note: strings.Repeat("x", 80<<10)}.JSON()
	cases := []struct {
		name  string
		value []byte
		code  string
	}{
		{"malformed JSON", []byte(`{"resourceType":"Bundle","type":"collection","entry":[`), "fhir.not_json"},
		{"wrong resourceType", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`), "fhir.resource_type"},
		{"missing subject identity", testenv.Report{Performer: testenv.HospitalA, ID: "NOID"}.JSON(), "identity.missing"},
		{"unknown institution", testenv.Report{Performer: "12999999999999999X", ID: "UNK", NID: testenv.NID(5)}.JSON(), "profile.unknown_institution"},
		{"oversize", big, "kafka.too_large"},
		{"invalid resident ID", testenv.Report{Performer: testenv.HospitalA, ID: "BADID", NID: "330299198001020000"}.JSON(), "identity.invalid_resident_id"},
		{"publisher without rights", testenv.Report{Performer: testenv.HospitalB, ID: "RIGHTS", NID: testenv.NID(8)}.JSON(), "rights.not_permitted"},
	}
	// Same key: everything lands in one partition, bad ones first, good ones after each.
	var values [][]byte
	for i, c := range cases {
		values = append(values, c.value, good(i))
	}
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(int) string { return "same-key" }, values...)
	e.waitCount(len(cases), 60*time.Second, `SELECT count(*) FROM reports`)
	dlq := testenv.ReadAll(t, e.brokers, config.TopicDLQ, len(cases), 30*time.Second)
	if len(dlq) != len(cases) {
		t.Fatalf("dead letters = %d, want %d", len(dlq), len(cases))
	}
	for i, c := range cases {
		m := dlq[i]
		if got := bus.Header(m, bus.HeaderErrorCode); got != c.code {
			t.Errorf("%s: error code %q, want %q (message %q)", c.name, got, c.code, bus.Header(m, bus.HeaderErrorMessage))
		}
		if bus.Header(m, bus.HeaderErrorMessage) == "" || bus.Header(m, bus.HeaderSourceOffset) == "" || bus.Header(m, bus.HeaderSourceTopic) != config.TopicReports {
			t.Errorf("%s: dead letter lacks message/offset/topic headers: %v", c.name, m.Headers)
		}
		if string(m.Value) != string(c.value) {
			t.Errorf("%s: dead letter does not carry the original bytes", c.name)
		}
		if strings.Contains(string(m.Headers[0].Value)+bus.Header(m, bus.HeaderErrorMessage), "330299198001020000") {
			t.Errorf("%s: dead-letter headers carry a resident ID", c.name)
		}
	}
}

func TestCrashAfterDatabaseCommitBeforeOffsetCommitChangesNothing(t *testing.T) {
	e := newEnv(t)
	h, err := hub.Open(context.Background(), e.cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := bus.EnsureTopics(context.Background(), e.brokers, h.Topics(), nil); err != nil {
		t.Fatal(err)
	}
	const n = 40
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, key("c"), reportsN(n, 1000)...)

	// First consumer: dies after the database commit of its first batch, before committing offsets.
	c1, close1, err := h.NewConsumer(0)
	if err != nil {
		t.Fatal(err)
	}
	c1.BatchSize = n
	c1.BatchWait = 2 * time.Second
	var applied *index.Batch
	c1.AfterApply = func(b *index.Batch) error { applied = b; return reports.ErrStopped }
	if err := c1.Run(context.Background()); !errors.Is(err, reports.ErrStopped) {
		t.Fatalf("first consumer: %v, want ErrStopped", err)
	}
	_ = close1()
	if applied == nil || len(applied.Positions) == 0 {
		t.Fatal("first consumer applied nothing")
	}
	indexed := e.count(`SELECT count(*) FROM reports`)
	versions := e.count(`SELECT count(*) FROM report_versions`)
	events := e.count(`SELECT count(*) FROM outbox`)
	if indexed != len(applied.Positions) {
		t.Fatalf("indexed %d, first batch had %d messages", indexed, len(applied.Positions))
	}

	// Restart: the uncommitted batch is redelivered and changes nothing; the rest is indexed.
	c2, close2, err := h.NewConsumer(0)
	if err != nil {
		t.Fatal(err)
	}
	defer close2()
	var skipped int
	var mu sync.Mutex
	c2.AfterApply = func(b *index.Batch) error { return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c2.Run(ctx) }()
	e.waitCount(n, 60*time.Second, `SELECT count(*) FROM reports`)
	cancel()
	<-done
	mu.Lock()
	_ = skipped
	mu.Unlock()
	if got := e.count(`SELECT count(*) FROM report_versions`); got != n {
		t.Fatalf("versions = %d, want %d (first batch had %d, redelivery must add none)", got, n, versions)
	}
	if got := e.count(`SELECT count(*) FROM outbox`); got != n {
		t.Fatalf("outbox events = %d, want %d (first batch wrote %d)", got, n, events)
	}
}

func TestDatabaseOutagePausesAndResumes(t *testing.T) {
	e := newEnv(t)
	proxy := testenv.NewTCPProxy(t, "127.0.0.1:5432")
	cfg := e.cfg
	cfg.DatabaseURL = strings.Replace(e.dsn, "127.0.0.1:5432", proxy.Addr(), 1)
	e.serve(cfg)
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, key("o"), reportsN(20, 2000)...)
	e.waitCount(20, 60*time.Second, `SELECT count(*) FROM reports`)

	proxy.Down()
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, key("o2"), reportsN(20, 3000)...)
	time.Sleep(3 * time.Second)
	if got := e.count(`SELECT count(*) FROM reports`); got != 20 {
		t.Fatalf("reports = %d while the database was unreachable through the proxy, want 20", got)
	}
	proxy.Up()
	e.waitCount(40, 90*time.Second, `SELECT count(*) FROM reports`)
	if got := e.count(`SELECT count(*) FROM report_versions`); got != 40 {
		t.Fatalf("versions = %d, want 40", got)
	}
}

func TestKcatPublishedReportIsIndexed(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("skipping: kcat not installed (apt-get install kcat; .ci/run installs it)")
	}
	e := newEnv(t)
	e.serve(e.cfg)
	file := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(file, testenv.Report{Performer: testenv.HospitalA, ID: "KCAT-1", NID: testenv.NID(42)}.JSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kcat, "-P", "-b", e.brokers[0], "-t", config.TopicReports, "-k", testenv.HospitalA+"|KCAT-1",
		"-H", "mrhub-source="+testenv.HospitalA, file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	e.waitCount(1, 60*time.Second, `SELECT count(*) FROM reports WHERE identifier_value = 'KCAT-1'`)
}
