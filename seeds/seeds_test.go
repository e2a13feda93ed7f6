package seeds

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
)

func TestRegion(t *testing.T) {
	r, err := Region()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Districts) != 1 || len(r.Communities) != 3 {
		t.Fatalf("%d districts, %d communities; want 1 and 3", len(r.Districts), len(r.Communities))
	}
	kinds := map[string]int{}
	for _, in := range r.Institutions {
		kinds[in.Kind]++
		if !strings.HasPrefix(in.Code, "12") {
			t.Errorf("institution %s %s: a public institution's USCC begins with 12", in.RegionCode, in.Code)
		}
		if in.Name == "" || in.NameEn == "" || in.RegionCode == "" {
			t.Errorf("institution %s: missing name, English name or region code", in.Code)
		}
	}
	if kinds["hospital"] != 6 || kinds["township"]+kinds["community"] != 12 {
		t.Errorf("institution kinds %v; want 6 hospitals and 12 centres", kinds)
	}
	for _, c := range r.Communities {
		var lead, branches, hospitals int
		for _, in := range r.Institutions {
			if in.Community != c.Code {
				continue
			}
			if in.Code == c.LeadCode {
				lead++
			}
			if in.Kind == "hospital" {
				hospitals++
			} else {
				branches++
			}
		}
		if lead != 1 || branches != 4 || hospitals != 2 {
			t.Errorf("community %s: lead %d, branches %d, hospitals %d; want 1, 4, 2", c.Code, lead, branches, hospitals)
		}
	}
	if len(r.Items) < 40 {
		t.Errorf("%d items, want at least 40", len(r.Items))
	}
	var labs, imaging int
	for _, it := range r.Items {
		if it.Kind == "lab" {
			labs++
		} else {
			imaging++
		}
	}
	if labs < 25 || imaging < 12 {
		t.Errorf("%d lab and %d imaging items", labs, imaging)
	}
}

func TestReasonsAsInDomain(t *testing.T) {
	r, err := Region()
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][2]bool{ // counts in rate, note required
		1: {true, false}, 2: {true, false}, 3: {true, false}, 4: {true, false}, 5: {true, false},
		6: {true, true}, 98: {false, false}, 99: {false, false},
	}
	if len(r.Reasons) != len(want) {
		t.Fatalf("%d reasons, want %d", len(r.Reasons), len(want))
	}
	for _, rs := range r.Reasons {
		w, ok := want[rs.Code]
		if !ok {
			t.Errorf("unexpected reason %d", rs.Code)
			continue
		}
		if rs.CountsInRate != w[0] || rs.NoteRequired != w[1] {
			t.Errorf("reason %d: counts_in_rate %v note_required %v, want %v %v", rs.Code, rs.CountsInRate, rs.NoteRequired, w[0], w[1])
		}
	}
}

func TestValidityDefaults(t *testing.T) {
	r, _ := Region()
	c := catalog.NewCatalog(r)
	for code, days := range map[string]int{
		"JY001": 7, "JY002": 7, // routine blood, urine
		"JY010": 14, "JY013": 14, "JY017": 14, // biochemistry
		"JC030": 30, "JC031": 30, // ultrasound
		"JC001": 90, "JC011": 90, "JC020": 90, // X-ray, CT, MRI
	} {
		it, ok := c.Item(code)
		if !ok || it.ValidityDays != days {
			t.Errorf("item %s: validity %v, want %d days", code, it, days)
		}
	}
}

func TestCentresDoNoCTOrMRI(t *testing.T) {
	r, _ := Region()
	c := catalog.NewCatalog(r)
	perInst := map[string]int{}
	for _, m := range r.CodeMaps {
		in, _ := c.Institution(m.Institution)
		it, _ := c.Item(m.Item)
		perInst[in.RegionCode]++
		if in.Kind != "hospital" && (strings.Contains(it.Name, "CT") || strings.Contains(it.Name, "MRI")) {
			t.Errorf("centre %s maps %s %s", in.RegionCode, it.Code, it.Name)
		}
	}
	if perInst["QX101"] >= perInst["QX001"] {
		t.Errorf("township QX101 does %d items, district hospital QX001 %d", perInst["QX101"], perInst["QX001"])
	}
}

func TestQualificationMix(t *testing.T) {
	r, _ := Region()
	c := catalog.NewCatalog(r)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var qualified, not, expired int
	for _, m := range r.CodeMaps {
		if _, ok := c.Qualified(m.Institution, m.Item, at); ok {
			qualified++
		} else {
			not++
		}
	}
	for _, q := range r.Qualifications {
		if q.ValidTo.Before(at) {
			expired++
		}
	}
	if not == 0 || expired == 0 || qualified < 2*not {
		t.Errorf("qualified %d, not qualified %d, expired periods %d: want a realistic mix", qualified, not, expired)
	}
}

// TestRegionJSONCanonical checks region.json is exactly what gen.go's encoder writes for the
// data it holds (so hand edits that gen.go would undo show up).
func TestRegionJSONCanonical(t *testing.T) {
	r, err := Region()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(b, '\n'), RegionJSON()) {
		t.Error("region.json is not in canonical form; regenerate it with go generate ./seeds")
	}
}
