package decisions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	consumer "github.com/mrhub/mrhub/consumers/decisions"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

var cst = time.FixedZone("CST", 8*3600)

type env struct {
	t       *testing.T
	brokers []string
	pool    *pgxpool.Pool
	cfg     config.Config
}

func newEnv(t *testing.T) *env {
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 2)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions = 2
	cfg.Consumers = 1
	return &env{t: t, brokers: b.Addrs(), pool: pool, cfg: cfg}
}

func (e *env) serve() {
	h, err := hub.Open(context.Background(), e.cfg, zaptest.NewLogger(e.t))
	if err != nil {
		e.t.Fatalf("opening hub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, nil) }()
	var once sync.Once
	e.t.Cleanup(func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("hub stopped with: %v", err)
			}
			h.Close()
		})
	})
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

// reports publishes n CBC reports of HospitalA (patients NID(1..n), sampled 2026-03-28 08:30 China
// time) and returns their canonical ids once indexed.
func (e *env) reports(n int) []string {
	var vals [][]byte
	for i := 1; i <= n; i++ {
		vals = append(vals, testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("R%d", i), NID: testenv.NID(i),
			Effective: time.Date(2026, 3, 28, 8, 30, 0, 0, cst)}.JSON())
	}
	testenv.Publish(e.t, e.brokers, config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint("r", i) }, vals...)
	e.waitCount(n, 60*time.Second, `SELECT count(*) FROM reports`)
	var ids []string
	for i := 1; i <= n; i++ {
		var id string
		if err := e.pool.QueryRow(context.Background(), `SELECT id FROM reports WHERE identifier_value = $1`, fmt.Sprintf("R%d", i)).Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func decision(id, report string, patient int, outcome string, reason int, at string) []byte {
	m := map[string]any{"id": id, "institution": testenv.HospitalB, "department": "内科", "clinician": "D7", "patient": "http://mrhub.example/sid/resident-id|" + testenv.NID(patient),
		"item": "JY001", "report": report, "outcome": outcome, "decided_at": at}
	if reason > 0 {
		m["reason"] = reason
	}
	b, _ := json.Marshal(m)
	return b
}

// rollup returns the month-level totals of the region (decisions, recognized, revoked, savings).
func (e *env) rollup() string {
	var s string
	if err := e.pool.QueryRow(context.Background(), `SELECT concat_ws(',', sum(decisions), sum(recognized), sum(declined_counting), sum(revoked), sum(savings_cents))
		FROM stats_rollup WHERE grain = 'm' AND level = 0`).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func TestBadDecisionsAreDeadLetteredGoodOnesAfterThemApplyAndRedeliveryIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.serve()
	ids := e.reports(2)
	r1, r2 := ids[0], ids[1]
	at := "2026-03-30T10:00:00+08:00"
	good1 := decision("g1", r1, 1, "recognized", 0, at)
	good2 := decision("g2", r2, 2, "declined", 1, at)
	revoke1 := []byte(`{"type":"revoke","id":"g1","revoked_at":"2026-03-31T10:00:00+08:00"}`)
	type msg struct {
		value []byte
		code  string // dead-letter code; "" = accepted
	}
	msgs := []msg{
		{[]byte(`{"id":"broken"`), "decision.not_json"},
		{good1, ""},
		{decision("b1", r1, 1, "declined", 7, at), "decision.unknown_reason"},
		{good2, ""},
		{[]byte(strings.Replace(string(decision("b2", r1, 1, "recognized", 0, at)), testenv.HospitalB, testenv.HospitalA, 1)), "decision.not_permitted"},
		{decision("b3", r1, 1, "recognized", 0, "2026-04-09T10:00:00+08:00"), "decision.report_expired"},
		{revoke1, ""},
		{[]byte(`{"type":"revoke","id":"nope"}`), "decision.unknown"},
		{good1, ""}, // the same decision again: a duplicate, not a dead letter
		{decision("g2", r2, 2, "declined", 2, at), "decision.conflict"},
		{decision("b4", r1, 2, "recognized", 0, at), "decision.patient_mismatch"},
	}
	var values [][]byte
	var codes []string
	for _, m := range msgs {
		values = append(values, m.value)
		if m.code != "" {
			codes = append(codes, m.code)
		}
	}
	// One key: one partition, in this order.
	testenv.Publish(t, e.brokers, config.TopicDecisions, testenv.HospitalB, func(int) string { return "same-key" }, values...)
	e.waitCount(len(msgs), 60*time.Second, `SELECT COALESCE(sum(next_offset), 0)::int FROM ingest_offsets WHERE topic = $1`, config.TopicDecisions)

	if n := e.count(`SELECT count(*) FROM decisions`); n != 2 {
		t.Fatalf("decisions = %d, want 2 (g1, g2)", n)
	}
	if n := e.count(`SELECT count(*) FROM decisions WHERE id = 'g1' AND revoked_at IS NOT NULL`); n != 1 {
		t.Fatalf("g1 not revoked")
	}
	// g1 recognised then revoked, g2 declined (reason 1): 1 decision, 0 recognised, 1 counting decline, 1 revoked, no savings.
	if got := e.rollup(); got != "1,0,1,1,0" {
		t.Fatalf("rollup = %s, want 1,0,1,1,0", got)
	}
	dlq := testenv.ReadAll(t, e.brokers, config.TopicDLQ, len(codes), 30*time.Second)
	if len(dlq) != len(codes) {
		t.Fatalf("dead letters = %d, want %d", len(dlq), len(codes))
	}
	for i, m := range dlq {
		if got := bus.Header(m, bus.HeaderErrorCode); got != codes[i] {
			t.Errorf("dead letter %d: code %q (%s), want %q", i, got, bus.Header(m, bus.HeaderErrorMessage), codes[i])
		}
		if bus.Header(m, bus.HeaderErrorMessage) == "" || bus.Header(m, bus.HeaderSourceTopic) != config.TopicDecisions || bus.Header(m, "mrhub-source") != testenv.HospitalB {
			t.Errorf("dead letter %d lacks message/topic/original headers: %v", i, m.Headers)
		}
		if strings.Contains(bus.Header(m, bus.HeaderErrorMessage), testenv.NID(1)) {
			t.Errorf("dead letter %d message carries a resident ID", i)
		}
	}

	// Redelivery of everything good (new offsets): nothing changes, nothing is dead-lettered.
	testenv.Publish(t, e.brokers, config.TopicDecisions, testenv.HospitalB, func(int) string { return "same-key" }, good1, good2, revoke1)
	e.waitCount(len(msgs)+3, 60*time.Second, `SELECT COALESCE(sum(next_offset), 0)::int FROM ingest_offsets WHERE topic = $1`, config.TopicDecisions)
	if n := e.count(`SELECT count(*) FROM decisions`); n != 2 {
		t.Fatalf("decisions = %d after redelivery, want 2", n)
	}
	if got := e.rollup(); got != "1,0,1,1,0" {
		t.Fatalf("rollup = %s after redelivery, want 1,0,1,1,0", got)
	}
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	if got := testenv.ReadAll(t, e.brokers, config.TopicDLQ, len(codes)+1, 3*time.Second); len(got) != len(codes) {
		t.Fatalf("dead letters = %d after redelivery, want %d", len(got), len(codes))
	}
}

func TestCrashAfterDatabaseCommitBeforeOffsetCommitChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.serve() // indexes the reports; its decisions consumer is stopped before the crash test
	ids := e.reports(3)
	h, err := hub.Open(context.Background(), e.cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.Cfg.GroupID = "crash-test" // a group of its own: the serving hub's consumer does not take these
	const n = 3
	var vals [][]byte
	for i := 0; i < n; i++ {
		vals = append(vals, decision(fmt.Sprint("c", i), ids[i], i+1, "recognized", 0, "2026-03-30T10:00:00+08:00"))
	}
	vals = append(vals, []byte(`not json`))
	testenv.Publish(t, e.brokers, config.TopicDecisions, testenv.HospitalB, func(int) string { return "k" }, vals...)

	// The serving hub's consumer (group mrhub-test.decisions) applies them too; wait for it, then
	// run the crash scenario under the separate group against the same database: every message
	// is then a duplicate or the same dead letter, which must not be written twice either.
	e.waitCount(n+1, 60*time.Second, `SELECT COALESCE(sum(next_offset), 0)::int FROM ingest_offsets WHERE topic = $1 AND consumer = 'mrhub-test.decisions'`, config.TopicDecisions)
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	before := e.rollup()

	c1, close1, err := h.NewDecisionConsumer()
	if err != nil {
		t.Fatal(err)
	}
	c1.BatchSize, c1.BatchWait = n+1, 3*time.Second
	var first *decisions.Outcome
	c1.AfterApply = func(out *decisions.Outcome) error { first = out; return consumer.ErrStopped }
	if err := c1.Run(context.Background()); !errors.Is(err, consumer.ErrStopped) {
		t.Fatalf("first consumer: %v, want ErrStopped", err)
	}
	_ = close1()
	if first == nil || first.Skipped != 0 || first.DeadLetters != 1 {
		t.Fatalf("first run: %+v, want every message applied and one dead letter", first)
	}
	for _, r := range first.Results[:n] {
		if r != string(decisions.Duplicate) {
			t.Fatalf("first run results %v: want duplicates of the serving hub's decisions", first.Results)
		}
	}
	dl := e.count(`SELECT count(*) FROM outbox WHERE topic = $1`, config.TopicDLQ)

	// Restart: the uncommitted batch is redelivered and skipped by its offsets.
	c2, close2, err := h.NewDecisionConsumer()
	if err != nil {
		t.Fatal(err)
	}
	defer close2()
	c2.BatchSize, c2.BatchWait = n+1, 3*time.Second
	var second *decisions.Outcome
	c2.AfterApply = func(out *decisions.Outcome) error { second = out; return consumer.ErrStopped }
	if err := c2.Run(context.Background()); !errors.Is(err, consumer.ErrStopped) {
		t.Fatalf("second consumer: %v", err)
	}
	if second == nil || second.Skipped != n+1 || second.DeadLetters != 0 {
		t.Fatalf("redelivered batch: %+v, want all %d skipped", second, n+1)
	}
	if got := e.count(`SELECT count(*) FROM outbox WHERE topic = $1`, config.TopicDLQ); got > dl {
		t.Fatalf("redelivery wrote %d more dead letters", got-dl)
	}
	if n2 := e.count(`SELECT count(*) FROM decisions`); n2 != n {
		t.Fatalf("decisions = %d, want %d", n2, n)
	}
	if got := e.rollup(); got != before || got != "3,3,0,0,6000" {
		t.Fatalf("rollup %s (before %s), want 3,3,0,0,6000", got, before)
	}
}

// TestDecisionWaitsForItsReport: a decision published before its report (the two topics are
// not ordered with each other) waits for the report instead of being dead-lettered, and is
// applied once the report is indexed.
func TestDecisionWaitsForItsReport(t *testing.T) {
	e := newEnv(t)
	e.serve()
	nk := testenv.HospitalA + "|http://his." + testenv.HospitalA + ".example/report-id|LATE-1"
	sum := sha256.Sum256([]byte(nk))
	id := hex.EncodeToString(sum[:16])
	testenv.Publish(t, e.brokers, config.TopicDecisions, testenv.HospitalB, func(int) string { return "k" },
		decision("w1", id, 1, "recognized", 0, "2026-03-30T10:00:00+08:00"))
	time.Sleep(2 * time.Second) // the decision consumer has fetched it and waits
	if n := e.count(`SELECT count(*) FROM decisions`); n != 0 {
		t.Fatalf("decisions = %d before the report exists", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = $1`, config.TopicDLQ); n != 0 {
		t.Fatalf("the decision was dead-lettered while its report could still come")
	}
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(int) string { return "late" },
		testenv.Report{Performer: testenv.HospitalA, ID: "LATE-1", NID: testenv.NID(1), Effective: time.Date(2026, 3, 28, 8, 30, 0, 0, cst)}.JSON())
	e.waitCount(1, 60*time.Second, `SELECT count(*) FROM decisions WHERE id = 'w1' AND report_id = $1`, id)
	if dl := testenv.ReadAll(t, e.brokers, config.TopicDLQ, 1, 2*time.Second); len(dl) != 0 {
		t.Fatalf("%d dead letters, want none: %s", len(dl), bus.Header(dl[0], bus.HeaderErrorCode))
	}
}
