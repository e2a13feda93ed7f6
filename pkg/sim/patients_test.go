package sim

import (
	"bytes"
	"testing"

	"github.com/mrhub/mrhub/pkg/identity"
)

// The frequent patients are real members of the population, with valid resident IDs, and are
// the ones the visits pick most: each of the first five appears in more reports than an average
// patient.
func TestFrequentPatients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Patients = 2000
	g := newGen(t, cfg)
	ps := g.FrequentPatients(5)
	if len(ps) != 5 || len(g.FrequentPatients(cfg.Patients+10)) != cfg.Patients {
		t.Fatalf("FrequentPatients: %d patients", len(ps))
	}
	seen := map[string]int{}
	const n = 3000
	for i := 0; i < n; i++ {
		m := g.Next()
		for _, p := range ps {
			if bytes.Contains(m.Value, []byte(p.ResidentID)) {
				seen[p.ResidentID]++
			}
		}
	}
	for _, p := range ps {
		if err := identity.ValidateResidentID(p.ResidentID); err != nil || p.Name == "" {
			t.Errorf("patient %+v: %v", p, err)
		}
		if avg := float64(n) / float64(cfg.Patients); float64(seen[p.ResidentID]) <= avg {
			t.Errorf("patient %s appears in %d of %d messages, no more than the average %.1f", p.Name, seen[p.ResidentID], n, avg)
		}
	}
}
