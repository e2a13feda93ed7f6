package profile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/seeds"
)

func offlineProfiler(t *testing.T) (*profile.Profiler, *identity.Hasher) {
	t.Helper()
	r, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	h, err := identity.NewHasher([]byte("0123456789abcdef-spelling-test"))
	if err != nil {
		t.Fatal(err)
	}
	return &profile.Profiler{Catalog: catalog.NewCatalog(r), Hasher: h, Location: time.FixedZone("CST", 8*3600)}, h
}

// spell writes s as the inside of a JSON string, escaping each character as \uXXXX with
// probability p (hex digits in random case); control characters, quotes and backslashes always.
func spell(rng *rand.Rand, s string, p float64) string {
	var b strings.Builder
	for _, c := range s {
		if rng.Float64() < p || c < 0x20 || c == '"' || c == '\\' {
			h := fmt.Sprintf("%04x", c)
			if rng.IntN(2) == 0 {
				h = strings.ToUpper(h)
			}
			b.WriteString(`\u` + h)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// decodedStrings returns every string (keys included) of a JSON document, decoded.
func decodedStrings(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
	if !json.Valid(b) {
		t.Fatalf("stored resource is not valid JSON: %s", b)
	}
	return out
}

// TestIdentityNumbersInAnySpellingAreOneNumberAndNeverStored is a property test over the
// spellings of a resident ID and an insurance number (\uXXXX escapes of any subset of their
// characters, surrounding white space, a lower- or upper-case check letter x) and the places a
// report carries them (a Patient entry, a contained Patient, subject.identifier, a conditional
// reference, percent-encoded or not). Every spelling is the same number: the same keyed hash,
// the same masked form; and the stored report and results hold the number in no spelling.
func TestIdentityNumbersInAnySpellingAreOneNumberAndNeverStored(t *testing.T) {
	p, h := offlineProfiler(t)
	var nid string
	for seq := 0; ; seq++ { // a resident ID with the check letter X, to spell it x too
		if nid = testenv.NID(seq); strings.HasSuffix(nid, "X") {
			break
		}
	}
	const ins = "QX9876543210"
	wantNID, wantIns := h.Hash(identity.KindNationalID, "", nid), h.Hash(identity.KindInsurance, "", ins)
	rng := rand.New(rand.NewPCG(21, 4))
	for i := 0; i < 300; i++ {
		n := nid
		if rng.IntN(2) == 0 {
			n = strings.ToLower(n)
		}
		n = [...]string{"", " ", "\t", "  "}[rng.IntN(4)] + n + [...]string{"", " ", "\n"}[rng.IntN(3)]
		place := rng.IntN(4)
		p0 := [...]float64{0, 0.3, 1}[rng.IntN(3)]
		nidJSON := spell(rng, n, p0)
		insJSON := spell(rng, ins, p0)
		idents := `[{"system":"http://mrhub.example/sid/resident-id","value":"` + nidJSON + `"},` +
			`{"system":"http://mrhub.example/sid/insurance","value":"` + insJSON + `"}]`
		var subject, contained, patientEntry string
		switch place {
		case 0: // a Patient entry of the Bundle
			subject = `{"reference":"urn:uuid:p"}`
			patientEntry = `,{"fullUrl":"urn:uuid:p","resource":{"resourceType":"Patient","identifier":` + idents + `}}`
		case 1: // a contained Patient
			subject = `{"reference":"#p"}`
			contained = `"contained":[{"resourceType":"Patient","id":"p","identifier":` + idents + `}],`
		case 2: // subject.identifier (one identifier only: the resident ID)
			subject = `{"identifier":{"system":"http://mrhub.example/sid/resident-id","value":"` + nidJSON + `"},"display":"` + nidJSON + `"}`
		case 3: // a conditional reference that resolves to no resource of the message
			v := "http://mrhub.example/sid/resident-id|" + strings.TrimSpace(n)
			if rng.IntN(2) == 0 { // percent-encoded, digits of the number too
				v = url.QueryEscape("http://mrhub.example/sid/resident-id|") + strings.ReplaceAll(strings.TrimSpace(n), "3", "%33")
			}
			subject = `{"reference":"Patient?identifier=` + spell(rng, v, p0) + `"}`
		}
		obsSubject := subject
		if place == 0 || place == 1 {
			obsSubject = `{"identifier":{"system":"http://mrhub.example/sid/resident-id","value":"` + nidJSON + `"}}`
		}
		msg := `{"resourceType":"Bundle","type":"collection","entry":[` +
			`{"fullUrl":"urn:uuid:dr","resource":{"resourceType":"DiagnosticReport",` + contained + `"status":"final",` +
			`"identifier":[{"system":"http://his.qx001.example/report","value":"R` + fmt.Sprint(i) + `"}],` +
			`"code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}]},"subject":` + subject + `,` +
			`"conclusion":"patient ` + nidJSON + `","effectiveDateTime":"2026-11-20T08:30:00+08:00","result":[{"reference":"urn:uuid:o"}]}},` +
			`{"fullUrl":"urn:uuid:o","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":` + obsSubject +
			`,"note":[{"text":"` + nidJSON + `"}],"valueString":"ok"}}` + patientEntry + `]}`
		es, err := p.Message([]byte(msg), testenv.HospitalA)
		if err != nil {
			t.Fatalf("case %d (place %d): %v\n%s", i, place, err, msg)
		}
		e := es[0]
		var gotNID, gotIns *identity.Key
		for j, k := range e.Patient.Keys {
			switch k.Kind {
			case identity.KindNationalID:
				gotNID = &e.Patient.Keys[j]
			case identity.KindInsurance:
				gotIns = &e.Patient.Keys[j]
			}
		}
		if gotNID == nil || !bytes.Equal(gotNID.Hash, wantNID) || gotNID.Masked != identity.Mask(identity.KindNationalID, nid) {
			t.Fatalf("case %d (place %d): resident ID key %+v, want the hash and mask of %s\n%s", i, place, gotNID, identity.Mask("nid", nid), msg)
		}
		if place < 2 && (gotIns == nil || !bytes.Equal(gotIns.Hash, wantIns)) {
			t.Fatalf("case %d (place %d): insurance key %+v, want the number's hash", i, place, gotIns)
		}
		stored := [][]byte{e.Resource}
		for _, o := range e.Observations {
			stored = append(stored, o.Resource)
		}
		for _, b := range stored {
			checkNoNumber(t, fmt.Sprintf("case %d (place %d)", i, place), b, []string{nid, ins}, []string{nidJSON, insJSON})
		}
		checkEntryFaithful(t, e)
	}
}

// checkNoNumber fails when b holds any of numbers in any spelling: the raw bytes, the given
// JSON spellings, or a decoded string (percent-decoded too) that contains the number.
func checkNoNumber(t *testing.T, what string, b []byte, numbers, spellings []string) {
	t.Helper()
	low := strings.ToLower(string(b))
	for _, n := range numbers {
		if strings.Contains(low, strings.ToLower(n)) {
			t.Fatalf("%s: stored bytes hold the number in clear: %s", what, b)
		}
	}
	for _, s := range spellings {
		if strings.Contains(string(b), strings.TrimSpace(s)) && strings.Contains(s, `\u`) {
			t.Fatalf("%s: stored bytes hold an escaped spelling %s: %s", what, s, b)
		}
	}
	for _, s := range decodedStrings(t, b) {
		cands := []string{strings.ToLower(s)}
		if u, err := url.QueryUnescape(s); err == nil {
			cands = append(cands, strings.ToLower(u))
		}
		for _, c := range cands {
			for _, n := range numbers {
				if strings.Contains(c, strings.ToLower(n)) {
					t.Fatalf("%s: stored string %q holds the number", what, s)
				}
			}
		}
	}
}

// checkEntryFaithful: masking rewrote only strings; the stored resource still decodes.
func checkEntryFaithful(t *testing.T, e *index.Entry) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Resource, &m); err != nil || m["resourceType"] != "DiagnosticReport" {
		t.Fatalf("stored report does not decode: %v", err)
	}
}

// TestMaskingKeepsTheRestOfTheJSONAsReceived: only the string values that hold a number change;
// every other byte (white space, key order, number spelling, other escapes) is kept.
func TestMaskingKeepsTheRestOfTheJSONAsReceived(t *testing.T) {
	p, _ := offlineProfiler(t)
	nid := testenv.NID(5)
	esc := spell(rand.New(rand.NewPCG(1, 2)), nid, 1)
	msg := `{ "resourceType" : "DiagnosticReport", "status":"final",
	  "code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}], "text":"caf\u00e9 \/ 1.50"},
	  "subject":{"identifier":{"system":"http://mrhub.example/sid/resident-id","value":"` + esc + `"}},
	  "effectiveDateTime":"2026-11-20T08:30:00+08:00", "conclusion" : "1.0e2" }`
	es, err := p.Message([]byte(msg), testenv.HospitalA)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(msg, `"`+esc+`"`, `"`+identity.Mask(identity.KindNationalID, nid)+`"`, 1)
	if string(es[0].Resource) != want {
		t.Fatalf("stored:\n%s\nwant:\n%s", es[0].Resource, want)
	}
}
