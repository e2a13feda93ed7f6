package docs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// exampleMessages are the report messages of docs/examples with the institution that publishes
// each (header mrhub-source), as docs/integration.md shows them.
var exampleMessages = map[string]struct {
	source  string
	reports int
}{
	"lab-collection-bundle.json":      {"12330299473158385B", 1}, // 清溪区第二人民医院, its own report
	"imaging-transaction-bundle.json": {"12330299473079193Y", 1}, // 清溪区人民医院, its own report
	"report-contained.json":           {"12330299473554337R", 1}, // 清溪区青山镇卫生院, its own report
	"message-bundle.json":             {"12330299473079193Y", 1}, // the lead hospital, for 梅溪镇卫生院 of its 医共体
	"nested-batch-bundle.json":        {"12330299473237577P", 2}, // 清溪区第三人民医院, two reports
}

// exampleDecisions are the decision examples, in the order they are sent, with the institution
// that sends them and the state each leaves.
var exampleDecisions = []struct {
	file, source, id, want string
}{
	{"decision.json", "12330299473079193Y", "QX001-D-20261121-0001", "recognized"},
	{"decision-declined.json", "12330299473079193Y", "QX001-D-20261121-0002", "declined"},
	{"decision-revoke.json", "12330299473079193Y", "QX001-D-20261121-0002", "revoked"},
}

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExamplesAreIndexed publishes every example message of docs/examples through a real broker
// to a real hub and database, as its institution would, and finds each of its reports indexed,
// current, with nothing dead-lettered; then sends the example decisions on mrhub.decisions.v1 and
// finds them stored (the revocation revoking the declined one).
func TestExamplesAreIndexed(t *testing.T) {
	all, _ := filepath.Glob(filepath.Join(root, "docs", "examples", "*.json"))
	for _, f := range all {
		name := filepath.Base(f)
		_, isMsg := exampleMessages[name]
		isDecision := false
		for _, d := range exampleDecisions {
			isDecision = isDecision || d.file == name
		}
		if !isMsg && !isDecision {
			t.Errorf("docs/examples/%s is not checked: add it to exampleMessages (its mrhub-source and number of reports) or exampleDecisions in docs/examples_test.go", name)
		}
	}

	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 2)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions, cfg.Consumers = 2, 1
	ctx := context.Background()
	h, err := hub.Open(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("opening hub: %v", err)
	}
	defer h.Close()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Serve(sctx, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub stopped with: %v", err)
		}
	}()

	// The canonical ids each example must produce, from the hub's own profile.
	want := map[string]string{} // report id → example
	var names []string
	for name := range exampleMessages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ex := exampleMessages[name]
		value := readExample(t, name)
		entries, err := h.Profiler().Message(value, ex.source)
		if err != nil {
			t.Errorf("docs/examples/%s published by %s is refused by the indexing profile: %v", name, ex.source, err)
			continue
		}
		if len(entries) != ex.reports {
			t.Errorf("docs/examples/%s holds %d reports, exampleMessages says %d", name, len(entries), ex.reports)
		}
		for _, e := range entries {
			want[e.ID] = name
		}
		testenv.Publish(t, b.Addrs(), config.TopicReports, ex.source, func(int) string { return ex.source + "|" + name }, value)
	}
	if t.Failed() {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := []string{}
		for id, name := range want {
			var current bool
			err := pool.QueryRow(ctx, `SELECT current FROM reports WHERE id = $1`, id).Scan(&current)
			if err != nil || !current {
				missing = append(missing, name+" ("+id+")")
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			dl := testenv.ReadAll(t, b.Addrs(), config.TopicDLQ, 1, 2*time.Second)
			for _, m := range dl {
				t.Logf("dead letter: %s", headers(m))
			}
			t.Fatalf("not indexed within 60s: %s", strings.Join(missing, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if dl := testenv.ReadAll(t, b.Addrs(), config.TopicDLQ, 0, 0); len(dl) > 0 {
		for _, m := range dl {
			t.Errorf("dead letter: %s", headers(m))
		}
	}
	// Identity numbers are stored masked only.
	var plain int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM report_versions WHERE resource::text LIKE '%33029919860314101X%')
		+ (SELECT count(*) FROM observations WHERE resource::text LIKE '%33029919860314101X%')`).Scan(&plain); err != nil || plain != 0 {
		t.Errorf("a stored report or result holds the example's resident ID in plain text (%d rows, %v)", plain, err)
	}

	// The decisions, in order.
	for _, d := range exampleDecisions {
		testenv.Publish(t, b.Addrs(), config.TopicDecisions, d.source, func(int) string { return d.id }, readExample(t, d.file))
		deadline := time.Now().Add(60 * time.Second)
		for {
			var outcome string
			var revoked *time.Time
			err := pool.QueryRow(ctx, `SELECT outcome, revoked_at FROM decisions WHERE id = $1`, d.id).Scan(&outcome, &revoked)
			got := outcome
			if err == nil && revoked != nil {
				got = "revoked"
			}
			if got == d.want {
				break
			}
			if time.Now().After(deadline) {
				for _, m := range testenv.ReadAll(t, b.Addrs(), config.TopicDLQ, 1, 2*time.Second) {
					t.Logf("dead letter: %s", headers(m))
				}
				t.Fatalf("docs/examples/%s: decision %s is %q after 60s, want %q", d.file, d.id, got, d.want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func headers(m kafka.Message) string {
	hs := map[string]string{}
	for _, h := range m.Headers {
		hs[h.Key] = string(h.Value)
	}
	b, _ := json.Marshal(hs)
	return string(b)
}
