package bench

import (
	"bytes"
	"fmt"
	"time"

	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// reportGen renders synthetic lab reports (DiagnosticReport + 8 Observations, ~4 KB) quickly by
// patching a template: each report gets its own identifier, and patients repeat (patients ≈ n/5).
type reportGen struct {
	tmpl     []byte
	idAt     []int // offsets of the report-id marker
	nidAt    []int
	patients int
}

const (
	idMarker  = "RPTXXXXXXXXXX"      // 13 chars
	nidMarker = "330299195001010019" // replaced by an 18-char resident ID
)

func newReportGen(patients int) (*reportGen, error) {
	if err := identity.ValidateResidentID(nidMarker); err != nil {
		return nil, fmt.Errorf("template resident ID: %w", err)
	}
	t := testenv.Report{Performer: testenv.HospitalA, ID: idMarker, NID: nidMarker, Name: "基准患者", Gender: "male",
		BirthDate: "1950-01-01", Note: "benchmark report: routine blood count with eight analytes, reference ranges and units; no abnormal findings requiring follow-up."}.JSON()
	g := &reportGen{tmpl: t, patients: patients}
	g.idAt = indexAll(t, []byte(idMarker))
	g.nidAt = indexAll(t, []byte(nidMarker))
	if len(g.idAt) == 0 || len(g.nidAt) == 0 {
		return nil, fmt.Errorf("template lacks markers")
	}
	return g, nil
}

func indexAll(b, sub []byte) []int {
	var out []int
	off := 0
	for {
		i := bytes.Index(b[off:], sub)
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + len(sub)
	}
}

// render returns report i (key, value).
func (g *reportGen) render(i int) (string, []byte) {
	b := bytes.Clone(g.tmpl)
	id := fmt.Sprintf("R%012d", i)
	p := i % g.patients
	nid := identity.NewResidentID("330299", time.Date(1940+p%60, time.Month(1+p/60%12), 1+p/720%28, 0, 0, 0, 0, time.UTC), p/20160%1000)
	for _, at := range g.idAt {
		copy(b[at:], id)
	}
	for _, at := range g.nidAt {
		copy(b[at:], nid)
	}
	return testenv.HospitalA + "|" + id, b
}
