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
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"Hb"}}`
	tests := []struct {
		name, in, code, path string
	}{
		{"not json", `hello`, fhir.CodeNotJSON, ""},
		{"empty input", ``, fhir.CodeNotJSON, ""},
		{"array root", `[{"resourceType":"Bundle"}]`, fhir.CodeNotJSON, ""},
		{"truncated", dr, fhir.CodeNotJSON, "DiagnosticReport"},
		{"trailing data", dr + `} {}`, fhir.CodeNotJSON, "DiagnosticReport"},
		{"trailing comma", dr + `,}`, fhir.CodeNotJSON, "DiagnosticReport"},
		{"bad utf8", dr + `,"conclusion":"` + "\xff" + `"}`, fhir.CodeNotJSON, "DiagnosticReport.conclusion"},
		{"observation root", obs, fhir.CodeResourceType, ""},
		{"no resourceType", `{"status":"final"}`, fhir.CodeResourceType, ""},
		{"unknown resourceType", `{"resourceType":"Report"}`, fhir.CodeResourceType, ""},
		{"unknown entry resourceType", bundle(ent("", `{"resourceType":"Thing"}`)), fhir.CodeResourceType, "Bundle.entry[0].resource"},
		{"entry resource without resourceType", bundle(ent("", `{"id":"x"}`)), fhir.CodeResourceType, "Bundle.entry[0].resource"},
		{"unknown element", bundle(ent("", dr+`}`), ent("", dr+`}`), ent("", dr+`}`), ent("", `{"resourceType":"Observation","foo":1}`)), fhir.CodeUnknownElement, "Bundle.entry[3].resource.foo"},
		{"unknown nested element", dr + `,"code":{"text":"x","codingg":[]}}`, fhir.CodeInvalid, "DiagnosticReport.code"}, // duplicate "code" found first
		{"unknown element in datatype", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x","codingg":[]}}`, fhir.CodeUnknownElement, "DiagnosticReport.code.codingg"},
		{"null", `{"resourceType":"DiagnosticReport","status":null,"code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"null in array", dr + `,"result":[null]}`, fhir.CodeInvalid, "DiagnosticReport.result[0]"},
		{"empty string", dr + `,"conclusion":""}`, fhir.CodeInvalid, "DiagnosticReport.conclusion"},
		{"empty array", dr + `,"result":[]}`, fhir.CodeInvalid, "DiagnosticReport.result"},
		{"empty object", dr + `,"subject":{}}`, fhir.CodeInvalid, "DiagnosticReport.subject"},
		{"wrong type string", `{"resourceType":"DiagnosticReport","status":1,"code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"wrong type array", dr + `,"result":{"reference":"Observation/1"}}`, fhir.CodeInvalid, "DiagnosticReport.result"},
		{"quantity value string", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"5"}}`)), fhir.CodeInvalid, "Bundle.entry[1].resource.valueQuantity.value"},
		{"integer with fraction", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.5}`)), fhir.CodeInvalid, "Bundle.entry[1].resource.valueInteger"},
		{"bad status code", `{"resourceType":"DiagnosticReport","status":"done","code":{"text":"x"}}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"bad gender", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Patient","gender":"M"}`)), fhir.CodeInvalid, "Bundle.entry[1].resource.gender"},
		{"bad identifier use", dr + `,"identifier":[{"use":"primary","value":"1"}]}`, fhir.CodeInvalid, "DiagnosticReport.identifier[0].use"},
		{"bad bundle type", `{"resourceType":"Bundle","type":"bag"}`, fhir.CodeInvalid, "Bundle.type"},
		{"bad id", dr + `,"id":"a b"}`, fhir.CodeInvalid, "DiagnosticReport.id"},
		{"id too long", dr + `,"id":"` + strings.Repeat("a", 65) + `"}`, fhir.CodeInvalid, "DiagnosticReport.id"},
		{"bad date", dr + `,"effectiveDateTime":"2024-13-01"}`, fhir.CodeInvalid, "DiagnosticReport.effectiveDateTime"},
		{"dateTime without zone", dr + `,"effectiveDateTime":"2024-01-01T10:00:00"}`, fhir.CodeInvalid, "DiagnosticReport.effectiveDateTime"},
		{"instant date only", dr + `,"issued":"2024-01-01"}`, fhir.CodeInvalid, "DiagnosticReport.issued"},
		{"feb 30", dr + `,"effectiveDateTime":"2023-02-29"}`, fhir.CodeInvalid, "DiagnosticReport.effectiveDateTime"},
		{"bad uri", dr + `,"implicitRules":"http://a b"}`, fhir.CodeInvalid, "DiagnosticReport.implicitRules"},
		{"bad code whitespace", dr + `,"language":" en"}`, fhir.CodeInvalid, "DiagnosticReport.language"},
		{"duplicate element", dr + `,"status":"final"}`, fhir.CodeInvalid, "DiagnosticReport.status"},
		{"choice twice", dr + `,"effectiveDateTime":"2024","effectivePeriod":{"start":"2024"}}`, fhir.CodeInvalid, "DiagnosticReport"},
		{"period inverted", dr + `,"effectivePeriod":{"start":"2024-02-01","end":"2024-01-31T23:59:59Z"}}`, fhir.CodeInvalid, "DiagnosticReport.effectivePeriod"},
		{"empty reference", dr + `,"subject":{"type":"Patient"}}`, fhir.CodeInvalid, "DiagnosticReport.subject"},
		{"extension two values", dr + `,"extension":[{"url":"http://x","valueCode":"a","valueString":"b"}]}`, fhir.CodeInvalid, "DiagnosticReport.extension[0].valueString"},
		{"extension unknown key", dr + `,"extension":[{"url":"http://x","valueFoo":"a"}]}`, fhir.CodeUnknownElement, "DiagnosticReport.extension[0].valueFoo"},
		{"extension bad value", dr + `,"modifierExtension":[{"url":"http://x","valueCoding":{"foo":1}}]}`, fhir.CodeUnknownElement, "DiagnosticReport.modifierExtension[0].valueCoding.foo"},
		{"extension without url", dr + `,"extension":[{"valueCode":"a"}]}`, fhir.CodeRequired, "DiagnosticReport.extension[0].url"},
		{"extension value and extensions", dr + `,"extension":[{"url":"http://x","valueCode":"a","extension":[{"url":"y","valueCode":"b"}]}]}`, fhir.CodeInvalid, "DiagnosticReport.extension[0]"},
		{"missing status", `{"resourceType":"DiagnosticReport","code":{"text":"x"}}`, fhir.CodeRequired, "DiagnosticReport.status"},
		{"missing code", `{"resourceType":"DiagnosticReport","status":"final"}`, fhir.CodeRequired, "DiagnosticReport.code"},
		{"missing bundle type", `{"resourceType":"Bundle","entry":[{"resource":` + dr + `}}]}`, fhir.CodeRequired, "Bundle.type"},
		{"observation missing status", bundle(ent("", dr+`}`), ent("", `{"resourceType":"Observation","code":{"text":"x"}}`)), fhir.CodeRequired, "Bundle.entry[1].resource.status"},
		{"servicerequest missing intent", bundle(ent("", dr+`}`), ent("", `{"resourceType":"ServiceRequest","status":"active","subject":{"reference":"Patient/1"}}`)), fhir.CodeRequired, "Bundle.entry[1].resource.intent"},
		{"imagingstudy missing subject", bundle(ent("", dr+`}`), ent("", `{"resourceType":"ImagingStudy","status":"available"}`)), fhir.CodeRequired, "Bundle.entry[1].resource.subject"},
		{"narrative missing div", dr + `,"text":{"status":"generated"}}`, fhir.CodeRequired, "DiagnosticReport.text.div"},
		{"resourceType mismatch", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}}],"resourceType":"Bundle"}`, fhir.CodeInvalid, "Bundle.resourceType"},
		{"contained in contained", dr + `,"contained":[{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p"}]}]}`, fhir.CodeInvalid, "DiagnosticReport.contained[0]"},
		{"deep nesting", dr + `,"extension":[` + strings.Repeat(`{"url":"u","extension":[`, 300) + `{"url":"u","valueCode":"c"}` + strings.Repeat(`]}`, 300) + `]}`, fhir.CodeInvalid, ""},
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
			if tt.path != "" || fe.Code != fhir.CodeInvalid {
				if fe.Path != tt.path {
					t.Fatalf("path %q (%v), want %q", fe.Path, fe, tt.path)
				}
			}
			if fe.Msg == "" || fe.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestRawResourcesNotStrict(t *testing.T) {
	in := bundle(ent("", dr+`}`), ent("", `{"resourceType":"Condition","id":"c1","whatever":[],"x":null}`))
	m, err := fhir.ParseMessage([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	raw := m.Root.(*fhir.Bundle).Entry[1].Resource.(*fhir.RawResource)
	if raw.Type != "Condition" || raw.ID != "c1" || string(raw.JSON) != `{"resourceType":"Condition","id":"c1","whatever":[],"x":null}` {
		t.Fatalf("%+v", raw)
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
			{"reference":"Patient/p1"},
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
	if r.Subject == nil || r.Subject.ID != "p1" {
		t.Errorf("subject not resolved")
	}
	if len(r.Performers) != 1 || r.Performers[0].ID != "o1" || len(r.PerformerRefs) != 4 {
		t.Errorf("performers %v refs %d", r.Performers, len(r.PerformerRefs))
	}
	var got []string
	for _, o := range r.Results {
		got = append(got, o.Obs.ID+"@"+o.Path)
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
		"Bundle.entry[0].resource.result[9]=Patient/p1",                           // resolves, but not to an Observation
		"Bundle.entry[0].resource.result[11]=Observation?identifier=http://dup|1", // two matches
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
		if r.Path != w.path || len(r.Results) != 1 || r.Results[0].Obs.ID != w.obs {
			t.Errorf("report %d: %s %+v", i, r.Path, r.Results)
		}
		if i < 2 && (r.Subject == nil || r.Subject.ID != "p") {
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
	if m.RootType != "DiagnosticReport" || r.Path != "DiagnosticReport" || string(r.Raw) != in {
		t.Fatalf("root view %+v", r)
	}
	if r.Subject == nil || len(r.Performers) != 1 || len(r.Results) != 1 || r.Results[0].Path != "DiagnosticReport.contained[2]" {
		t.Fatalf("contained resolution: %+v", r)
	}
	if len(r.Unresolved) != 2 {
		t.Fatalf("unresolved %+v", r.Unresolved)
	}
}

func TestPrimitiveExtensionsRoundTrip(t *testing.T) {
	in := `{"resourceType":"Patient","id":"p1",` +
		`"extension":[{"url":"http://ext/a","valueCodeableConcept":{"coding":[{"system":"http://s","code":"c"}]}},{"url":"http://ext/b","extension":[{"url":"x","valueDecimal":1.50}]}],` +
		`"name":[{"family":"Wang","_family":{"extension":[{"url":"http://ext/own","valueString":"VV"}]},"given":["Xiao","Ming"],"_given":[null,{"id":"g2","extension":[{"url":"http://ext/q","valueBoolean":true}]}]}],` +
		`"gender":"unknown","_gender":{"extension":[{"url":"http://ext/g","valueCode":"x"}]},` +
		`"_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},` +
		`"multipleBirthInteger":2}`
	r, err := fhir.Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	p := r.(*fhir.Patient)
	if p.GenderExt == nil || len(p.Name[0].GivenExt) != 2 || p.Name[0].GivenExt[0] != nil || p.Name[0].GivenExt[1].ID != "g2" || p.BirthDateExt == nil {
		t.Fatalf("extensions not kept: %+v", p)
	}
	if p.Extension[0].ValueKey != "valueCodeableConcept" {
		t.Fatalf("extension value key %q", p.Extension[0].ValueKey)
	}
	if s, ok := p.Name[0].FamilyExt.Extension[0].ValueString(); !ok || s != "VV" {
		t.Fatalf("ValueString %q %v", s, ok)
	}
	out, err := fhir.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, []byte(in), out) {
		t.Fatalf("round trip:\n in %s\nout %s", in, out)
	}
	if !strings.Contains(string(out), `"valueDecimal":1.50`) {
		t.Fatalf("decimal precision lost: %s", out)
	}
	// encoding/json uses the same encoder.
	var p2 fhir.Patient
	if err := p2.UnmarshalJSON(out); err != nil {
		t.Fatal(err)
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

func TestResourceTypeAndMarshal(t *testing.T) {
	for _, r := range []fhir.Resource{&fhir.Bundle{}, &fhir.DiagnosticReport{}, &fhir.Observation{}, &fhir.ImagingStudy{},
		&fhir.Specimen{}, &fhir.ServiceRequest{}, &fhir.Patient{}, &fhir.Organization{}, &fhir.Practitioner{}, &fhir.PractitionerRole{}} {
		b, err := fhir.Marshal(r)
		if err != nil || string(b) != `{"resourceType":"`+r.ResourceType()+`"}` {
			t.Errorf("%T: %s %v", r, b, err)
		}
	}
	active := true
	p := &fhir.Patient{ID: "x", Active: &active, Name: []fhir.HumanName{{Text: "a \"b\"\n"}}}
	b, _ := fhir.Marshal(p)
	if string(b) != `{"resourceType":"Patient","id":"x","active":true,"name":[{"text":"a \"b\"\n"}]}` {
		t.Errorf("%s", b)
	}
}
