package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/testenv"
)

const (
	hospitalM = "12330299473395954M" // QX005: maps JY001 (2559) but holds no JY001 qualification
	codesB    = "http://his.qx002.example/lab-codes"
	codesM    = "http://his.qx005.example/lab-codes"
)

type scenario struct {
	r00, r0, r1, r2, r3, unmapped, m1 string
	p1, p2                            string // "p<id>"
}

// seed indexes the reports of two patients through the real profile and store.
func seed(e *env) scenario {
	var s scenario
	nid1, nid2 := testenv.NID(1), testenv.NID(2)
	a := func(id string, eff int, values []float64) testenv.Report {
		return testenv.Report{Performer: testenv.HospitalA, ID: id, NID: nid1, Name: "张三", Gender: "male", BirthDate: "1971-02-02",
			Effective: day(eff, 8), Values: values}
	}
	old := a("A-00", 5, []float64{3.0, 4.5, 135, 0.41, 90, 30, 330, 210}).JSON()
	old = bytes.ReplaceAll(old, []byte("10*9/L"), []byte("/uL")) // another unit: not comparable
	s.r00 = e.ingest(testenv.HospitalA, old)[0]
	s.r0 = e.ingest(testenv.HospitalA, a("A-0", 10, []float64{4.0, 4.5, 135, 0.41, 90, 30, 330, 210}).JSON())[0]
	s.r1 = e.ingest(testenv.HospitalA, a("A-1", 20, nil).JSON())[0]
	s.r2 = e.ingest(testenv.HospitalB, testenv.Report{Performer: testenv.HospitalB, ID: "B-2", NID: nid1, CodeSystem: codesB, Code: "XCG",
		Status: "preliminary", Effective: day(21, 8)}.JSON())[0]
	v1 := a("A-3", 22, nil)
	v1.VersionID = "1"
	s.r3 = e.ingest(testenv.HospitalA, v1.JSON())[0]
	v2 := v1
	v2.VersionID, v2.Status = "2", "entered-in-error"
	e.ingest(testenv.HospitalA, v2.JSON())
	u := a("A-U", 22, []float64{1})
	u.Effective = day(22, 9)
	u.CodeSystem, u.Code = testenv.LabCodeSystem, "NOPE"
	s.unmapped = e.ingest(testenv.HospitalA, u.JSON())[0]
	s.m1 = e.ingest(hospitalM, testenv.Report{Performer: hospitalM, ID: "M-1", NID: nid2, CodeSystem: codesM, Code: "2559", Effective: day(22, 8)}.JSON())[0]
	var p1, p2 int64
	_ = e.pool.QueryRow(context.Background(), `SELECT patient_id FROM reports WHERE id = $1`, s.r1).Scan(&p1)
	_ = e.pool.QueryRow(context.Background(), `SELECT patient_id FROM reports WHERE id = $1`, s.m1).Scan(&p2)
	s.p1, s.p2 = fmt.Sprintf("p%d", p1), fmt.Sprintf("p%d", p2)
	return s
}

func pid1() string { return url.QueryEscape(residentSystem + "|" + testenv.NID(1)) }

func entryIDs(t *testing.T, r resp) []string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out []string
	es, _ := path(r.json(t), "entry").([]any)
	for _, x := range es {
		if str(path(x, "search.mode")) == "match" {
			out = append(out, str(path(x, "resource.id")))
		}
	}
	return out
}

