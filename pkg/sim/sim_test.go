package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/seeds"
)

func region(t testing.TB) *catalog.Region {
	t.Helper()
	r, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newGen(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg, region(t))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := []func(c *Config){
		func(c *Config) { c.Patients = -1 },
		func(c *Config) { c.Amend = 1.5 },
		func(c *Config) { c.MRNOnly = -0.1 },
		func(c *Config) { c.Redeliver, c.Malformed = 0.6, 0.6 },
		func(c *Config) { c.Withdraw = math.NaN() },
	}
	for i, mutate := range bad {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
		if _, err := New(c, region(t)); err == nil {
			t.Errorf("New accepted bad config %d", i)
		}
	}
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Patients = 2000
	a, b := newGen(t, cfg), newGen(t, cfg)
	cfg.Seed = 2
	c := newGen(t, cfg)
	differ := 0
	for i := 0; i < 1000; i++ {
		ma, mb, mc := a.Next(), b.Next(), c.Next()
		if !bytes.Equal(ma.Key, mb.Key) || !bytes.Equal(ma.Value, mb.Value) || ma.Source != mb.Source || ma.Kind != mb.Kind {
			t.Fatalf("message %d differs between two generators with the same seed", i)
		}
		if !bytes.Equal(ma.Value, mc.Value) {
			differ++
		}
	}
	if differ < 990 {
		t.Errorf("seeds 1 and 2 share %d of 1000 messages", 1000-differ)
	}
}

func TestMessages(t *testing.T) {
	r := region(t)
	cat := catalog.NewCatalog(r)
	cfg := DefaultConfig()
	cfg.Patients = 3000
	g, err := New(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8000
	kinds := map[string]int{}
	var lastReport string
	var hr, mrnOnly, withID, unmapped, mapped, loincCoded int
	seenKey := map[string]bool{}
	for i := 0; i < n; i++ {
		m := g.Next()
		kinds[m.Kind]++
		if _, ok := cat.Institution(m.Source); !ok {
			t.Fatalf("message %d: source %q is not an institution", i, m.Source)
		}
		if !strings.HasPrefix(string(m.Key), m.Source+"|") {
			t.Fatalf("message %d: key %q does not start with the source", i, m.Key)
		}
		if m.Kind == KindMalformed {
			continue
		}
		if !json.Valid(m.Value) {
			t.Fatalf("message %d (%s) is not JSON", i, m.Kind)
		}
		if m.Kind == KindRedelivery && !seenKey[string(m.Key)] {
			t.Fatalf("message %d redelivers a key never sent", i)
		}
		seenKey[string(m.Key)] = true
		if m.Kind != KindReport {
			continue
		}
		lastReport = string(m.Value)
		var v struct {
			ids   []string
			codes [][2]string
		}
		walk(m.Value, &v.ids, &v.codes)
		hasNID := false
		for _, id := range v.ids {
			hasNID = true
			if err := identity.ValidateResidentID(id); err != nil {
				t.Fatalf("message %d: resident ID invalid: %v", i, err)
			}
		}
		if hasNID {
			withID++
		} else {
			mrnOnly++
		}
		if strings.Contains(lastReport, HRMarkURL) {
			hr++
		}
		// the report's code is the first coding written
		code := v.codes[0]
		if _, ok := cat.MapCode(m.Source, code[0], code[1]); ok {
			mapped++
			if code[0] == "http://loinc.org" {
				loincCoded++
			}
		} else {
			unmapped++
		}
	}
	reports := kinds[KindReport]
	t.Logf("kinds %v; reports: with resident ID %d, MRN only %d, HR-marked %d, mapped %d (LOINC %d), unmapped %d",
		kinds, withID, mrnOnly, hr, mapped, loincCoded, unmapped)
	draws := float64(n - kinds[KindLate]) // a late message is emitted without a draw
	for kind, rate := range map[string]float64{
		KindRedelivery: cfg.Redeliver, KindAmended: cfg.Amend, KindCorrected: cfg.Correct,
		KindWithdrawn: cfg.Withdraw, KindOutOfOrder: cfg.OutOfOrder, KindCrossPublish: cfg.CrossPublish,
		KindMalformed: cfg.Malformed,
	} {
		got := float64(kinds[kind]) / draws
		if math.Abs(got-rate) > 0.35*rate+0.001 {
			t.Errorf("%s share %.4f, want about %.4f", kind, got, rate)
		}
	}
	if kinds[KindLate] != kinds[KindOutOfOrder] {
		t.Errorf("%d out-of-order but %d late messages", kinds[KindOutOfOrder], kinds[KindLate])
	}
	if share := float64(mrnOnly) / float64(reports); share < 0.01 || share > 0.15 {
		t.Errorf("MRN-only share of reports %.3f", share)
	}
	if share := float64(unmapped) / float64(reports); share < 0.01 || share > 0.06 {
		t.Errorf("unmapped share of reports %.3f", share)
	}
	if loincCoded == 0 || hr < reports/2 {
		t.Errorf("LOINC-coded %d, HR-marked %d of %d reports", loincCoded, hr, reports)
	}
}

// walk collects resident IDs and codings (system, code) from a message, in document order.
func walk(b []byte, ids *[]string, codes *[][2]string) {
	var v any
	_ = json.Unmarshal(b, &v)
	var rec func(x any)
	rec = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if x["resourceType"] == "DiagnosticReport" {
				if c, ok := x["code"].(map[string]any); ok {
					cs := c["coding"].([]any)[0].(map[string]any)
					*codes = append(*codes, [2]string{cs["system"].(string), cs["code"].(string)})
				}
			}
			if x["system"] == SystemResidentID {
				*ids = append(*ids, x["value"].(string))
			}
			for _, y := range x {
				rec(y)
			}
		case []any:
			for _, y := range x {
				rec(y)
			}
		}
	}
	rec(v)
}

