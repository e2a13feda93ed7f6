package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// getH is get with extra request headers.
func (e *env) getH(path, tok string, h map[string]string) resp {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.srv.URL + path
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

var lenient = map[string]string{"Prefer": "handling=lenient"}

// imagingFixture ingests docs/examples/imaging-transaction-bundle.json (a head CT of HospitalA
// with its ImagingStudy) and returns the report id and its patient ("p<id>").
func imagingFixture(t *testing.T, e *env) (report, patient string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "imaging-transaction-bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	report = e.ingest(testenv.HospitalA, b)[0]
	var pid int64
	if err := e.pool.QueryRow(context.Background(), `SELECT patient_id FROM reports WHERE id = $1`, report).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return report, fmt.Sprintf("p%d", pid)
}

func resources(t *testing.T, r resp, mode string) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out []map[string]any
	es, _ := path(r.json(t), "entry").([]any)
	for _, x := range es {
		if mode == "" || str(path(x, "search.mode")) == mode {
			out = append(out, path(x, "resource").(map[string]any))
		}
	}
	return out
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func subsetted(m map[string]any) bool {
	for _, tg := range asList(path(m, "meta.tag")) {
		if str(path(tg, "code")) == "SUBSETTED" && str(path(tg, "system")) == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue" {
			return true
		}
	}
	return false
}

func asList(v any) []any { l, _ := v.([]any); return l }

