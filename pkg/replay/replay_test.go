package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/replay"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// A database rebuilt from the topic holds the same index as the one that consumed it live, a
// second replay changes nothing, and republishing emits one event per report.
func TestReplayRebuildsTheIndexIdempotently(t *testing.T) {
	b := testenv.Broker(t, 3)
	const n = 30
	values := make([][]byte, n)
	for i := range values {
		values[i] = testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("RP%03d", i), NID: testenv.NID(500 + i%10)}.JSON()
	}
	testenv.Publish(t, b.Addrs(), config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint(i) }, values...)
	// Versions of two reports, later in the topic.
	amended := testenv.Report{Performer: testenv.HospitalA, ID: "RP000", NID: testenv.NID(500), Status: "amended", VersionID: "2", Note: "amended"}.JSON()
	testenv.Publish(t, b.Addrs(), config.TopicReports, testenv.HospitalA, func(int) string { return "0" }, amended)

	dsn, pool := testenv.DB(t)
	cfg := testenv.Config(dsn, b.Addrs())
	h, err := hub.Open(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var out bytes.Buffer
	opts := replay.RunOptions{Options: replay.Options{Brokers: b.Addrs(), Topic: config.TopicReports, FromOffset: kafka.FirstOffset}, Progress: &out}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := replay.Run(ctx, h, opts); err != nil {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	count := func(sql string) int {
		var c int
		if err := pool.QueryRow(ctx, sql).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := count(`SELECT count(*) FROM reports`); got != n {
		t.Fatalf("reports after replay = %d, want %d", got, n)
	}
	if got := count(`SELECT count(*) FROM reports WHERE status = 'amended' AND version = 2`); got != 1 {
		t.Fatalf("amended current reports = %d, want 1", got)
	}
	versions := count(`SELECT count(*) FROM report_versions`)
	if versions != n+1 {
		t.Fatalf("versions = %d, want %d", versions, n+1)
	}

	// Again, with republish: nothing changes in the index, one event per report is published.
	before := testenv.ReadAll(t, b.Addrs(), config.TopicIndex, n+1, 10*time.Second)
	opts.Republish = true
	if err := replay.Run(ctx, h, opts); err != nil {
		t.Fatalf("second replay: %v", err)
	}
	if got := count(`SELECT count(*) FROM report_versions`); got != versions {
		t.Fatalf("second replay changed the history: %d versions, want %d", got, versions)
	}
	after := testenv.ReadAll(t, b.Addrs(), config.TopicIndex, len(before)+n, 20*time.Second)
	if len(after)-len(before) != n {
		t.Fatalf("republish published %d events, want %d", len(after)-len(before), n)
	}

	// From a time after everything: nothing to do.
	opts.Republish = false
	opts.FromTime = time.Now().Add(time.Hour)
	if err := replay.Run(ctx, h, opts); err != nil {
		t.Fatalf("empty replay: %v", err)
	}
}
