package chaos

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/config"
)

// TestScaleOutKillOneOfThree runs three `mrhub serve` processes in one consumer group (two
// members each, six partitions), publishes a messy synthetic stream (redeliveries, versions,
// withdrawals, cross-publishing, malformed messages), SIGKILLs one hub mid-stream and checks that
// the survivors take over its partitions and that the index ends as a single clean pass.
//
// MRHUB_SCALE_MESSAGES sets the stream length (default 4000).
func TestScaleOutKillOneOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the scale-out process test in -short mode")
	}
	n := 4000
	if v, err := strconv.Atoi(os.Getenv("MRHUB_SCALE_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	start := time.Now()
	c := newCluster(t, 6)
	owner := map[string]int{} // group member id -> hub slot
	for s := 0; s < 3; s++ {
		c.startHub(s)
		for id := range c.waitStable(2*(s+1), 60*time.Second) {
			if _, ok := owner[id]; !ok {
				owner[id] = s
			}
		}
	}
	msgs := toKafka(generate(t, 7, n, nil))
	w := writer(c.brokers())
	defer w.Close()
	ctx := context.Background()

	// 40% at once, the rest while the hubs consume (and while one of them dies).
	first := n * 2 / 5
	if _, err := publish(ctx, w, msgs[:first]); err != nil {
		t.Fatal(err)
	}
	var pubWG sync.WaitGroup
	var pubDone atomic.Bool
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		defer pubDone.Store(true)
		for lo := first; lo < n; lo += 100 {
			if _, err := publish(ctx, w, msgs[lo:min(lo+100, n)]); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
	}()

	// Kill hub 1 once a quarter of the stream is in the index.
	for {
		got, err := c.consumed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum(got) >= int64(n/4) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, members, err := c.groupState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victimParts []int
	for id, ps := range members {
		if owner[id] == 1 {
			victimParts = append(victimParts, ps...)
		}
	}
	slices.Sort(victimParts)
	atKill, err := c.consumed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.killHub(1)
	killedAt := time.Now()

	// Recovery: until every partition of the killed hub has made progress again.
	resumed := map[int]time.Duration{}
	for len(resumed) < len(victimParts) {
		got, err := c.consumed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ends, err := endOffsets(ctx, c.brokers(), config.TopicReports)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range victimParts {
			if _, ok := resumed[p]; ok {
				continue
			}
			if got[p] > atKill[p] || (got[p] == ends[p] && ends[p] > 0 && pubDone.Load()) {
				resumed[p] = time.Since(killedAt)
			}
		}
		if time.Since(killedAt) > 90*time.Second {
			t.Fatalf("partitions %v of the killed hub did not resume within 90s (resumed %v)", victimParts, resumed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	takeover := time.Duration(0)
	for _, d := range resumed {
		takeover = max(takeover, d)
	}
	pubWG.Wait()
	c.waitDrained(120 * time.Second)
	drainedAfter := time.Since(killedAt)
	survivors := c.waitStable(4, 30*time.Second)
	t.Logf("SIGKILL of hub 1 (partitions %v): its partitions resumed on the survivors after %s (per partition %v); stream fully indexed %s after the kill; group now %d members",
		victimParts, takeover.Round(10*time.Millisecond), roundAll(resumed), drainedAfter.Round(10*time.Millisecond), len(survivors))

	// The end state equals one clean pass of the same messages.
	ref := cleanPass(t, c.key, msgs)
	got := takeSnapshot(t, ctx, c.pool)
	if d := compareSnapshots(t, ref.snap, got); d > 0 {
		t.Errorf("%d reports differ from the clean pass", d)
	}
	published := readTopic(t, c.brokers(), config.TopicReports)
	dlq := readTopic(t, c.brokers(), config.TopicDLQ)
	acc := accountFor(t, ctx, c.pool, ref.profile, published, dlq)
	if acc.Lost != 0 || acc.Published != n {
		t.Errorf("accounting: %s; want lost=0 and published=%d", acc, n)
	}
	if !maps.Equal(acc.DLQByCode, ref.rejected) {
		t.Errorf("dead letters by code %v, clean pass rejected %v", acc.DLQByCode, ref.rejected)
	}
	events, keys, dups := indexTopicCheck(t, ctx, c.pool, readTopic(t, c.brokers(), config.TopicIndex))
	if d := duplicateRows(t, ctx, c.pool); d != 0 {
		t.Errorf("%d duplicated index rows", d)
	}
	fmt.Printf("scale-out: 3 hubs, %d messages; SIGKILL of one hub -> its partitions %v resumed after %s, all indexed %s after the kill; %s; index topic %d records, %d keys, %d exact duplicates; %s in all\n",
		n, victimParts, takeover.Round(10*time.Millisecond), drainedAfter.Round(10*time.Millisecond), acc, events, keys, dups, time.Since(start).Round(time.Second))
}

func roundAll(m map[int]time.Duration) map[int]string {
	out := map[int]string{}
	for k, v := range m {
		out[k] = v.Round(10 * time.Millisecond).String()
	}
	return out
}

// TestScaleOutIngestRate measures the ingest rate of 1, 2 and 3 hub processes on this machine
// (opt-in: MRHUB_SCALE_BENCH=1; MRHUB_SCALE_BENCH_MESSAGES, default 20000). Each run has its own
// broker and database; the hubs join first, then the stream is published as fast as possible,
// and the rate is messages / (first publish → last offset in ingest_offsets and outbox empty).
func TestScaleOutIngestRate(t *testing.T) {
	if !envBool("MRHUB_SCALE_BENCH") {
		t.Skip("set MRHUB_SCALE_BENCH=1 to measure the ingest rate with 1, 2 and 3 hubs")
	}
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("MRHUB_SCALE_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	msgs := toKafka(generate(t, 11, n, nil))
	var lines []string
	for hubs := 1; hubs <= 3; hubs++ {
		t.Run(fmt.Sprintf("hubs=%d", hubs), func(t *testing.T) {
			c := newCluster(t, 6)
			for s := 0; s < hubs; s++ {
				c.startHub(s)
			}
			c.waitStable(2*hubs, 60*time.Second)
			w := writer(c.brokers())
			defer w.Close()
			start := time.Now()
			if _, err := publish(context.Background(), w, msgs); err != nil {
				t.Fatal(err)
			}
			published := time.Since(start)
			c.waitDrained(10 * time.Minute)
			d := time.Since(start)
			line := fmt.Sprintf("hubs=%d messages=%d published_in=%s indexed_in=%s rate=%.0f msg/s",
				hubs, n, published.Round(10*time.Millisecond), d.Round(10*time.Millisecond), float64(n)/d.Seconds())
			lines = append(lines, line)
			fmt.Println("ingest " + line)
		})
	}
	for _, l := range lines {
		t.Log(l)
	}
}
