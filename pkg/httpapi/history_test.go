package httpapi_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// versioned ingests three versions of one report, one batch each (final, amended with other
// values, entered-in-error), and a report with a single version. It returns their ids.
func versioned(e *env) (multi, single string) {
	r := testenv.Report{Performer: testenv.HospitalA, ID: "H-1", NID: testenv.NID(1), VersionID: "1", Note: "first"}
	multi = e.ingest(testenv.HospitalA, r.JSON())[0]
	r.VersionID, r.Status, r.Note, r.Values = "2", "amended", "amended", []float64{5.5, 4.5, 135, 0.41, 90, 30, 330, 210}
	e.ingest(testenv.HospitalA, r.JSON())
	r.VersionID, r.Status, r.Note = "3", "entered-in-error", "withdrawn"
	e.ingest(testenv.HospitalA, r.JSON())
	single = e.ingest(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: "H-2", NID: testenv.NID(1),
		Effective: day(21, 8)}.JSON())[0]
	return multi, single
}

func TestHistoryAndVread(t *testing.T) {
	v := fhirschema.Require(t)
	e := newEnv(t)
	multi, single := versioned(e)
	retrievals := func() int { return e.count(`SELECT count(*) FROM retrievals`) }

	// History: newest first, the first version a create, later ones (the withdrawal too) updates.
	before := retrievals()
	res := e.get("/fhir/DiagnosticReport/"+multi+"/_history", e.clin)
	if res.status != 200 {
		t.Fatalf("history: %d %s", res.status, res.body)
	}
	if err := v.Validate(res.body); err != nil {
		t.Errorf("history does not validate: %v\n%s", err, res.body)
	}
	b := res.json(t)
	if str(b["resourceType"]) != "Bundle" || str(b["type"]) != "history" || str(b["total"]) != "3" {
		t.Errorf("history bundle %s type %s total %s, want Bundle history 3", b["resourceType"], b["type"], str(b["total"]))
	}
	if got, want := str(path(b, "link.0.url")), e.srv.URL+"/fhir/DiagnosticReport/"+multi+"/_history"; got != want {
		t.Errorf("self link %s, want %s", got, want)
	}
	type entry struct{ method, url, status, etag, versionID, resStatus, conclusion string }
	want := []entry{
		{"PUT", "DiagnosticReport/" + multi, "200 OK", `W/"3"`, "3", "entered-in-error", "withdrawn"},
		{"PUT", "DiagnosticReport/" + multi, "200 OK", `W/"2"`, "2", "amended", "amended"},
		{"POST", "DiagnosticReport", "201 Created", `W/"1"`, "1", "final", "first"},
	}
	es, _ := b["entry"].([]any)
	if len(es) != len(want) {
		t.Fatalf("history has %d entries, want %d", len(es), len(want))
	}
	for i, x := range es {
		got := entry{str(path(x, "request.method")), str(path(x, "request.url")), str(path(x, "response.status")),
			str(path(x, "response.etag")), str(path(x, "resource.meta.versionId")), str(path(x, "resource.status")),
			str(path(x, "resource.conclusion"))}
		if got != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got, want[i])
		}
		if u := str(path(x, "fullUrl")); u != e.srv.URL+"/fhir/DiagnosticReport/"+multi {
			t.Errorf("entry %d fullUrl %s", i, u)
		}
		if lm := str(path(x, "response.lastModified")); lm == "" || lm != str(path(x, "resource.meta.lastUpdated")) {
			t.Errorf("entry %d lastModified %q, resource lastUpdated %q", i, lm, str(path(x, "resource.meta.lastUpdated")))
		}
		if s := str(path(x, "resource.subject.reference")); !strings.HasPrefix(s, "Patient/p") {
			t.Errorf("entry %d subject %q", i, s)
		}
	}
	// The older versions' results are not served: their references carry no reference.
	if refs, _ := path(es[1], "resource.result").([]any); len(refs) != 8 || str(path(refs[0], "reference")) != "" {
		t.Errorf("version 2 result = %v, want 8 display-only references", path(es[1], "resource.result"))
	}
	if bytes.Contains(res.body, []byte(testenv.NID(1))) {
		t.Errorf("history carries a plaintext resident ID")
	}
	if n := retrievals() - before; n != 1 {
		t.Errorf("history recorded %d retrievals, want 1", n)
	}

	// vread: each version; the current one is byte for byte the read.
	for i, w := range want {
		before := retrievals()
		r := e.get("/fhir/DiagnosticReport/"+multi+"/_history/"+w.versionID, e.clin)
		if r.status != 200 {
			t.Fatalf("vread %s: %d %s", w.versionID, r.status, r.body)
		}
		if err := v.Validate(r.body); err != nil {
			t.Errorf("vread %s does not validate: %v", w.versionID, err)
		}
		if et := r.header.Get("ETag"); et != w.etag {
			t.Errorf("vread %s ETag %q, want %q", w.versionID, et, w.etag)
		}
		m := r.json(t)
		if str(path(m, "meta.versionId")) != w.versionID || str(m["status"]) != w.resStatus || str(m["id"]) != multi {
			t.Errorf("vread %s: id %v version %v status %v", w.versionID, m["id"], path(m, "meta.versionId"), m["status"])
		}
		if got, hist := str(m), str(path(es[i], "resource")); got != hist {
			t.Errorf("vread %s differs from its history entry:\n%s\n%s", w.versionID, got, hist)
		}
		if n := retrievals() - before; n != 1 {
			t.Errorf("vread %s recorded %d retrievals, want 1", w.versionID, n)
		}
	}
	for _, id := range []string{multi, single} {
		read := e.get("/fhir/DiagnosticReport/"+id, e.clin)
		cur := e.get("/fhir/DiagnosticReport/"+id+"/_history/"+str(path(read.json(t), "meta.versionId")), e.clin)
		if read.status != 200 || !bytes.Equal(read.body, cur.body) || read.header.Get("ETag") != cur.header.Get("ETag") {
			t.Errorf("vread of the current version of %s differs from the read:\n%s\n%s", id, read.body, cur.body)
		}
	}
	// A report with one version: its history is its create, with its results referenced.
	sb := e.get("/fhir/DiagnosticReport/"+single+"/_history", e.clin).json(t)
	if str(sb["total"]) != "1" || str(path(sb, "entry.0.request.method")) != "POST" ||
		!strings.HasPrefix(str(path(sb, "entry.0.resource.result.0.reference")), "Observation/"+single+"-") {
		t.Errorf("history of a single version: %s", str(sb))
	}

	// An older version arriving late: received second, it is listed after the current version,
	// as the report's creation.
	late := testenv.Report{Performer: testenv.HospitalA, ID: "H-3", NID: testenv.NID(1), VersionID: "2", Status: "amended",
		Note: "amended", Effective: day(22, 8)}
	lateID := e.ingest(testenv.HospitalA, late.JSON())[0]
	late.VersionID, late.Status, late.Note = "1", "final", "first"
	e.ingest(testenv.HospitalA, late.JSON())
	lb := e.get("/fhir/DiagnosticReport/"+lateID+"/_history", e.clin)
	if err := v.Validate(lb.body); err != nil {
		t.Errorf("history does not validate: %v", err)
	}
	var lateGot []string
	lateEntries, _ := path(lb.json(t), "entry").([]any)
	for _, x := range lateEntries {
		lateGot = append(lateGot, fmt.Sprintf("%s %s %s", str(path(x, "request.method")), str(path(x, "resource.meta.versionId")),
			str(path(x, "resource.status"))))
	}
	if want := "[PUT 1 amended POST 2 final]"; fmt.Sprint(lateGot) != want {
		t.Errorf("history with a late older version = %v, want %s", lateGot, want)
	}
	// Whatever the arrival order, the first entry of a history is what the read serves.
	for _, id := range []string{multi, single, lateID} {
		read := e.get("/fhir/DiagnosticReport/"+id, e.clin).json(t)
		first := path(e.get("/fhir/DiagnosticReport/"+id+"/_history", e.clin).json(t), "entry.0.resource")
		if str(read) != str(first) {
			t.Errorf("report %s: first history entry differs from the read:\n%s\n%s", id, str(first), str(read))
		}
	}

	// Errors: OperationOutcome, no retrieval recorded.
	before = retrievals()
	for _, c := range []struct {
		path, tok string
		status    int
	}{
		{"/fhir/DiagnosticReport/" + strings.Repeat("0", 32) + "/_history", e.clin, 404},
		{"/fhir/DiagnosticReport/" + strings.Repeat("0", 32) + "/_history/1", e.clin, 404},
		{"/fhir/DiagnosticReport/" + multi + "/_history/4", e.clin, 404},
		{"/fhir/DiagnosticReport/" + multi + "/_history/0", e.clin, 400},
		{"/fhir/DiagnosticReport/" + multi + "/_history/01", e.clin, 400},
		{"/fhir/DiagnosticReport/" + multi + "/_history/x", e.clin, 400},
		{"/fhir/DiagnosticReport/" + multi + "/_history/99999999999999999999", e.clin, 400},
		{"/fhir/DiagnosticReport/" + multi + "/_history?_since=2026-01-01", e.clin, 400},
		{"/fhir/DiagnosticReport/" + multi + "/_history/1?foo=1", e.clin, 400},
		{"/fhir/DiagnosticReport/" + multi + "/_history", "", 401},
		{"/fhir/DiagnosticReport/" + multi + "/_history/1", "", 401},
		{"/fhir/DiagnosticReport/" + multi + "/_history", e.token(auth.RoleBureau, "330299"), 403},
		{"/fhir/DiagnosticReport/" + multi + "/_history/1", e.token(auth.RoleHIS, testenv.HospitalB), 403},
		{"/fhir/Observation/" + multi + "-1/_history", e.clin, 404},
	} {
		r := e.get(c.path, c.tok)
		if r.status != c.status || str(r.json(t)["resourceType"]) != "OperationOutcome" {
			t.Errorf("%s: %d %s, want %d OperationOutcome", c.path, r.status, r.body, c.status)
		}
		if err := v.Validate(r.body); err != nil {
			t.Errorf("%s: outcome does not validate: %v", c.path, err)
		}
	}
	if n := retrievals() - before; n != 0 {
		t.Errorf("refused requests recorded %d retrievals", n)
	}

	// The CapabilityStatement lists the interactions.
	cs := e.get("/fhir/metadata", "").json(t)
	var dr map[string]any
	rs, _ := path(cs, "rest.0.resource").([]any)
	for _, x := range rs {
		if str(path(x, "type")) == "DiagnosticReport" {
			dr, _ = x.(map[string]any)
		}
	}
	var codes []string
	is, _ := dr["interaction"].([]any)
	for _, x := range is {
		codes = append(codes, str(path(x, "code")))
	}
	if fmt.Sprint(codes) != "[read vread history-instance search-type]" || str(dr["versioning"]) != "versioned" || str(dr["readHistory"]) != "true" {
		t.Errorf("DiagnosticReport capabilities: interactions %v versioning %v readHistory %v", codes, dr["versioning"], dr["readHistory"])
	}
}