func TestMRNOnlyThenID(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Patients = 300
	cfg.MRNOnly = 1 // every relation starts MRN-only
	g := newGen(t, cfg)
	for i := 0; i < 3000; i++ {
		g.Next()
	}
	later := 0
	for _, rel := range g.rels {
		if rel.reports > rel.idAfter && !rel.idKnown {
			t.Fatal("relation past its MRN-only reports still without ID")
		}
		if rel.idKnown {
			later++
		}
	}
	if later == 0 {
		t.Error("no relation ever learned the resident ID")
	}
}

func TestPatientsConsistent(t *testing.T) {
	g := newGen(t, DefaultConfig())
	for i, p := range g.patients {
		if err := identity.ValidateResidentID(p.nid); err != nil {
			t.Fatalf("patient %d: %v", i, err)
		}
		if male := (p.nid[16]-'0')%2 == 1; male != p.male {
			t.Fatalf("patient %d: gender disagrees with the resident ID", i)
		}
		if p.nid[6:14] != p.birth.Format("20060102") {
			t.Fatalf("patient %d: birth date disagrees with the resident ID", i)
		}
	}
}

func TestValidFHIR(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Patients = 2000
	cfg.Amend, cfg.Correct, cfg.Withdraw, cfg.OutOfOrder = 0.05, 0.05, 0.05, 0.05
	cfg.Malformed = 0.1
	g := newGen(t, cfg)
	ok, bad := 0, 0
	dec := fhir.NewDecoder(chinaTime)
	for ok < 500 {
		m := g.Next()
		before := dec.Stats().Fallback
		_, err := dec.ParseMessage(m.Value)
		if m.Kind != KindMalformed && dec.Stats().Fallback != before {
			t.Errorf("%s message left to the library by the one-pass decoder:\n%s", m.Kind, m.Value)
		}
		if m.Kind == KindMalformed {
			if err == nil && g.lastMalformed == malformedNoSubject {
				continue // a report without subject is valid FHIR; the hub's profile rejects it
			}
			if err == nil {
				t.Errorf("malformed message accepted:\n%s", m.Value)
			}
			bad++
			continue
		}
		if err != nil {
			t.Fatalf("%s message rejected: %v\n%s", m.Kind, err, m.Value)
		}
		ok++
	}
	if bad == 0 {
		t.Error("no malformed message rejected")
	}
	st := dec.Stats()
	t.Logf("FHIR decoding of %d valid and %d malformed messages: %d one-pass, %d left to the library", ok, bad, st.Fast, st.Fallback)
}

func TestClockAndVersions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Patients = 500
	cfg.Start = time.Date(2026, 3, 1, 8, 0, 0, 0, chinaTime)
	g := newGen(t, cfg)
	for i := 0; i < 2000; i++ {
		g.Next()
	}
	if d := g.clock.Sub(cfg.Start); d < 20*time.Hour || d > 60*time.Hour {
		t.Errorf("2000 messages at a 60s mean gap moved the clock %s", d)
	}
	for _, r := range g.recent {
		if r.updated.Before(r.issued) || r.issued.Before(r.effective) {
			t.Fatalf("report %s: effective %s issued %s updated %s", r.value, r.effective, r.issued, r.updated)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := newGen(b, DefaultConfig())
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bytes += int64(len(g.Next().Value))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/msg")
}
