package index_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// The publishing rollups count every message once, by its position, whichever consumer applies
// it: a redelivery to the same consumer, a replay under another consumer name and a replay that
// overlaps the end of the counted range count only the messages not counted before. Daily and
// monthly rows agree.
func TestPublishingCountsEachMessageOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	msg := func(i int) []byte {
		return testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("PUBONCE-%d", i), NID: testenv.NID(900 + i),
			Issued: time.Now().Add(-time.Hour)}.JSON()
	}
	batch := func(consumer string, from, to int) *index.Batch {
		b := &index.Batch{Consumer: consumer}
		for i := from; i < to; i++ {
			pos := index.Position{Topic: config.TopicReports, Partition: 2, Offset: int64(i)}
			b.Positions = append(b.Positions, pos)
			if i%4 == 3 { // every fourth message refused
				b.DeadLetters = append(b.DeadLetters, index.DeadLetter{Pos: pos, Value: []byte("x"), Code: "fhir.not_json",
					Headers: map[string]string{"mrhub-source": testenv.HospitalA}})
				continue
			}
			es, err := h.profile(testenv.HospitalA, msg(i))
			if err != nil {
				t.Fatal(err)
			}
			es[0].Pos = pos
			b.Entries = append(b.Entries, es[0])
		}
		return b
	}
	apply := func(b *index.Batch) {
		t.Helper()
		if _, err := h.store.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	figures := func(grain string) string {
		t.Helper()
		var rec, idx, dead, newR, unch int64
		if err := h.pool.QueryRow(ctx, `SELECT COALESCE(sum(received),0), COALESCE(sum(indexed),0), COALESCE(sum(dead_lettered),0),
			COALESCE(sum(new_reports),0), COALESCE(sum(unchanged),0) FROM publishing_rollup WHERE grain = $1`, grain).Scan(&rec, &idx, &dead, &newR, &unch); err != nil {
			t.Fatal(err)
		}
		var refused int64
		_ = h.pool.QueryRow(ctx, `SELECT COALESCE(sum(n),0) FROM publishing_refusals WHERE grain = $1 AND code = 'fhir.not_json'`, grain).Scan(&refused)
		return fmt.Sprintf("received=%d indexed=%d dead=%d refused=%d new=%d unchanged=%d", rec, idx, dead, refused, newR, unch)
	}
	apply(batch("hub", 0, 8))
	apply(batch("hub", 0, 8)) // redelivered after a crash: skipped by the consumer's offsets
	want := "received=8 indexed=6 dead=2 refused=2 new=6 unchanged=0"
	if got := figures("d"); got != want {
		t.Fatalf("after a redelivery: %s, want %s", got, want)
	}
	apply(batch("replay-1", 0, 12)) // a reindex that reaches past the counted range
	want = "received=12 indexed=9 dead=3 refused=3 new=9 unchanged=0"
	for _, g := range []string{"d", "m"} {
		if got := figures(g); got != want {
			t.Fatalf("grain %s after a replay: %s, want %s", g, got, want)
		}
	}
}