// The first requests a lab viewer makes answer 200 (or the documented strict/lenient answer):
// laboratory Observations, _pretty, _summary, _elements, _lastUpdated, Prefer handling, _format.
func TestViewerRequests(t *testing.T) {
	v := fhirschema.Require(t)
	e := newEnv(t)
	s := seed(e)
	p := s.p1
	check := func(q string, h map[string]string, status int) resp {
		t.Helper()
		r := e.getH(q, e.clin, h)
		if r.status != status {
			t.Fatalf("%s: %d, want %d: %s", q, r.status, status, r.body)
		}
		if err := v.Validate(r.body); err != nil {
			t.Errorf("%s does not validate: %v\n%s", q, err, r.body)
		}
		return r
	}

	// Laboratory Observations: the fixtures' Observations carry no category, their reports are
	// LAB: served (and found) as laboratory.
	obs := resources(t, check("/fhir/Observation?patient="+p+"&category=laboratory", nil, 200), "match")
	if len(obs) != 20 { // a page: 8+8+8+1 finished, current results, newest first
		t.Fatalf("laboratory Observations: %d on the first page, want 20", len(obs))
	}
	for _, o := range obs {
		if str(path(o, "category.0.coding.0.code")) != "laboratory" || str(path(o, "category.0.coding.0.system")) != "http://terminology.hl7.org/CodeSystem/observation-category" {
			t.Fatalf("Observation %s served without its laboratory category: %v", o["id"], o["category"])
		}
	}
	for q, n := range map[string]int{
		"category=" + url.QueryEscape("http://terminology.hl7.org/CodeSystem/observation-category|laboratory"): 25,
		"category=imaging":                                       0,
		"category=vital-signs,laboratory":                        25,
		"category=" + url.QueryEscape("http://other|laboratory"): 0,
	} {
		if got := check("/fhir/Observation?patient="+p+"&_count=200&"+q, nil, 200); len(resources(t, got, "match")) != n {
			t.Errorf("Observation %s: %d, want %d", q, len(resources(t, got, "match")), n)
		}
	}

	// _pretty: indented.
	r := check("/fhir/DiagnosticReport?patient="+p+"&_pretty=true", nil, 200)
	if !bytes.Contains(r.body, []byte("\n  \"entry\": [")) {
		t.Errorf("_pretty=true is not indented: %.200s", r.body)
	}
	compact := check("/fhir/DiagnosticReport?patient="+p+"&_pretty=false", nil, 200)
	if bytes.Contains(compact.body, []byte("\n ")) {
		t.Errorf("_pretty=false is indented")
	}

	// _summary=true: summary and mandatory elements only, tagged SUBSETTED; results left out.
	for _, m := range resources(t, check("/fhir/DiagnosticReport?patient="+p+"&_summary=true", nil, 200), "match") {
		if m["result"] != nil || m["status"] == nil || m["code"] == nil || m["subject"] == nil || m["effectiveDateTime"] == nil || !subsetted(m) {
			t.Errorf("_summary=true served %v (subsetted %v)", keysOf(m), subsetted(m))
		}
	}
	// _elements: the listed elements, mandatory ones, id and meta.
	for _, m := range resources(t, check("/fhir/DiagnosticReport?patient="+p+"&_elements=code,status", nil, 200), "match") {
		if got := strings.Join(keysOf(m), ","); got != "code,id,meta,resourceType,status" || !subsetted(m) {
			t.Errorf("_elements=code,status served %s (subsetted %v)", got, subsetted(m))
		}
	}
	for _, m := range resources(t, check("/fhir/DiagnosticReport?patient="+p+"&_elements=effective,subject", nil, 200), "match") {
		if got := strings.Join(keysOf(m), ","); got != "code,effectiveDateTime,id,meta,resourceType,status,subject" {
			t.Errorf("_elements=effective,subject served %s (mandatory code and status kept)", got)
		}
	}
	// _lastUpdated: the reports were indexed during the test, in real time.
	if n := len(resources(t, check("/fhir/DiagnosticReport?subject=Patient/"+p+"&_lastUpdated=gt2026-01-01", nil, 200), "match")); n != 4 {
		t.Errorf("_lastUpdated=gt2026-01-01: %d, want 4", n)
	}
	if n := len(resources(t, check("/fhir/DiagnosticReport?subject=Patient/"+p+"&_lastUpdated=lt2026-01-01", nil, 200), "match")); n != 0 {
		t.Errorf("_lastUpdated=lt2026-01-01: %d, want 0", n)
	}

	// Unsupported parameters: 400 by default and with handling=strict; ignored with
	// handling=lenient, which the answer says, and the self link shows only what was applied.
	q := "/fhir/DiagnosticReport?patient=" + p + "&_pretty=true&_text=cbc&code:text=blood&_include=DiagnosticReport:specimen&_sort=issued&code=JY001"
	for _, h := range []map[string]string{nil, {"Prefer": "handling=strict"}} {
		if r := check(q, h, 400); str(path(r.json(t), "issue.0.code")) != "invalid" || !strings.Contains(str(path(r.json(t), "issue.0.diagnostics")), "lenient") {
			t.Errorf("strict: %s", r.body)
		}
	}
	r = check(q, map[string]string{"Prefer": "return=representation, handling=lenient"}, 200)
	if r.header.Get("Preference-Applied") != "handling=lenient" {
		t.Errorf("Preference-Applied = %q", r.header.Get("Preference-Applied"))
	}
	self, _ := url.Parse(nextLink(r.json(t), "self"))
	if got := self.Query(); len(got) != 3 || got.Get("_pretty") != "true" || got.Get("code") != "JY001" || got.Get("patient") != p {
		t.Errorf("lenient self link %s, want only _pretty, patient and code", self)
	}
	if n := len(resources(t, r, "match")); n != 3 {
		t.Errorf("lenient search: %d reports, want the 3 JY001 ones", n)
	}
	// A supported parameter with a value it cannot take is refused under lenient handling too.
	check("/fhir/DiagnosticReport?patient="+p+"&date=xx2026", lenient, 400)

	// _format: JSON in its spellings; XML and the rest 406 with an OperationOutcome.
	for _, f := range []string{"json", "application/json", "application/fhir+json", "application/json+fhir", "application/fhir+json;fhirVersion=4.0"} {
		check("/fhir/DiagnosticReport?patient="+p+"&_format="+url.QueryEscape(f), nil, 200)
		check("/fhir/DiagnosticReport/"+s.r1+"?_format="+url.QueryEscape(f), nil, 200)
	}
	for _, f := range []string{"xml", "application/fhir+xml", "application/xml+fhir", "text/xml", "ttl", "html"} {
		r := check("/fhir/DiagnosticReport?patient="+p+"&_format="+url.QueryEscape(f), nil, 406)
		if str(path(r.json(t), "resourceType")) != "OperationOutcome" || str(path(r.json(t), "issue.0.code")) != "not-supported" ||
			!strings.Contains(str(path(r.json(t), "issue.0.diagnostics")), "JSON only") {
			t.Errorf("_format=%s: %s", f, r.body)
		}
		check("/fhir/Patient/"+p+"?_format="+url.QueryEscape(f), nil, 406)
	}
	check("/fhir/DiagnosticReport?patient="+p, map[string]string{"Accept": "application/fhir+xml"}, 406)
	check("/fhir/DiagnosticReport?patient="+p, map[string]string{"Accept": "application/fhir+xml;q=1.0, application/fhir+json;q=0.9"}, 200)
	check("/fhir/DiagnosticReport?patient="+p, map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, 200)

	// Reads take the general parameters too.
	rd := check("/fhir/DiagnosticReport/"+s.r1+"?_summary=true&_pretty=true", nil, 200).json(t)
	if rd["result"] != nil || rd["code"] == nil || !subsetted(rd) {
		t.Errorf("read with _summary=true: %v", keysOf(rd))
	}
	if got := keysOf(check("/fhir/Observation/"+s.r1+"-1?_elements=value", nil, 200).json(t)); strings.Join(got, ",") != "code,id,meta,resourceType,status,valueQuantity" {
		t.Errorf("Observation read with _elements=value: %v", got)
	}
	if got := keysOf(check("/fhir/Patient/"+p+"?_summary=text", nil, 200).json(t)); strings.Join(got, ",") != "id,meta,resourceType" {
		t.Errorf("Patient read with _summary=text: %v", got)
	}
	if m := check("/fhir/DiagnosticReport/"+s.r1+"?_summary=false", nil, 200).json(t); m["result"] == nil || subsetted(m) {
		t.Errorf("_summary=false is not the whole resource")
	}
	if m := check("/fhir/DiagnosticReport/"+s.r3+"/_history/1?_elements=status", nil, 200).json(t); !subsetted(m) || m["effectiveDateTime"] != nil {
		t.Errorf("vread with _elements: %v", keysOf(m))
	}
	check("/fhir/DiagnosticReport/"+s.r1+"?code=JY001", nil, 400)
	check("/fhir/DiagnosticReport/"+s.r1+"?code=JY001", lenient, 200)
	check("/fhir/DiagnosticReport/"+s.r1+"?_summary=count", nil, 400)
	check("/fhir/DiagnosticReport/"+s.r1+"?_elements=nope", nil, 400)
	check("/fhir/DiagnosticReport/"+s.r1+"?_elements=nope,status", lenient, 200)
	if m := check("/fhir/DiagnosticReport/"+s.r1+"?_elements=nope", lenient, 200).json(t); m["result"] == nil || subsetted(m) {
		t.Errorf("lenient _elements naming no element: %v, want the whole resource", keysOf(m))
	}
	check("/fhir/DiagnosticReport/"+s.r1+"?_pretty=yes", nil, 400)
	check("/fhir/DiagnosticReport/"+s.r1+"/_history?_format=xml", nil, 406)
}

