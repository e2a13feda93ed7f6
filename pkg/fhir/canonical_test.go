package fhir_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// canonicalReports returns the canonical form of every report of a message with its results,
// in the message's report order (the order the hub hashes them in).
func canonicalReports(t *testing.T, data []byte) []string {
	t.Helper()
	m, err := fhir.ParseMessage(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	var out []string
	for _, r := range m.Reports {
		var b bytes.Buffer
		c, err := fhir.Canonical(r.Report, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(c)
		for _, o := range r.Results {
			c, err := fhir.Canonical(o.Obs, nil)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteByte('\n')
			b.Write(c)
		}
		out = append(out, b.String())
	}
	return out
}

// TestCanonicalIgnoresSerialisation: any re-serialisation of the same content (keys shuffled at
// every level, whitespace, escapes, exponent and UTC spellings, Bundle entry order, exporter
// meta.lastUpdated/meta.source) has the same canonical form.
func TestCanonicalIgnoresSerialisation(t *testing.T) {
	inputs := map[string][]byte{"fixture": testenv.Report{Performer: testenv.HospitalA, ID: "C-1", NID: testenv.NID(5)}.JSON()}
	if b, err := os.ReadFile("testdata/bench-cbc-bundle.json"); err == nil {
		inputs["bench"] = b
	}
	dir, err := examplesDirOK()
	if err == nil {
		for _, rel := range []string{"hl7-r4-examples/Bundle/Bundle-lipids.json", "hl7-r4-examples/Bundle/Bundle-hla-1.json", "hl7-r4-examples/DiagnosticReport/DiagnosticReport-f201.json"} {
			if b, err := os.ReadFile(filepath.Join(dir, rel)); err == nil {
				inputs[rel] = b
			}
		}
	}
	for name, in := range inputs {
		want := canonicalReports(t, in)
		rng := rand.New(rand.NewPCG(1, uint64(len(in))))
		for i := range 20 {
			v := testenv.Reserialize(rng, in)
			if got := canonicalReports(t, v); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Fatalf("%s, variant %d: canonical form differs\nvariant %s\n got %s\nwant %s", name, i, v, got, want)
			}
		}
	}
}

// TestCanonicalKeepsMeaning: a change FHIR treats as meaningful changes the canonical form — a
// result value, a unit, a status, a decimal's precision, an instant's local offset.
func TestCanonicalKeepsMeaning(t *testing.T) {
	base := testenv.Report{Performer: testenv.HospitalA, ID: "C-2", NID: testenv.NID(6)}
	want := strings.Join(canonicalReports(t, base.JSON()), "\x00")
	variants := map[string][]byte{}
	v := base
	v.Values = []float64{5.3, 4.5, 135, 0.41, 90, 30, 330, 210}
	variants["value"] = v.JSON()
	v = base
	v.Status = "amended"
	variants["status"] = v.JSON()
	variants["unit"] = bytes.Replace(base.JSON(), []byte(`"unit":"10*9/L"`), []byte(`"unit":"10*12/L"`), 1)
	variants["precision"] = bytes.Replace(base.JSON(), []byte(`"value":4.5}`), []byte(`"value":4.50}`), 1)
	variants["offset"] = bytes.Replace(base.JSON(), []byte(`+08:00"`), []byte(`+09:00"`), 1)
	for name, in := range variants {
		if bytes.Equal(in, base.JSON()) {
			t.Fatalf("%s: the variant did not change the message (fixture changed?)", name)
		}
		if got := strings.Join(canonicalReports(t, in), "\x00"); got == want {
			t.Errorf("%s: canonical form unchanged", name)
		}
	}
}

func examplesDirOK() (string, error) {
	dir, err := fhirschema.SharedDir()
	return filepath.Join(dir, "examples"), err
}

// TestCanonicalMasksACopy: mask rewrites string values in the canonical form only; the decoded
// resource is left as it was.
func TestCanonicalMasksACopy(t *testing.T) {
	in := testenv.Report{Performer: testenv.HospitalA, ID: "C-3", NID: testenv.NID(7), Note: "secret-123"}.JSON()
	m, err := fhir.ParseMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Reports[0].Report
	before, _ := fhir.Marshal(r)
	plain, _ := fhir.Canonical(r, nil)
	masked, err := fhir.Canonical(r, func(s string) string { return strings.ReplaceAll(s, "secret-123", "******") })
	if err != nil {
		t.Fatal(err)
	}
	after, _ := fhir.Marshal(r)
	if bytes.Equal(plain, masked) || !bytes.Contains(plain, []byte("secret-123")) || bytes.Contains(masked, []byte("secret-123")) {
		t.Fatalf("mask not applied to the canonical form")
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("Canonical changed the resource:\n%s\n%s", before, after)
	}
}
