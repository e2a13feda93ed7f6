package bench

import (
	"encoding/json"
	"testing"

	"github.com/mrhub/mrhub/pkg/identity"
)

// The generated patients are distinct people: each report's patient carries a valid resident ID,
// the birth date that ID encodes, and a name of its own; reports of the same patient agree.
func TestGeneratedPatientsAreDistinctPeople(t *testing.T) {
	const patients = 50
	g, err := newReportGen(patients)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]genPatient{} // by resident ID
	names := map[string]string{}
	for i := 0; i < 3*patients; i++ {
		_, v := g.render(i)
		p := patientOf(t, v)
		if err := identity.ValidateResidentID(p.nid); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if want := p.nid[6:10] + "-" + p.nid[10:12] + "-" + p.nid[12:14]; p.birth != want {
			t.Fatalf("report %d: birthDate %s, resident ID encodes %s", i, p.birth, want)
		}
		if prev, ok := seen[p.nid]; ok && prev != p {
			t.Fatalf("report %d: the same resident ID with other demographics: %+v vs %+v", i, prev, p)
		}
		seen[p.nid] = p
		if other, ok := names[p.name]; ok && other != p.nid {
			t.Fatalf("report %d: name %q shared by two resident IDs", i, p.name)
		}
		names[p.name] = p.nid
	}
	if len(seen) != patients {
		t.Fatalf("%d distinct patients, want %d", len(seen), patients)
	}
}

type genPatient struct{ nid, name, birth string }

func patientOf(t *testing.T, bundle []byte) genPatient {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string          `json:"resourceType"`
				BirthDate    string          `json:"birthDate"`
				Name         json.RawMessage `json:"name"` // a string in other resources
				Identifier   []struct {
					System string `json:"system"`
					Value  string `json:"value"`
				} `json:"identifier"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entry {
		r := e.Resource
		if r.ResourceType != "Patient" {
			continue
		}
		p := genPatient{birth: r.BirthDate}
		var names []struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(r.Name, &names); err != nil || len(names) == 0 {
			t.Fatalf("patient name %s: %v", r.Name, err)
		}
		p.name = names[0].Text
		for _, id := range r.Identifier {
			if identity.ValidateResidentID(id.Value) == nil {
				p.nid = id.Value
			}
		}
		return p
	}
	t.Fatal("no Patient in the bundle")
	return genPatient{}
}