// Observation searches a lab viewer makes: date with prefixes, code, status, sorting both ways
// by date and _lastUpdated (with paging), and the reports of the results.
func TestObservationSearches(t *testing.T) {
	e := newEnv(t)
	s := seed(e)
	o := "/fhir/Observation?patient=" + s.p1 + "&_count=200"
	ids := func(q string, h map[string]string) []string {
		t.Helper()
		var out []string
		for _, m := range resources(t, e.getH(q, e.clin, h), "match") {
			out = append(out, str(m["id"]))
		}
		return out
	}
	for q, n := range map[string]int{
		"":                   25,
		"&date=ge2026-11-10": 17,
		"&date=gt2026-11-20": 1,
		"&date=lt2026-11-10": 8,
		"&date=le2026-11-10": 16,
		"&date=eq2026-11-20": 8,
		"&date=2026-11":      25,
		"&code=JY001":        24,
		"&code=" + url.QueryEscape("http://loinc.org|718-7"): 3,
		"&code=" + url.QueryEscape("|718-7"):                 0,
		"&status=final":                                      25,
		"&status=preliminary":                                8,
		"&status=entered-in-error":                           0, // a withdrawn report keeps no results
	} {
		if got := ids(o+q, nil); len(got) != n {
			t.Errorf("Observation%s: %d, want %d", q, len(got), n)
		}
	}
	// _sort: date and _lastUpdated, both ways; pages through next links agree.
	desc := ids(o+"&code="+url.QueryEscape("http://loinc.org|6690-2"), nil)
	want := []string{s.unmapped + "-1", s.r1 + "-1", s.r0 + "-1", s.r00 + "-1"}
	if !eq(desc, want) {
		t.Fatalf("default order %v, want %v", desc, want)
	}
	for sortv, w := range map[string][]string{
		"-date": want, "date": {want[3], want[2], want[1], want[0]},
		// indexed in the order r00, r0, r1, …, unmapped: lastUpdated follows
		"-_lastUpdated": want, "_lastUpdated": {want[3], want[2], want[1], want[0]},
	} {
		q := "/fhir/Observation?patient=" + s.p1 + "&code=" + url.QueryEscape("http://loinc.org|6690-2") + "&_sort=" + sortv + "&_count=3&_total=accurate"
		r := e.get(q, e.clin)
		got := ids(q, nil)
		if str(path(r.json(t), "total")) != "4" {
			t.Errorf("_total=accurate: total %v", path(r.json(t), "total"))
		}
		next := nextLink(r.json(t), "next")
		if next == "" {
			t.Fatalf("_sort=%s: no next link", sortv)
		}
		got = append(got, ids(next, nil)...)
		if !eq(got, w) {
			t.Errorf("_sort=%s pages: %v, want %v", sortv, got, w)
		}
	}
	if r := e.get(o, e.clin); path(r.json(t), "total") != nil {
		t.Errorf("total without _total")
	}
	// _revinclude=DiagnosticReport:result: the reports of the results, once each.
	r := e.get(o+"&code=JY001&_revinclude=DiagnosticReport:result", e.clin)
	reps := resources(t, r, "include")
	if len(reps) != 3 || str(reps[0]["resourceType"]) != "DiagnosticReport" || len(resources(t, r, "match")) != 24 {
		t.Errorf("_revinclude=DiagnosticReport:result: %d included, %d matches", len(reps), len(resources(t, r, "match")))
	}
	// _include=Observation:patient
	if ps := resources(t, e.get(o+"&_include=Observation:patient", e.clin), "include"); len(ps) != 1 || str(ps[0]["id"]) != s.p1 {
		t.Errorf("_include=Observation:patient: %v", ps)
	}
	// _summary=count with the parameters applied
	if r := e.get(o+"&code=JY001&_summary=count", e.clin); str(path(r.json(t), "total")) != "24" || path(r.json(t), "entry") != nil {
		t.Errorf("_summary=count: %s", r.body)
	}
}

