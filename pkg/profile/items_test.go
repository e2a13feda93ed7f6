package profile_test

import (
	"encoding/json"
	"testing"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/seeds"
)

// MapItem maps codings exactly as Report maps a DiagnosticReport's code (plus the catalogue item
// system, which reports do not use).
func TestMapItemMapsAsReportsAreMapped(t *testing.T) {
	region, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.NewCatalog(region)
	hasher, err := identity.NewHasher([]byte("0123456789abcdef-items-test"))
	if err != nil {
		t.Fatal(err)
	}
	prof := &profile.Profiler{Catalog: cat, Hasher: hasher}
	const qx002, qx001 = "http://his.qx002.example/lab-codes", "http://his.qx002.example/lab-codes-x"
	cases := [][]profile.Coding{
		{{qx002, "XCG"}}, // HospitalB's own map: JY001
		{{"http://unknown.example", "x"}, {testenv.LOINC, "58410-2"}}, // a standard code second: JY001
		{{testenv.LOINC, "24357-6"}, {qx002, "XCG"}},                  // the first that maps wins: JY002
		{{"http://his.qx001.example/lab-codes", "6587"}},              // another institution's map: none
		{{"", "XCG"}},     // a bare code outside the sender's map: none
		{{qx001, "Z901"}}, // unknown: none
	}
	for i, codings := range cases {
		r := testenv.Report{Performer: testenv.HospitalB, ID: "M" + string(rune('0'+i)), NID: testenv.NID(i)}
		var b map[string]any
		if err := json.Unmarshal(r.JSON(), &b); err != nil {
			t.Fatal(err)
		}
		var cs []any
		for _, c := range codings {
			m := map[string]any{"code": c.Code}
			if c.System != "" {
				m["system"] = c.System
			}
			cs = append(cs, m)
		}
		b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["code"] = map[string]any{"coding": cs}
		msg, _ := json.Marshal(b)
		es, err := prof.Message(msg, testenv.HospitalB)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		it, _ := profile.MapItem(cat, testenv.HospitalB, codings)
		got := ""
		if it != nil {
			got = it.Code
		}
		if want := []string{"JY001", "JY001", "JY002", "", "", ""}[i]; got != want {
			t.Errorf("case %d %v: MapItem gives %q, want %q", i, codings, got, want)
		}
		if got != es[0].Item {
			t.Errorf("case %d %v: MapItem gives %q, the profile of a report %q", i, codings, got, es[0].Item)
		}
	}
	if it, i := profile.MapItem(cat, testenv.HospitalB, []profile.Coding{{"x", "y"}, {profile.ItemSystem, "JY002"}}); it == nil || it.Code != "JY002" || i != 1 {
		t.Errorf("the catalogue item system: %v %d", it, i)
	}
}
