package fhir_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/fhir"
)

const dr = `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"CBC"}`

// bundle wraps entries (JSON objects) in a collection Bundle.
func bundle(entries ...string) string {
	return `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
}

func ent(fullURL, res string) string {
	if fullURL == "" {
		return `{"resource":` + res + `}`
	}
	return `{"fullUrl":"` + fullURL + `","resource":` + res + `}`
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, code, path string
	}{
		// Ours (preflight): what the library does not check, or checks less precisely.
		{"not json", `hello`, fhir.CodeNotJSON, ""},
		{"empty input", ``, fhir.CodeNotJSON, ""},
		{"array root", `[{"resourceType":"Bundle"}]`, fhir.CodeNotObject, ""},
		{"string root", `"Bundle"`, fhir.CodeNotObject, ""},
		{"number root", `42`, fhir.CodeNotObject, ""},
		{"truncated", dr, fhir.CodeNotJSON, ""},
		{"trailing data", dr + `} {}`, fhir.CodeNotJSON, ""},
		{"trailing comma", dr + `,}`, fhir.CodeNotJSON, ""},
		{"bad utf8", dr + `,"conclusion":"` + "\xff" + `"}`, fhir.CodeInvalid, "DiagnosticReport.conclusion"},
		{"duplicate element", dr + `,"status":"final"}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"duplicate nested element", dr + `,"subject":{"reference":"Patient/1","reference":"Patient/2"}}`, fhir.CodeInvalid, "DiagnosticReport.subject.reference"},
		{"deep nesting", dr + `,"extension":[` + strings.Repeat(`{"url":"u","extension":[`, 300) + `{"url":"u","valueCode":"c"}` + strings.Repeat(`]}`, 300) + `]}`, fhir.CodeInvalid, ""},
		{"missing resourceType", `{"status":"final"}`, fhir.CodeResourceType, ""},
		{"empty bound code", `{"resourceType":"DiagnosticReport","status":"","code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"empty bound code in entry", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Observation","status":"","code":{"text":"x"}}`)), fhir.CodeInvalid, "Bundle.entry[1].resource.status"},
		{"unknown root type", `{"resourceType":"Foo"}`, fhir.CodeResourceType, ""},
		{"non-report root", `{"resourceType":"Patient","id":"p"}`, fhir.CodeResourceType, ""},
		// The library's validation, mapped onto our codes and paths.
		{"unknown element", dr + `,"foo":1}`, fhir.CodeUnknownElement, "DiagnosticReport.foo"},
		{"unknown element in datatype", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x","codingg":[]}}`, fhir.CodeUnknownElement, "DiagnosticReport.code.codingg"},
		{"unknown element in entry", bundle(ent("", dr+`,"foo":1}`)), fhir.CodeUnknownElement, "Bundle.entry[0].resource.foo"},
		{"unknown resource type in entry", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Foo"}`)), fhir.CodeResourceType, "Bundle.entry[1].resource"},
		{"null", `{"resourceType":"DiagnosticReport","status":null,"code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"wrong type string", `{"resourceType":"DiagnosticReport","status":1,"code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"wrong type array", dr + `,"result":{"reference":"Observation/1"}}`, fhir.CodeInvalid, "DiagnosticReport.result"},
		{"bad status code", `{"resourceType":"DiagnosticReport","status":"done","code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"bad identifier use", dr + `,"identifier":[{"use":"primary","value":"1"}]}`, fhir.CodeInvalid, "DiagnosticReport.identifier[0].use"},
		{"bad id", dr + `,"id":"a b"}`, fhir.CodeInvalid, "DiagnosticReport.id"},
		{"id too long", dr + `,"id":"` + strings.Repeat("a", 65) + `"}`, fhir.CodeInvalid, "DiagnosticReport.id"},
		{"bad date", dr + `,"effectiveDateTime":"2024-13-01"}`, fhir.CodeInvalid, "DiagnosticReport.effectiveDateTime"},
		{"dateTime without zone", dr + `,"effectiveDateTime":"2024-01-01T10:00:00"}`, fhir.CodeInvalid, "DiagnosticReport.effectiveDateTime"},
		{"instant date only", dr + `,"issued":"2024-01-01"}`, fhir.CodeInvalid, "DiagnosticReport.issued"},
		{"feb 29 of a common year", dr + `,"effectiveDateTime":"2023-02-29"}`, fhir.CodeInvalid, "DiagnosticReport.effectiveDateTime"},
		{"two choice types", dr + `,"effectiveDateTime":"2024-01-01","effectivePeriod":{"start":"2024-01-01"}}`, fhir.CodeInvalid, "DiagnosticReport.effective[x]"},
		{"wrong reference type", dr + `,"subject":{"reference":"Organization/1"}}`, fhir.CodeInvalid, "DiagnosticReport.subject"},
		{"extension unknown key", dr + `,"extension":[{"url":"http://x","valueFoo":"a"}]}`, fhir.CodeUnknownElement, "DiagnosticReport.extension[0].valueFoo"},
		{"missing status", `{"resourceType":"DiagnosticReport","code":{"text":"x"}}`, fhir.CodeRequired, "DiagnosticReport.status"},
		{"missing code", `{"resourceType":"DiagnosticReport","status":"final"}`, fhir.CodeRequired, "DiagnosticReport.code"},
		{"missing bundle type", `{"resourceType":"Bundle","entry":[{"resource":` + dr + `}}]}`, fhir.CodeRequired, "Bundle.type"},
		{"observation missing status", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Observation","code":{"text":"x"}}`)), fhir.CodeRequired, "Bundle.entry[1].resource.status"},
		{"servicerequest missing intent", bundle(ent("", dr+`}`), ent("", `{"resourceType":"ServiceRequest","status":"active","subject":{"reference":"Patient/1"}}`)), fhir.CodeRequired, "Bundle.entry[1].resource.intent"},
		{"imagingstudy missing subject", bundle(ent("", dr+`}`), ent("", `{"resourceType":"ImagingStudy","status":"available"}`)), fhir.CodeRequired, "Bundle.entry[1].resource.subject"},
		{"bad element in any resource type", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Condition","id":"c1","whatever":[]}`)), fhir.CodeUnknownElement, "Bundle.entry[1].resource.whatever"},
		{"no report", bundle(ent("urn:uuid:0b8d7c6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e", `{"resourceType":"Patient","id":"p"}`)), fhir.CodeNoReport, "Bundle"},
		{"empty bundle", `{"resourceType":"Bundle","type":"searchset","total":0}`, fhir.CodeNoReport, "Bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := fhir.ParseMessage([]byte(tt.in))
			var fe *fhir.Error
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, %v; want *fhir.Error %s", m, err, tt.code)
			}
			if fe.Code != tt.code {
				t.Fatalf("code %s (%v), want %s", fe.Code, fe, tt.code)
			}
			if tt.path != "" && fe.Path != tt.path {
				t.Fatalf("path %q (%v), want %q", fe.Path, fe, tt.path)
			}
			if fe.Msg == "" || fe.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

// TestStricterThanR4 lists what R4 JSON allows but the library's decoder refuses: a null
// placeholder in a primitive's extension array ("_given":[null,{…}], R4 JSON §2.6.2), which
// it reads as a null string. docs/integration.md lists it.
func TestStricterThanR4(t *testing.T) {
	in := bundle(ent("urn:uuid:11111111-1111-4111-8111-111111111111", `{"resourceType":"Patient","name":[{"given":["A","B"],"_given":[null,{"id":"g2"}]}]}`),
		ent("", dr+`,"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}}`))
	_, err := fhir.ParseMessage([]byte(in))
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Code != fhir.CodeInvalid || fe.Path != "Bundle.entry[0].resource.name[0]._given[0]" {
		t.Fatalf("got %v; the library accepts null in _given now: update the list in docs/integration.md", err)
	}
}

// TestLooserThanSchema lists what R4 JSON forbids but the library's decoder
// accepts, and the hub therefore indexes: empty strings, arrays and objects,
// and broken invariants (a Period that ends before it starts, a Reference
// with nothing in it, contained resources inside contained ones).
// docs/integration.md ("Decoding: what the hub checks") lists them.
func TestLooserThanSchema(t *testing.T) {
	for name, in := range map[string]string{
		"empty string":     dr + `,"conclusion":""}`,
		"empty array":      dr + `,"result":[]}`,
		"empty object":     dr + `,"subject":{}}`,
		"period inverted":  dr + `,"effectivePeriod":{"start":"2024-02-01","end":"2024-01-31T23:59:59Z"}}`,
		"empty reference":  dr + `,"subject":{"type":"Patient"}}`,
		"contained nested": dr + `,"contained":[{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p"}]}]}`,
	} {
		if _, err := fhir.ParseMessage([]byte(in)); err != nil {
			t.Errorf("%s: %v (the library accepts it; if it no longer does, update the list in docs/integration.md)", name, err)
		}
	}
}

const (
	uPat = "urn:uuid:11111111-1111-4111-8111-111111111111"
	uOrg = "urn:uuid:22222222-2222-4222-8222-222222222222"
	uObs = "urn:uuid:33333333-3333-4333-8333-333333333333"
)

func obsJSON(id string, extra string) string {
	return `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"` + id + `"}` + extra + `}`
}

func TestReferenceStyles(t *testing.T) {
	report := `{"resourceType":"DiagnosticReport","id":"r1","status":"final","code":{"text":"CBC"},
		"subject":{"reference":"` + uPat + `"},
		"performer":[{"reference":"Organization?identifier=http://org.example|A1"},{"display":"Dr Who"},{"reference":"PractitionerRole/pr1"},{"identifier":{"system":"http://npi","value":"9"}}],
		"result":[
			{"reference":"` + uObs + `"},
			{"reference":"Observation/rel"},
			{"reference":"Observation/ver/_history/2"},
			{"reference":"Observation/ver/_history/3"},
			{"reference":"http://b.example/fhir/Observation/same"},
			{"reference":"Observation/same"},
			{"reference":"urn:oid:1.2.3.4"},
			{"reference":"#c1"},
			{"reference":"Observation/missing"},
			{"display":"text only"},
			{"reference":"Observation?identifier=http://dup|1"}
		],
		"basedOn":[{"reference":"ServiceRequest/sr1"}],
		"specimen":[{"reference":"Specimen/sp1"}],
		"imagingStudy":[{"reference":"ImagingStudy/is1"}],
		"contained":[` + obsJSON("c1", "") + `]}`
	in := bundle(
		ent("http://b.example/fhir/DiagnosticReport/r1", report),
		ent(uPat, `{"resourceType":"Patient","id":"p1","_gender":{"extension":[{"url":"http://x","valueCode":"u"}]}}`),
		ent(uOrg, `{"resourceType":"Organization","id":"o1","identifier":[{"system":"http://org.example","value":"A1"}],"name":"Lab"}`),
		ent(uObs, obsJSON("u1", "")),
		ent("", obsJSON("rel", "")),
		ent("http://a.example/fhir/Observation/ver", obsJSON("ver", `,"meta":{"versionId":"2"}`)),
		ent("http://a.example/fhir/Observation/same", obsJSON("same", "")),
		ent("http://b.example/fhir/Observation/same", obsJSON("same", "")),
		ent("urn:oid:1.2.3.4", obsJSON("oid", "")),
		ent("", obsJSON("d1", `,"identifier":[{"system":"http://dup","value":"1"}]`)),
		ent("", obsJSON("d2", `,"identifier":[{"system":"http://dup","value":"1"}]`)),
		ent("", `{"resourceType":"PractitionerRole","id":"pr1","organization":{"reference":"`+uOrg+`"}}`),
		ent("", `{"resourceType":"ServiceRequest","id":"sr1","status":"active","intent":"order","subject":{"reference":"Patient/p1"}}`),
		ent("", `{"resourceType":"Specimen","id":"sp1"}`),
		ent("", `{"resourceType":"ImagingStudy","id":"is1","status":"available","subject":{"reference":"Patient/p1"}}`),
	)
	m, err := fhir.ParseMessage([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r := m.Reports[0]
	if r.Subject == nil || fhir.ID(r.Subject) != "p1" {
		t.Errorf("subject not resolved")
	}
	if len(r.Performers) != 1 || fhir.ID(r.Performers[0]) != "o1" || len(r.PerformerRefs) != 4 {
		t.Errorf("performers %v refs %d", r.Performers, len(r.PerformerRefs))
	}
	var got []string
	for _, o := range r.Results {
		got = append(got, fhir.ID(o.Obs)+"@"+o.Path)
	}
	want := []string{
		"u1@Bundle.entry[3].resource",
		"rel@Bundle.entry[4].resource",
		"ver@Bundle.entry[5].resource",
		"same@Bundle.entry[7].resource", // absolute URL
		"same@Bundle.entry[7].resource", // relative, against the report's fullUrl base
		"oid@Bundle.entry[8].resource",
		"c1@Bundle.entry[0].resource.contained[0]",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("results\n got %v\nwant %v", got, want)
	}
	var unres []string
	for _, u := range r.Unresolved {
		unres = append(unres, u.Path+"="+u.Reference)
	}
	wantUnres := []string{
		"Bundle.entry[0].resource.result[3]=Observation/ver/_history/3",
		"Bundle.entry[0].resource.result[8]=Observation/missing",
		"Bundle.entry[0].resource.result[10]=Observation?identifier=http://dup|1", // two matches
	}
	if strings.Join(unres, " ") != strings.Join(wantUnres, " ") {
		t.Errorf("unresolved\n got %v\nwant %v", unres, wantUnres)
	}
	if len(r.BasedOn) != 1 || len(r.Specimens) != 1 || len(r.Imaging) != 1 || r.Imaging[0].Path != "Bundle.entry[14].resource" {
		t.Errorf("basedOn %d specimens %d imaging %d", len(r.BasedOn), len(r.Specimens), len(r.Imaging))
	}
	if string(r.Results[6].Raw) != obsJSON("c1", "") {
		t.Errorf("contained raw %s", r.Results[6].Raw)
	}
	if string(r.Results[0].Raw) != obsJSON("u1", "") || !strings.HasPrefix(string(r.Raw), `{"resourceType":"DiagnosticReport","id":"r1"`) {
		t.Errorf("raw bytes: %s / %.60s", r.Results[0].Raw, r.Raw)
	}
}

func TestNestedBundles(t *testing.T) {
	inner := func(id string) string {
		return `{"resourceType":"Bundle","type":"collection","entry":[` +
			ent("urn:uuid:aaaaaaaa-0000-4000-8000-00000000000"+id, `{"resourceType":"DiagnosticReport","id":"r`+id+`","status":"final","code":{"text":"x"},"subject":{"reference":"`+uPat+`"},"result":[{"reference":"`+uObs+`"}]}`) + "," +
			ent(uObs, obsJSON("inner"+id, "")) + `]}`
	}
	in := bundle(
		ent("", inner("1")),
		ent(uObs, obsJSON("outer", "")),
		ent(uPat, `{"resourceType":"Patient","id":"p"}`),
		ent("", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":`+inner("2")+`}]}`),
		ent("", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"y"},"result":[{"reference":"`+uObs+`"}]}`),
	)
	m, err := fhir.ParseMessage([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Reports) != 3 {
		t.Fatalf("%d reports", len(m.Reports))
	}
	for i, w := range []struct{ path, obs string }{
		{"Bundle.entry[0].resource.entry[0].resource", "inner1"},
		{"Bundle.entry[3].resource.entry[0].resource.entry[0].resource", "inner2"},
		{"Bundle.entry[4].resource", "outer"},
	} {
		r := m.Reports[i]
		if r.Path != w.path || len(r.Results) != 1 || fhir.ID(r.Results[0].Obs) != w.obs {
			t.Errorf("report %d: %s %+v", i, r.Path, r.Results)
		}
		if i < 2 && (r.Subject == nil || fhir.ID(r.Subject) != "p") {
			t.Errorf("report %d: subject from the outer bundle not resolved", i)
		}
	}
}

func TestContainedRoot(t *testing.T) {
	in := `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},
	"contained":[{"resourceType":"Patient","id":"p"},{"resourceType":"Organization","id":"o","name":"Lab"},` + obsJSON("o1", "") + `,{"resourceType":"Provenance","id":"prov"}],
	"subject":{"reference":"#p"},"performer":[{"reference":"#o"}],"result":[{"reference":"#o1"},{"reference":"#nope"},{"reference":"Observation/x"}]}`
	m, err := fhir.ParseMessage([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r := m.Reports[0]
	if m.RootType != "DiagnosticReport" || r.Path != "DiagnosticReport" || fhir.Resource(m.Root) != r.Report || string(r.Raw) != in {
		t.Fatalf("root view %+v", r)
	}
	if r.Subject == nil || len(r.Performers) != 1 || len(r.Results) != 1 || r.Results[0].Path != "DiagnosticReport.contained[2]" {
		t.Fatalf("contained resolution: %+v", r)
	}
	if len(r.Unresolved) != 2 {
		t.Fatalf("unresolved %+v", r.Unresolved)
	}
}

// TestPrimitiveExtensionsRoundTrip: primitive extensions ("_family", "_given"),
// nested extensions and decimal precision survive decoding and the library's marshaller.
func TestPrimitiveExtensionsRoundTrip(t *testing.T) {
	pat := `{"resourceType":"Patient","id":"p1",` +
		`"extension":[{"url":"http://ext/a","valueCodeableConcept":{"coding":[{"system":"http://s","code":"c"}]}},{"url":"http://ext/b","extension":[{"url":"x","valueDecimal":1.50}]}],` +
		`"name":[{"family":"Wang","_family":{"extension":[{"url":"http://ext/own","valueString":"VV"}]},"given":["Xiao","Ming"],"_given":[{"id":"g1"},{"id":"g2","extension":[{"url":"http://ext/q","valueBoolean":true}]}]}],` +
		`"gender":"unknown","_gender":{"extension":[{"url":"http://ext/g","valueCode":"x"}]},` +
		`"_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},` +
		`"multipleBirthInteger":2}`
	m, err := fhir.ParseMessage([]byte(bundle(ent("urn:uuid:11111111-1111-4111-8111-111111111111", pat),
		ent("", dr+`,"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}}`))))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Reports[0].Subject
	if p == nil || fhir.Code(p.GetGender()) != "unknown" || len(p.GetName()[0].GetGiven()) != 2 {
		t.Fatalf("patient not decoded: %v", p)
	}
	out, err := fhir.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, []byte(pat), out) {
		t.Fatalf("round trip:\n in %s\nout %s", pat, out)
	}
	if !strings.Contains(string(out), `"valueDecimal":1.50`) {
		t.Fatalf("decimal precision lost: %s", out)
	}
}

func TestParseDateTime(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		in   string
		want time.Time
		prec fhir.Precision
	}{
		{"2024", time.Date(2024, 1, 1, 0, 0, 0, 0, cst), fhir.PrecisionYear},
		{"2024-03", time.Date(2024, 3, 1, 0, 0, 0, 0, cst), fhir.PrecisionMonth},
		{"2024-03-05", time.Date(2024, 3, 5, 0, 0, 0, 0, cst), fhir.PrecisionDay},
		{"2024-03-05T08:30:00Z", time.Date(2024, 3, 5, 8, 30, 0, 0, time.UTC), fhir.PrecisionSecond},
		{"2024-03-05T08:30:00.25+11:00", time.Date(2024, 3, 4, 21, 30, 0, 250_000_000, time.UTC), fhir.PrecisionSecond},
		{"2013-01-27T11:45:33-06:00", time.Date(2013, 1, 27, 17, 45, 33, 0, time.UTC), fhir.PrecisionSecond},
	}
	for _, tt := range tests {
		got, prec, err := fhir.ParseDateTime(tt.in, cst)
		if err != nil || !got.Equal(tt.want) || prec != tt.prec {
			t.Errorf("%s: %v %v %v, want %v %v", tt.in, got, prec, err, tt.want, tt.prec)
		}
	}
	for _, bad := range []string{"", "24", "2024-1", "2024-02-30", "2024-03-05T25:00:00Z", "2024-03-05 08:30:00Z", "0000", "2024-03-05T08:30:00+15:00"} {
		if _, _, err := fhir.ParseDateTime(bad, cst); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := fhir.UpperBound(time.Date(2024, 2, 1, 0, 0, 0, 0, cst), fhir.PrecisionMonth); !got.Equal(time.Date(2024, 3, 1, 0, 0, 0, 0, cst)) {
		t.Errorf("UpperBound %v", got)
	}
}

// TestDecoderZone: partial dates are read in the Decoder's zone, also for a fixed zone that
// has no IANA name, and such values marshal back as sent.
func TestDecoderZone(t *testing.T) {
	for _, loc := range []*time.Location{time.FixedZone("CST", 8*3600), mustZone(t, "Asia/Shanghai")} {
		d := fhir.NewDecoder(loc)
		in := bundle(ent("urn:uuid:11111111-1111-4111-8111-111111111111", `{"resourceType":"Patient","birthDate":"1980-02-03"}`),
			ent("", dr+`,"effectiveDateTime":"2024-03-05","subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}}`))
		m, err := d.ParseMessage([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		r := m.Reports[0]
		if got, want := fhir.Instant(r.Report.GetEffective().GetDateTime()), time.Date(2024, 3, 5, 0, 0, 0, 0, loc); !got.Equal(want) {
			t.Errorf("%v: effective %v, want %v", loc, got, want)
		}
		if got := fhir.CalendarDate(r.Subject.GetBirthDate()); !got.Equal(time.Date(1980, 2, 3, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%v: birthDate %v", loc, got)
		}
		out, err := fhir.Marshal(r.Subject)
		if err != nil || !strings.Contains(string(out), `"birthDate":"1980-02-03"`) {
			t.Errorf("%v: %s %v", loc, out, err)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("zone %s not available: %v", name, err)
	}
	return l
}