// Imaging: ImagingStudy search, the reports that reference a study, the study from its report,
// the patient from either, and $everything.
func TestImagingAndEverything(t *testing.T) {
	v := fhirschema.Require(t)
	e := newEnv(t)
	s := seed(e)
	rep, p := imagingFixture(t, e)
	validate := func(r resp) resp {
		t.Helper()
		if err := v.Validate(r.body); err != nil {
			t.Errorf("does not validate: %v\n%s", err, r.body)
		}
		return r
	}
	r := validate(e.get("/fhir/ImagingStudy?patient="+p+"&_revinclude=DiagnosticReport:imaging-study&_include=ImagingStudy:subject", e.clin))
	if m, inc := resources(t, r, "match"), resources(t, r, "include"); len(m) != 1 || len(inc) != 2 ||
		str(inc[0]["id"]) != p || str(inc[1]["id"]) != rep || str(path(inc[1], "imagingStudy.0.reference")) != "ImagingStudy/"+str(m[0]["id"]) {
		t.Errorf("ImagingStudy with its report and patient: %s", r.body)
	}
	r = validate(e.get("/fhir/DiagnosticReport?patient="+p+"&_include=DiagnosticReport:imaging-study&_include=DiagnosticReport:patient", e.clin))
	if inc := resources(t, r, "include"); len(inc) != 2 || str(inc[0]["resourceType"]) != "ImagingStudy" || str(inc[1]["resourceType"]) != "Patient" {
		t.Errorf("report with study and patient: %s", r.body)
	}
	for _, q := range []string{"&_sort=started", "&_sort=-_lastUpdated", "&_lastUpdated=ge2026-01-01", "&started=2026-11-18"} {
		if n := len(resources(t, e.get("/fhir/ImagingStudy?patient="+p+q, e.clin), "match")); n != 1 {
			t.Errorf("ImagingStudy%s: %d, want 1", q, n)
		}
	}
	if n := len(resources(t, e.get("/fhir/Observation?patient="+p+"&category=imaging", e.clin), "match")); n != 0 {
		t.Errorf("an imaging report without Observations has no imaging Observations: %d", n)
	}

	// $everything: the patient, then each page of reports with their results.
	ev := validate(e.get("/fhir/Patient/"+s.p1+"/$everything?_count=2", e.clin))
	first := resources(t, ev, "match")
	var types []string
	for _, m := range first {
		types = append(types, str(m["resourceType"]))
	}
	if len(first) != 1+2+8+1 || types[0] != "Patient" || types[1] != "DiagnosticReport" || types[2] != "DiagnosticReport" || types[3] != "Observation" {
		t.Fatalf("$everything page 1: %v", types)
	}
	seen := map[string]bool{}
	for _, m := range first {
		seen[str(m["resourceType"])+"/"+str(m["id"])] = true
	}
	pages := 1
	for next := nextLink(ev.json(t), "next"); next != ""; pages++ {
		pg := validate(e.get(next, e.clin))
		for _, m := range resources(t, pg, "match") {
			k := str(m["resourceType"]) + "/" + str(m["id"])
			if seen[k] || k == "Patient/"+s.p1 {
				t.Errorf("$everything repeats %s", k)
			}
			seen[k] = true
		}
		next = nextLink(pg.json(t), "next")
	}
	if pages != 2 || len(seen) != 1+4+25 {
		t.Errorf("$everything: %d pages, %d resources; want 2 pages, 30 (patient, 4 reports, 25 results)", pages, len(seen))
	}
	if n := len(resources(t, e.get("/fhir/Patient/"+p+"/$everything", e.clin), "match")); n != 3 {
		t.Errorf("$everything of the imaging patient: %d resources, want patient, report, study", n)
	}
	for q, n := range map[string]int{
		"_type=DiagnosticReport":       4,
		"_type=Patient,Observation":    26,
		"start=2026-11-10&end=2026-11": 1 + 3 + 17,
		"_since=2026-01-01":            30,
		"_since=2030-01-01":            1,
		"_elements=status&_count=200":  30,
		"_summary=true&_count=200":     30,
	} {
		if got := len(resources(t, validate(e.get("/fhir/Patient/"+s.p1+"/$everything?_count=200&"+q, e.clin)), "match")); got != n {
			t.Errorf("$everything?%s: %d, want %d", q, got, n)
		}
	}
	if r := e.get("/fhir/Patient/"+s.p1+"/$everything?_type=Encounter", e.clin); r.status != 400 {
		t.Errorf("_type=Encounter: %d", r.status)
	}
	if r := e.getH("/fhir/Patient/"+s.p1+"/$everything?_type=Encounter,Patient&foo=1", e.clin, lenient); r.status != 200 || len(resources(t, r, "match")) != 1 {
		t.Errorf("lenient $everything: %d %s", r.status, r.body)
	}
	for _, id := range []string{"p999999", "x"} {
		if r := e.get("/fhir/Patient/"+id+"/$everything", e.clin); r.status != 404 {
			t.Errorf("$everything of %s: %d", id, r.status)
		}
	}
	// Neither $everything nor _revinclude records a retrieval: only reads of a report do.
	if n := e.count(`SELECT count(*) FROM retrievals`); n != 0 {
		t.Errorf("retrievals after searches and $everything: %d, want 0", n)
	}
}

