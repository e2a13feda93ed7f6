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
// Each patient has its own resident ID, name and the birth date its ID encodes, as distinct
// people do: the hub's probable-match review (name + birth date + gender) finds only the pairs
// that really share them.
type reportGen struct {
	tmpl     []byte
	idAt     []int // offsets of the report-id marker
	nidAt    []int
	nameAt   []int
	birthAt  []int
	patients int
}

const (
	idMarker    = "RPTXXXXXXXXXX"      // 13 chars
	nidMarker   = "330299195001010019" // replaced by an 18-char resident ID
	nameMarker  = "NNNNNN"             // replaced by 6 digits after the name
	birthMarker = "1901-02-03"         // replaced by the birth date the resident ID encodes
)

func newReportGen(patients int) (*reportGen, error) {
	if err := identity.ValidateResidentID(nidMarker); err != nil {
		return nil, fmt.Errorf("template resident ID: %w", err)
	}
	t := testenv.Report{Performer: testenv.HospitalA, ID: idMarker, NID: nidMarker, Name: "基准患者" + nameMarker, Gender: "male",
		BirthDate: birthMarker, Note: "benchmark report: routine blood count with eight analytes, reference ranges and units; no abnormal findings requiring follow-up."}.JSON()
	g := &reportGen{tmpl: t, patients: patients}
	g.idAt = indexAll(t, []byte(idMarker))
	g.nidAt = indexAll(t, []byte(nidMarker))
	g.nameAt = indexAll(t, []byte(nameMarker))
	g.birthAt = indexAll(t, []byte(birthMarker))
	if len(g.idAt) == 0 || len(g.nidAt) == 0 || len(g.nameAt) == 0 || len(g.birthAt) != 1 {
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
	born := time.Date(1940+p%60, time.Month(1+p/60%12), 1+p/720%28, 0, 0, 0, 0, time.UTC)
	nid := identity.NewResidentID("330299", born, p/20160%1000)
	for _, at := range g.idAt {
		copy(b[at:], id)
	}
	for _, at := range g.nidAt {
		copy(b[at:], nid)
	}
	name := fmt.Sprintf("%06d", p%1000000)
	for _, at := range g.nameAt {
		copy(b[at:], name)
	}
	for _, at := range g.birthAt {
		copy(b[at:], born.Format("2006-01-02"))
	}
	return testenv.HospitalA + "|" + id, b
}
