package sim

// Patient is a simulated patient as the hospitals' systems know them: a synthetic name and
// resident ID, never a real person's.
type Patient struct {
	Name       string
	ResidentID string
}

// FrequentPatients returns up to n of the patients who visit most often: the head of the
// Zipf-like choice of patients, which half of the visits use.
func (g *Generator) FrequentPatients(n int) []Patient {
	n = min(n, len(g.patients))
	out := make([]Patient, n)
	for i := range out {
		p := &g.patients[i]
		out[i] = Patient{Name: p.family + p.given, ResidentID: p.nid}
	}
	return out
}