// R4's search parameters of each type the hub serves, and the parameters of every resource
// (search.html): the test below proves those the CapabilityStatement does not list refused
// (strict) or ignored (lenient).
var r4Params = map[string][]string{
	"DiagnosticReport": {"based-on", "category", "code", "conclusion", "date", "encounter", "identifier", "issued", "media", "patient",
		"performer", "result", "results-interpreter", "specimen", "status", "subject"},
	"Observation": {"based-on", "category", "code", "code-value-concept", "code-value-date", "code-value-quantity", "code-value-string",
		"combo-code", "combo-code-value-concept", "combo-code-value-quantity", "combo-data-absent-reason", "combo-value-concept",
		"combo-value-quantity", "component-code", "component-code-value-concept", "component-code-value-quantity",
		"component-data-absent-reason", "component-value-concept", "component-value-quantity", "data-absent-reason", "date",
		"derived-from", "device", "encounter", "focus", "has-member", "identifier", "method", "part-of", "patient", "performer",
		"specimen", "status", "subject", "value-concept", "value-date", "value-quantity", "value-string"},
	"ImagingStudy": {"basedon", "bodysite", "dicom-class", "encounter", "endpoint", "identifier", "instance", "interpreter", "modality",
		"patient", "performer", "reason", "referrer", "series", "started", "status", "subject"},
	"Patient": {"active", "address", "address-city", "address-country", "address-postalcode", "address-state", "address-use",
		"birthdate", "death-date", "deceased", "email", "family", "gender", "general-practitioner", "given", "identifier", "language",
		"link", "name", "organization", "phone", "phonetic", "telecom"},
	"*": {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text", "_content", "_list", "_has", "_type", "_query",
		"_filter", "_contained", "_containedType"},
}

