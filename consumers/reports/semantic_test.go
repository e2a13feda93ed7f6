package reports_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestSameContentAnySerialisationIsOneVersion is a property test through the hub (kfake and
// PostgreSQL): for generated reports, the original and random re-serialisations of it (keys
// shuffled at every level, whitespace, escapes, exponent and UTC spellings, entry order,
// exporter meta.lastUpdated/source), delivered interleaved and repeated, give exactly one
// version and one index event per report; then a change FHIR treats as meaningful — a value,
// a unit, the status, a decimal's precision — gives each report exactly one more version.
func TestSameContentAnySerialisationIsOneVersion(t *testing.T) {
	e := newEnv(t)
	e.serve(e.cfg)
	rng := rand.New(rand.NewPCG(17, 2026))
	const n = 6
	reps := make([]testenv.Report, n)
	var msgs [][]byte
	for i := range reps {
		vals := make([]float64, 8)
		for j := range vals {
			vals[j] = float64(rng.IntN(900)+100) / 10 // one decimal: 10.0 … 99.9
		}
		reps[i] = testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("SEM-%d", i), NID: testenv.NID(60 + i), VersionID: "1", Values: vals}
		msgs = append(msgs, reps[i].JSON())
		for range 2 + rng.IntN(4) {
			msgs = append(msgs, testenv.Reserialize(rng, reps[i].JSON()))
		}
	}
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint("k", i%3) }, msgs...)
	e.waitCount(len(msgs), 90*time.Second, `SELECT COALESCE(sum(next_offset),0)::int FROM ingest_offsets WHERE topic = $1`, config.TopicReports)
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	if got := e.count(`SELECT count(*) FROM reports`); got != n {
		t.Fatalf("%d reports, want %d", got, n)
	}
	if got := e.count(`SELECT count(*) FROM report_versions`); got != n {
		t.Fatalf("%d versions for %d reports sent in %d serialisations, want one each", got, n, len(msgs))
	}
	if got := len(testenv.ReadAll(t, e.brokers, config.TopicIndex, 1<<20, 3*time.Second)); got != n {
		t.Fatalf("%d index events, want %d (one new per report)", got, n)
	}

	// One meaningful change per report, each sent twice in two serialisations.
	sent := len(msgs)
	msgs = msgs[:0]
	for i, r := range reps {
		c := r // meta.versionId unchanged: only the change itself tells the versions apart
		var b []byte
		switch i % 4 {
		case 0:
			c.Values = append([]float64{c.Values[0] + 0.1}, c.Values[1:]...)
			b = c.JSON()
		case 1:
			b = bytes.Replace(c.JSON(), []byte(`"unit":"10*9/L"`), []byte(`"unit":"10*12/L"`), 1)
		case 2:
			c.Status = "amended"
			b = c.JSON()
		case 3:
			s := fmt.Sprint(c.Values[0])
			b = bytes.Replace(c.JSON(), []byte(`"value":`+s+`}`), []byte(`"value":`+s+`0}`), 1)
		}
		if i%4 == 1 || i%4 == 3 {
			if unchanged := c; bytes.Equal(b, unchanged.JSON()) {
				t.Fatalf("report %d: the change did not apply (fixture changed?)", i)
			}
		}
		msgs = append(msgs, b, testenv.Reserialize(rng, b))
	}
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint("k", i%3) }, msgs...)
	e.waitCount(sent+len(msgs), 90*time.Second, `SELECT COALESCE(sum(next_offset),0)::int FROM ingest_offsets WHERE topic = $1`, config.TopicReports)
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	if got := e.count(`SELECT count(*) FROM report_versions`); got != 2*n {
		t.Fatalf("%d versions, want %d (one more per report)", got, 2*n)
	}
}