func eq(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestRecognizable(t *testing.T) {
	e := newEnv(t)
	s := seed(e)
	r := e.get("/api/v1/recognizable?view=full&item=JY001&patient="+pid1(), e.clin)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := r.json(t)
	it := path(m, "items.0")
	checks := map[string]string{
		"item": "JY001", "recognizable": "true",
		"result.report_id":                                     s.r1,
		"result.expires_at":                                    "2026-11-27T00:00:00Z", // 2026-11-20 08:00 CST + 7 days
		"result.hr_scope":                                      "national",
		"result.institution.code":                              testenv.HospitalA,
		"result.observations.0.value":                          "5.2",
		"result.observations.0.flag":                           "N",
		"result.observations.0.trend.direction":                "up",
		"result.observations.0.trend.previous.0.report_id":     s.r0,
		"result.observations.0.trend.previous.0.value":         "4",
		"result.observations.0.trend.previous.0.change":        "1.2",
		"result.observations.0.trend.previous.0.change_pct":    "30",
		"result.observations.0.trend.previous.1.report_id":     s.r00,
		"result.observations.0.trend.previous.1.unit_mismatch": "true",
		"result.observations.0.trend.unit_mismatch":            "true",
		"history.0.report_id":                                  s.r3, "history.0.reason": "withdrawn",
		"history.1.report_id": s.r2, "history.1.reason": "preliminary",
		"history.2.report_id": s.r0, "history.2.reason": "expired",
		"history.3.report_id": s.r00, "history.3.reason": "expired",
	}
	for p, want := range checks {
		if got := str(path(it, p)); got != want {
			t.Errorf("items.0.%s = %q, want %q", p, got, want)
		}
	}
	if n := len(path(it, "history").([]any)); n != 4 {
		t.Errorf("history has %d results, want 4", n)
	}
	if !strings.Contains(str(path(it, "result.observations.0.trend.note")), "/uL") {
		t.Errorf("unit mismatch note does not name the other unit: %v", path(it, "result.observations.0.trend.note"))
	}
	if str(path(m, "patient.id")) != s.p1 || str(path(m, "patient.identifiers.0")) != identity.Mask("nid", testenv.NID(1)) {
		t.Errorf("patient = %v", path(m, "patient"))
	}
	if bytes.Contains(r.body, []byte(testenv.NID(1))) {
		t.Fatal("response carries the plaintext resident ID")
	}
	if n := e.count(`SELECT count(*) FROM reminders WHERE item = 'JY001' AND report_id = $1 AND recognizable AND patient_id = $2 AND institution = $3`,
		s.r1, strings.TrimPrefix(s.p1, "p"), testenv.HospitalB); n != 1 {
		t.Fatalf("reminders for the shown item = %d, want 1", n)
	}

	// The default view (summary): the same verdict, result and values, no history or trends,
	// the history's length; and the same reminder.
	sum := e.get("/api/v1/recognizable?item=JY001&patient="+pid1(), e.clin)
	sm := sum.json(t)
	sit := path(sm, "items.0")
	for p, want := range map[string]string{"item": "JY001", "recognizable": "true", "result.report_id": s.r1,
		"result.expires_at": "2026-11-27T00:00:00Z", "result.observations.0.value": "5.2", "result.observations.0.flag": "N",
		"history_count": "4"} {
		if got := str(path(sit, p)); got != want {
			t.Errorf("summary items.0.%s = %q, want %q", p, got, want)
		}
	}
	if str(path(sm, "view")) != "summary" || bytes.Contains(sum.body, []byte(`"history"`)) || bytes.Contains(sum.body, []byte(`"trend"`)) {
		t.Errorf("summary view carries history or trends, or does not say it is the summary: %s", sum.body)
	}
	if len(sum.body) >= len(r.body) {
		t.Errorf("summary (%d bytes) is not smaller than the full view (%d bytes)", len(sum.body), len(r.body))
	}
	if n := e.count(`SELECT count(*) FROM reminders WHERE item = 'JY001' AND report_id = $1 AND recognizable`, s.r1); n != 2 {
		t.Errorf("reminders after the summary request = %d, want 2", n)
	}
	for _, q := range []string{"view=fuller", "view=full&view=summary"} {
		if r := e.get("/api/v1/recognizable?"+q+"&patient="+pid1(), e.clin); r.status != 400 || !strings.Contains(string(r.body), "view") {
			t.Errorf("%s: %d %s, want 400 naming view", q, r.status, r.body)
		}
	}

	// All items: JY001 plus the unmapped report.
	m = e.get("/api/v1/recognizable?patient=Patient/"+s.p1, e.clin).json(t)
	if n := len(path(m, "items").([]any)); n != 1 || str(path(m, "unmapped.0.report_id")) != s.unmapped || str(path(m, "unmapped.0.reason")) != "unmapped" {
		t.Errorf("all items: %d items, unmapped %v", n, path(m, "unmapped"))
	}
	// Not qualified.
	m = e.get("/api/v1/recognizable?item=JY001&patient="+url.QueryEscape(residentSystem+"|"+testenv.NID(2)), e.clin).json(t)
	if str(path(m, "items.0.recognizable")) != "false" || str(path(m, "items.0.reason")) != "not_qualified" || str(path(m, "items.0.latest.report_id")) != s.m1 {
		t.Errorf("unqualified issuer: %v", path(m, "items.0"))
	}
	if n := e.count(`SELECT count(*) FROM reminders WHERE report_id IS NULL AND NOT recognizable AND reason = 'not_qualified'`); n != 1 {
		t.Errorf("not-qualified reminders = %d, want 1", n)
	}
	// No result for another item; unknown patient.
	m = e.get("/api/v1/recognizable?item=JY002&patient="+pid1(), e.clin).json(t)
	if str(path(m, "items.0.reason")) != "no_result" {
		t.Errorf("JY002: %v", path(m, "items.0"))
	}
	m = e.get("/api/v1/recognizable?item=JY001&patient="+url.QueryEscape(residentSystem+"|"+testenv.NID(99)), e.clin).json(t)
	if path(m, "patient") != nil || str(path(m, "items.0.reason")) != "no_result" {
		t.Errorf("unknown patient: %s", str(m))
	}
	// Errors and roles.
	for _, q := range []string{"", "?patient=" + pid1() + "&item=NOPE", "?patient=http://x|1", "?patient=" + pid1() + "&foo=1"} {
		if r := e.get("/api/v1/recognizable"+q, e.clin); r.status != 400 || !strings.Contains(string(r.body), `"error"`) {
			t.Errorf("%s: %d %s, want 400 JSON error", q, r.status, r.body)
		}
	}
	if r := e.get("/api/v1/recognizable?patient="+pid1(), e.token(auth.RoleBureau, "330299")); r.status != 403 {
		t.Errorf("bureau: %d, want 403", r.status)
	}
	if r := e.get("/api/v1/recognizable?patient="+pid1(), ""); r.status != 401 {
		t.Errorf("anonymous: %d, want 401", r.status)
	}
}

func TestFHIRSearchAndRead(t *testing.T) {
	e := newEnv(t)
	s := seed(e)
	dr := "/fhir/DiagnosticReport?patient.identifier=" + pid1()
	cases := []struct {
		q    string
		want []string
	}{
		{"", []string{s.unmapped, s.r1, s.r0, s.r00}},
		{"&_sort=date", []string{s.r00, s.r0, s.r1, s.unmapped}},
		{"&status=preliminary", []string{s.r2}},
		{"&status=entered-in-error", []string{s.r3}},
		{"&code=JY001", []string{s.r1, s.r0, s.r00}},
		{"&code=" + url.QueryEscape("http://loinc.org|58410-2"), []string{s.r1, s.r0, s.r00}},
		{"&code=" + url.QueryEscape(testenv.LabCodeSystem+"|NOPE"), []string{s.unmapped}},
		{"&date=ge2026-11-10&date=le2026-11-20", []string{s.r1, s.r0}},
		{"&date=gt2026-11-20", []string{s.unmapped}},
		{"&date=lt2026-11-10", []string{s.r00}},
		{"&date=eq2026-11-10", []string{s.r0}},
		{"&date=2026-11-10T08:00:00%2B08:00", []string{s.r0}},
		{"&performer=Organization/QX002&status=preliminary,final", []string{s.r2}},
		{"&category=LAB&_count=2", []string{s.unmapped, s.r1}},
		{"&identifier=" + url.QueryEscape("http://his."+testenv.HospitalA+".example/report-id|A-0"), []string{s.r0}},
	}
	for _, c := range cases {
		if got := entryIDs(t, e.get(dr+c.q, e.clin)); !eq(got, c.want) {
			t.Errorf("DiagnosticReport%s = %v, want %v", c.q, got, c.want)
		}
	}
	if got := entryIDs(t, e.get("/fhir/DiagnosticReport?subject=Patient/"+s.p1+"&code=JY001", e.clin)); !eq(got, []string{s.r1, s.r0, s.r00}) {
		t.Errorf("by subject: %v", got)
	}
	if got := entryIDs(t, e.get("/fhir/DiagnosticReport?subject:Patient.identifier="+pid1()+"&code=JY001", e.clin)); len(got) != 3 {
		t.Errorf("by subject:Patient.identifier: %v", got)
	}
	r := e.get(dr+"&_summary=count", e.clin)
	if str(path(r.json(t), "total")) != "4" || path(r.json(t), "entry") != nil {
		t.Errorf("_summary=count: %s", r.body)
	}

	// The served report: canonical id, rewritten subject and results, FHIR content type.
	r = e.get(dr+"&code=JY001&_count=1&_include=DiagnosticReport:result", e.clin)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("Content-Type %q", ct)
	}
	b := r.json(t)
	res := path(b, "entry.0.resource")
	if str(path(res, "id")) != s.r1 || str(path(res, "subject.reference")) != "Patient/"+s.p1 ||
		str(path(res, "result.0.reference")) != "Observation/"+s.r1+"-1" || len(path(res, "result").([]any)) != 8 ||
		str(path(res, "performer.0.identifier.value")) != testenv.HospitalA {
		t.Errorf("served report: %s", str(res))
	}
	if n := len(path(b, "entry").([]any)); n != 9 || str(path(b, "entry.1.search.mode")) != "include" || str(path(b, "entry.1.resource.resourceType")) != "Observation" {
		t.Errorf("_include=DiagnosticReport:result gave %d entries", n)
	}
	if strings.Contains(string(r.body), "urn:uuid") {
		t.Errorf("served resources keep message-local urn:uuid references")
	}

	// Observation and Patient.
	if got := entryIDs(t, e.get("/fhir/Observation?patient="+s.p1+"&code="+url.QueryEscape("http://loinc.org|6690-2"), e.clin)); !eq(got, []string{s.unmapped + "-1", s.r1 + "-1", s.r0 + "-1", s.r00 + "-1"}) {
		t.Errorf("Observation search: %v", got)
	}
	pr := e.get("/fhir/Patient?identifier="+pid1(), e.clin)
	if got := entryIDs(t, pr); !eq(got, []string{s.p1}) {
		t.Errorf("Patient search: %v", got)
	}
	p := e.get("/fhir/Patient/"+s.p1, e.clin)
	if str(path(p.json(t), "identifier.0.value")) != identity.Mask("nid", testenv.NID(1)) || str(path(p.json(t), "meta.security.0.code")) != "MASKED" {
		t.Errorf("Patient read: %s", p.body)
	}

	// Opening a report records a retrieval; the API form too.
	rd := e.get("/fhir/DiagnosticReport/"+s.r1, e.clin)
	if rd.status != 200 || str(path(rd.json(t), "id")) != s.r1 {
		t.Fatalf("read: %d %s", rd.status, rd.body)
	}
	ar := e.get("/api/v1/reports/"+s.r0, e.clin)
	if ar.status != 200 || str(path(ar.json(t), "report.id")) != s.r0 || len(path(ar.json(t), "observations").([]any)) != 8 {
		t.Fatalf("api report: %d %s", ar.status, ar.body)
	}
	if n := e.count(`SELECT count(*) FROM retrievals t JOIN api_tokens k ON k.id = t.token_id
		WHERE t.report_id = $1 AND t.via = 'fhir' AND t.institution = $2 AND t.performer = $3 AND t.remote_addr = '127.0.0.1'
		AND t.patient_id = $4 AND k.role = 'clinician'`, s.r1, testenv.HospitalB, testenv.HospitalA, strings.TrimPrefix(s.p1, "p")); n != 1 {
		t.Errorf("FHIR read retrievals = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM retrievals WHERE report_id = $1 AND via = 'api'`, s.r0); n != 1 {
		t.Errorf("API retrievals = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM retrievals`); n != 2 {
		t.Errorf("retrievals = %d, want 2 (searches are not retrievals)", n)
	}

	// Errors: 400/404 OperationOutcomes.
	for _, q := range []string{dr + "&foo=bar", dr + "&date=xx2026", dr + "&date=2026-13", dr + "&status=done", dr + "&_count=abc",
		dr + "&_include=DiagnosticReport:performer", "/fhir/DiagnosticReport?patient.identifier=http://x|1", "/fhir/Patient", dr + "&_sort=status",
		"/fhir/DiagnosticReport?performer=NOPE", "/fhir/DiagnosticReport?_page=zzz"} {
		r := e.get(q, e.clin)
		if r.status != 400 || str(path(r.json(t), "resourceType")) != "OperationOutcome" || str(path(r.json(t), "issue.0.code")) != "invalid" {
			t.Errorf("%s: %d %s, want 400 OperationOutcome", q, r.status, r.body)
		}
	}
	if r := e.get("/fhir/DiagnosticReport/nope", e.clin); r.status != 404 || str(path(r.json(t), "issue.0.code")) != "not-found" {
		t.Errorf("unknown report: %d %s", r.status, r.body)
	}
	// Observations are read by their (report, ordinal) key; an id of any other shape names nothing.
	if r := e.get("/fhir/Observation/"+s.r1+"-3", e.clin); r.status != 200 || str(path(r.json(t), "id")) != s.r1+"-3" ||
		str(path(r.json(t), "resourceType")) != "Observation" {
		t.Errorf("Observation read: %d %s", r.status, r.body)
	}
	for _, id := range []string{s.r1 + "-03", s.r1 + "-0", s.r1 + "-+3", s.r1 + "-", s.r1, s.r1 + "-99", "-3", s.r1 + "-3x"} {
		if r := e.get("/fhir/Observation/"+url.PathEscape(id), e.clin); r.status != 404 || str(path(r.json(t), "issue.0.code")) != "not-found" {
			t.Errorf("Observation/%s: %d %s, want 404", id, r.status, r.body)
		}
	}
	for _, rt := range []string{"DiagnosticReport", "Observation", "ImagingStudy", "Patient"} {
		if r := e.get("/fhir/"+rt+"?patient="+s.p1, e.token(auth.RoleBureau, "330299")); r.status != 403 {
			t.Errorf("bureau on %s: %d", rt, r.status)
		}
	}
	if r := e.get("/fhir/metadata", ""); r.status != 200 || str(path(r.json(t), "fhirVersion")) != "4.0.1" {
		t.Errorf("metadata: %d", r.status)
	}
}

func TestPagingIsStableWhileReportsArrive(t *testing.T) {
	e := newEnv(t)
	nid := testenv.NID(3)
	var all []string
	for d := 1; d <= 5; d++ {
		all = append(all, e.ingest(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("P-%d", d), NID: nid, Effective: day(10+d, 8)}.JSON())[0])
	}
	// newest first: 5,4,3,2,1
	want := []string{all[4], all[3], all[2], all[1], all[0]}
	q := "/fhir/DiagnosticReport?_count=2&patient.identifier=" + url.QueryEscape(residentSystem+"|"+nid)
	p1 := e.get(q, e.clin)
	if got := entryIDs(t, p1); !eq(got, want[:2]) {
		t.Fatalf("page 1 = %v, want %v", got, want[:2])
	}
	// New reports arrive: one newer than everything, one in the middle of page 2's range.
	e.ingest(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: "P-new", NID: nid, Effective: day(20, 8)}.JSON())
	e.ingest(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: "P-mid", NID: nid, Effective: day(12, 20)}.JSON())
	next := nextLink(p1.json(t), "next")
	p2 := e.get(next, e.clin)
	if got := entryIDs(t, p2); !eq(got, want[2:4]) {
		t.Fatalf("page 2 after arrivals = %v, want %v", got, want[2:4])
	}
	p3 := e.get(nextLink(p2.json(t), "next"), e.clin)
	if got := entryIDs(t, p3); !eq(got, want[4:]) || nextLink(p3.json(t), "next") != "" {
		t.Fatalf("page 3 = %v (next %q), want %v and no next", got, nextLink(p3.json(t), "next"), want[4:])
	}
	back := e.get(nextLink(p2.json(t), "previous"), e.clin)
	if got := entryIDs(t, back); !eq(got, want[:2]) {
		t.Fatalf("previous of page 2 = %v, want %v", got, want[:2])
	}
	// A fresh search sees the arrivals.
	if got := entryIDs(t, e.get(q, e.clin)); got[0] == want[0] {
		t.Fatalf("fresh search does not see the new report: %v", got)
	}
}