// The CapabilityStatement lists exactly what works: every search parameter, _sort key,
// _include/_revinclude, general parameter and operation it lists answers 200 and is applied;
// every R4 parameter, modifier, _sort key and include it does not list is refused with 400 by
// default and ignored (left out of the self link) with Prefer: handling=lenient.
func TestCapabilityStatementIsExact(t *testing.T) {
	e := newEnv(t)
	s := seed(e)
	_, ip := imagingFixture(t, e)
	nid1 := residentSystem + "|" + testenv.NID(1)
	ins := "http://mrhub.example/sid/insurance|3302008812345678"
	samples := map[string]string{
		"DiagnosticReport.patient": s.p1, "DiagnosticReport.subject": "Patient/" + s.p1, "DiagnosticReport.patient.identifier": nid1,
		"DiagnosticReport.subject:Patient.identifier": nid1, "DiagnosticReport.identifier": "http://his." + testenv.HospitalA + ".example/report-id|A-0",
		"DiagnosticReport.code": "JY001", "DiagnosticReport.date": "ge2026-11-01", "DiagnosticReport.status": "final",
		"DiagnosticReport.performer": "Organization/" + testenv.HospitalA, "DiagnosticReport.category": "LAB",
		"Observation.patient": s.p1, "Observation.subject": "Patient/" + s.p1, "Observation.patient.identifier": nid1,
		"Observation.subject:Patient.identifier": nid1, "Observation.code": "http://loinc.org|718-7", "Observation.date": "lt2026-11-21",
		"Observation.status": "final,amended", "Observation.category": "laboratory",
		"ImagingStudy.patient": ip, "ImagingStudy.subject": "Patient/" + ip, "ImagingStudy.patient.identifier": ins,
		"ImagingStudy.subject:Patient.identifier": ins, "ImagingStudy.identifier": "urn:dicom:uid|urn:oid:1.2.156.112605.14.20261118.7",
		"ImagingStudy.started": "2026-11-18",
		"Patient.identifier":   nid1, "Patient._id": s.p1,
		"_lastUpdated": "ge2026-01-01", "_count": "2", "_total": "accurate",
		"_format": "application/fhir+json", "_pretty": "true", "_summary": "true", "_elements": "identifier",
	}
	rewritten := map[string]bool{"patient.identifier": true, "subject:Patient.identifier": true, "identifier": true}
	base := func(rt, name string) string {
		switch {
		case rt == "Patient" && name != "_id" && name != "identifier":
			return "_id=" + s.p1 + "&"
		case rt == "ImagingStudy" && !strings.HasPrefix(name, "patient") && !strings.HasPrefix(name, "subject"):
			return "patient=" + ip + "&"
		case rt != "Patient" && rt != "ImagingStudy" && !strings.HasPrefix(name, "patient") && !strings.HasPrefix(name, "subject"):
			return "patient=" + s.p1 + "&"
		}
		return ""
	}
	applied := func(r resp, name string) bool {
		self, err := url.Parse(nextLink(r.json(t), "self"))
		return err == nil && self.Query().Has(name)
	}
	cs := e.get("/fhir/metadata", "").json(t)
	rest := path(cs, "rest.0")
	var general []string
	for _, p := range asList(path(rest, "searchParam")) {
		general = append(general, str(path(p, "name")))
	}
	if strings.Join(general, ",") != "_format,_pretty,_summary,_elements" {
		t.Errorf("general parameters listed: %v", general)
	}
	for _, res := range asList(path(rest, "resource")) {
		rt := str(path(res, "type"))
		listed := map[string]bool{}
		for _, p := range asList(path(res, "searchParam")) {
			name := str(path(p, "name"))
			listed[name] = true
			val, ok := samples[rt+"."+name]
			if !ok {
				val, ok = samples[name]
			}
			if name == "_sort" {
				for _, key := range strings.Split(strings.Split(str(path(p, "documentation")), ";")[0], ", ") {
					r := e.get("/fhir/"+rt+"?"+base(rt, "")+"_sort="+url.QueryEscape(key), e.clin)
					if r.status != 200 || !applied(r, "_sort") || len(resources(t, r, "match")) == 0 {
						t.Errorf("%s?_sort=%s: %d %s", rt, key, r.status, r.body)
					}
				}
				continue
			}
			if !ok {
				t.Errorf("%s lists %s: add a sample value to this test to prove it works", rt, name)
				continue
			}
			q := "/fhir/" + rt + "?" + base(rt, name) + name + "=" + url.QueryEscape(val)
			r := e.get(q, e.clin)
			if r.status != 200 || len(resources(t, r, "match")) == 0 {
				t.Errorf("%s: %d, %d matches: %.300s", q, r.status, len(resources(t, r, "match")), r.body)
				continue
			}
			if !applied(r, name) && !rewritten[name] {
				t.Errorf("%s: %s is not in the self link", q, name)
			}
		}
		for _, name := range general {
			q := "/fhir/" + rt + "?" + base(rt, "") + name + "=" + url.QueryEscape(samples[name])
			if r := e.get(q, e.clin); r.status != 200 || !applied(r, name) {
				t.Errorf("%s: %d (applied %v)", q, r.status, r.status == 200 && applied(r, name))
			}
		}
		for _, kind := range []string{"searchInclude", "searchRevInclude"} {
			param := map[string]string{"searchInclude": "_include", "searchRevInclude": "_revinclude"}[kind]
			for _, inc := range asList(path(res, kind)) {
				b := base(rt, "")
				if rt != "Patient" {
					b = "patient=" + s.p1 + "," + ip + "&" // laboratory and imaging reports
				}
				q := "/fhir/" + rt + "?" + b + param + "=" + str(inc)
				if r := e.get(q, e.clin); r.status != 200 || len(resources(t, r, "include")) == 0 || !applied(r, param) {
					t.Errorf("%s: %d, %d included", q, r.status, len(resources(t, r, "include")))
				}
			}
		}
		for _, op := range asList(path(res, "operation")) {
			if str(path(op, "name")) != "everything" || rt != "Patient" {
				t.Errorf("unexpected operation %v on %s", op, rt)
			}
			if r := e.get("/fhir/Patient/"+s.p1+"/$everything", e.clin); r.status != 200 {
				t.Errorf("$everything: %d", r.status)
			}
		}

		// What it does not list.
		var refused []string
		for _, p := range append(r4Params[rt], r4Params["*"]...) {
			if !listed[p] {
				refused = append(refused, p+"=x")
			}
		}
		refused = append(refused, "code:text=x", "status:not=final", "date:missing=true", "_sort=_id", "_sort=-issued",
			"_include="+rt+":performer", "_revinclude=Provenance:target", "_include:iterate="+rt+":subject", "no-such-param=1")
		for _, kv := range refused {
			q := "/fhir/" + rt + "?" + base(rt, "") + kv
			if r := e.get(q, e.clin); r.status != 400 || str(path(r.json(t), "resourceType")) != "OperationOutcome" {
				t.Errorf("strict %s: %d, want 400", q, r.status)
			}
			r := e.getH(q, e.clin, lenient)
			name, _, _ := strings.Cut(kv, "=")
			if r.status != 200 || r.header.Get("Preference-Applied") != "handling=lenient" {
				t.Errorf("lenient %s: %d, want 200", q, r.status)
				continue
			}
			self, _ := url.Parse(nextLink(r.json(t), "self"))
			if self.Query().Has(name) && !strings.HasPrefix(kv, "_sort") && !strings.HasPrefix(kv, "_include") && !strings.HasPrefix(kv, "_revinclude") {
				t.Errorf("lenient %s: self link %s shows the ignored parameter", q, self)
			}
			if vals := self.Query()[name]; len(vals) > 0 && strings.Contains(kv, vals[len(vals)-1]) && name != "_sort" {
				t.Errorf("lenient %s: self link %s shows the ignored value", q, self)
			}
			if name == "_sort" && self.Query().Has("_sort") {
				t.Errorf("lenient %s: self link %s shows the ignored _sort", q, self)
			}
		}
	}
}