func nextLink(b map[string]any, rel string) string {
	ls, _ := b["link"].([]any)
	for _, l := range ls {
		if str(path(l, "relation")) == rel {
			return str(path(l, "url"))
		}
	}
	return ""
}

// Every resource and Bundle served, on every route, validates against the official R4 schema.
func TestServedFHIRValidatesAgainstSchema(t *testing.T) {
	v := fhirschema.Require(t)
	e := newEnv(t)
	s := seed(e)
	routes := []string{
		"/fhir/metadata",
		"/fhir/DiagnosticReport?patient.identifier=" + pid1() + "&_include=DiagnosticReport:result&_include=DiagnosticReport:imaging-study",
		"/fhir/DiagnosticReport?patient=Patient/" + s.p1 + "&status=preliminary,entered-in-error,final&_count=2",
		"/fhir/DiagnosticReport?code=JY001&_summary=count",
		"/fhir/DiagnosticReport/" + s.r1, "/fhir/DiagnosticReport/" + s.r3, "/fhir/DiagnosticReport/" + s.unmapped,
		"/fhir/DiagnosticReport/" + s.r1 + "/_history", "/fhir/DiagnosticReport/" + s.r3 + "/_history",
		"/fhir/DiagnosticReport/" + s.r3 + "/_history/1", "/fhir/DiagnosticReport/" + s.r3 + "/_history/9",
		"/fhir/DiagnosticReport/" + s.r3 + "/_history/x",
		"/fhir/Observation?patient=" + s.p1, "/fhir/Observation/" + s.r1 + "-3",
		"/fhir/ImagingStudy?patient=" + s.p1, "/fhir/ImagingStudy/nope",
		"/fhir/Patient?identifier=" + pid1(), "/fhir/Patient/" + s.p1, "/fhir/Patient/" + s.p2,
		"/fhir/DiagnosticReport?foo=1", "/fhir/Nope",
		"/fhir/DiagnosticReport?patient=" + s.p1 + "&_summary=true&_include=DiagnosticReport:patient&_total=accurate&_count=2",
		"/fhir/DiagnosticReport?patient=" + s.p1 + "&_elements=status,code&_pretty=true", "/fhir/DiagnosticReport?patient=" + s.p1 + "&_summary=text",
		"/fhir/Observation?patient=" + s.p1 + "&category=laboratory&_revinclude=DiagnosticReport:result&_sort=_lastUpdated&_count=2",
		"/fhir/Patient/" + s.p1 + "/$everything?_count=2", "/fhir/Patient/" + s.p1 + "?_summary=true", "/fhir/DiagnosticReport?_format=xml",
	}
	for _, rt := range routes {
		for _, tok := range []string{e.clin, ""} {
			r := e.get(rt, tok)
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
				t.Errorf("%s: Content-Type %q", rt, r.header.Get("Content-Type"))
			}
			if err := v.Validate(r.body); err != nil {
				t.Errorf("%s (status %d) does not validate: %v\n%s", rt, r.status, err, r.body)
			}
			if bytes.Contains(r.body, []byte(testenv.NID(1))) {
				t.Errorf("%s carries a plaintext resident ID", rt)
			}
		}
		if rt != "/fhir/metadata" {
			// follow paging links too
			r := e.get(rt, e.clin)
			if r.status == 200 && strings.Contains(rt, "_count=2") {
				if n := nextLink(r.json(t), "next"); n != "" {
					if err := v.Validate(e.get(n, e.clin).body); err != nil {
						t.Errorf("next page does not validate: %v", err)
					}
				}
			}
		}
	}
}
