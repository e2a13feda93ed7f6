package cdshooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/cdshooks"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// Codes of the seeded region used below.
const (
	qx002Lab = "http://his.qx002.example/lab-codes" // HospitalB's local lab codes: XCG = JY001, NCG = JY002
	qx001Lab = "http://his.qx001.example/lab-codes" // HospitalA's: 6587 = JY001, 6798 = JY002, 6673 = JY010
)

// The specification's own examples decode into the service's types with no field left over: the
// service uses the specification's field names.
func TestSpecExamplesUseTheseFieldNames(t *testing.T) {
	strict := func(b []byte, v any) error {
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	disc := specJSON(t, "specification.md", "### Discovery Example")
	if len(disc) != 1 {
		t.Fatalf("%d discovery examples", len(disc))
	}
	var d cdshooks.Discovery
	if err := strict(disc[0], &d); err != nil || len(d.Services) != 3 || d.Services[1].Hook != "order-select" || d.Services[1].Prefetch["patient"] == "" {
		t.Fatalf("discovery example: %v %+v", err, d)
	}
	call := specJSON(t, "specification.md", "### Example")
	var req cdshooks.Request
	if len(call) == 0 || strict(call[0], &req) != nil || req.HookInstance == "" || req.FHIRAuthorization.AccessToken == "" || req.Prefetch["patientToGreet"] == nil {
		t.Fatalf("request example: %+v", req)
	}
	resp := specJSON(t, "specification.md", "> Example response")
	if len(resp) == 0 {
		t.Fatal("no example response")
	}
	var r cdshooks.Response
	if err := strict(resp[0], &r); err != nil || len(r.Cards) != 2 || r.Cards[1].OverrideReasons[1].Code != "12354" || r.Cards[0].Links[0].Type != "absolute" {
		t.Fatalf("response example: %v %+v", err, r)
	}
	var n int
	for _, h := range []string{"#### Example suggestion accepted", "#### Example overridden guidance without overrideReason", "#### Example overridden guidance with overrideReason"} {
		for _, b := range specJSON(t, "specification.md", h) {
			var f cdshooks.FeedbackRequest
			if err := strict(b, &f); err != nil || len(f.Feedback) != 1 || f.Feedback[0].Card == "" || f.Feedback[0].OutcomeTimestamp == "" {
				t.Fatalf("feedback example under %q: %v %s", h, err, b)
			}
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d feedback examples, want 3", n)
	}
	sel := specJSON(t, "hook-order-select.md", "### Example (R4)")
	var body map[string]json.RawMessage
	if len(sel) != 1 || json.Unmarshal(sel[0], &body) != nil {
		t.Fatal("order-select R4 example")
	}
	var oc cdshooks.OrderContext
	if err := strict(body["context"], &oc); err != nil || oc.UserID != "PractitionerRole/123" || len(oc.Selections) != 2 {
		t.Fatalf("order-select context: %v %+v", err, oc)
	}
}

func TestDiscovery(t *testing.T) {
	_, pool := testenv.DB(t)
	e := newEnv(t, pool, newHasher(t), nil)
	code, b := e.do(http.MethodGet, "/cds-services", "", nil) // no token needed
	if code != http.StatusOK {
		t.Fatalf("GET /cds-services = %d %s", code, b)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	noEmpty(t, "$", raw)
	var d cdshooks.Discovery
	_ = json.Unmarshal(b, &d)
	hooks := map[string]string{}
	for _, s := range d.Services {
		hooks[s.ID] = s.Hook
		if s.Description == "" || s.Title == "" || s.Prefetch[cdshooks.PrefetchPatient] != "Patient/{{context.patientId}}" ||
			s.Prefetch[cdshooks.PrefetchUser] != "PractitionerRole?_id={{userPractitionerRoleId}}" {
			t.Errorf("service %+v", s)
		}
		for k, v := range s.Prefetch {
			if !strings.Contains(v, "{{") {
				t.Errorf("prefetch %s = %q has no prefetch token", k, v)
			}
		}
	}
	if hooks[cdshooks.ServiceSelect] != "order-select" || hooks[cdshooks.ServiceSign] != "order-sign" {
		t.Fatalf("services %v", hooks)
	}
	if code, b := e.do(http.MethodGet, "/cds-services/nope/feedback", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET of another route without a token = %d %s", code, b)
	}
}

// fixture indexes, for one patient: a blood routine (JY001) of HospitalB 26 hours old, one of
// HospitalA 5 days old (its trend), and a urine routine (JY002) of HospitalB 2 days old.
func fixture(e *env, nid string) (cbc, urine string) {
	now := time.Now()
	older := testenv.Report{Performer: testenv.HospitalA, ID: "A-" + nid, NID: nid, CodeSystem: qx001Lab, Code: "6587",
		Effective: now.Add(-5 * 24 * time.Hour), Values: []float64{4.8, 4.1, 120, 0.39, 88, 29, 320, 190}}
	ids := e.index(testenv.HospitalA, older)
	_ = ids
	ids = e.index(testenv.HospitalB,
		testenv.Report{Performer: testenv.HospitalB, ID: "B1-" + nid, NID: nid, CodeSystem: qx002Lab, Code: "XCG", Effective: now.Add(-26 * time.Hour)},
		testenv.Report{Performer: testenv.HospitalB, ID: "B2-" + nid, NID: nid, CodeSystem: qx002Lab, Code: "NCG", Effective: now.Add(-50 * time.Hour), Values: []float64{6.1}})
	return ids[0], ids[1]
}

func TestOrderSelectCardsAndFeedback(t *testing.T) {
	_, pool := testenv.DB(t)
	e := newEnv(t, pool, newHasher(t), nil)
	nid := testenv.NID(7)
	cbc, urine := fixture(e, nid)
	clin := e.token(auth.RoleClinician, testenv.HospitalA)

	// Three lab orders (blood routine in HospitalA's local code, urine routine by catalogue item,
	// the liver function panel with nothing recognisable) and a medication, which is passed over.
	med := map[string]any{"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
		"medicationCodeableConcept": map[string]any{"text": "aspirin"}, "subject": map[string]any{"reference": "Patient/p-1"}}
	orders := []map[string]any{serviceRequest("sr-1", qx001Lab, "6587"), serviceRequest("sr-2", "http://unknown.example", "x", profile.ItemSystem, "JY002"),
		serviceRequest("sr-3", qx001Lab, "6673"), med}
	sel := []string{"ServiceRequest/sr-1", "ServiceRequest/sr-2", "ServiceRequest/sr-3", "MedicationRequest/m1"}
	code, b := e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSelect, clin, hookRequest("order-select", nid, "心内科", sel, orders...))
	if code != http.StatusOK {
		t.Fatalf("hook call = %d %s", code, b)
	}
	if strings.Contains(string(b), nid) || strings.Contains(string(b), nid[6:14]) {
		t.Fatalf("a card carries the patient's identity number: %s", b)
	}
	resp := checkCards(t, b)
	if len(resp.Cards) != 2 {
		t.Fatalf("%d cards, want 2 (blood and urine routine): %s", len(resp.Cards), b)
	}
	byReport := map[string]cdshooks.Card{}
	for _, c := range resp.Cards {
		for _, l := range c.Links {
			byReport[l.URL[strings.LastIndex(l.URL, "/")+1:]] = c
		}
	}
	cc, uc := byReport[cbc], byReport[urine]
	if cc.UUID == "" || uc.UUID == "" {
		t.Fatalf("cards do not link the reports %s and %s: %s", cbc, urine, b)
	}
	if !strings.Contains(cc.Summary, "血常规") || !strings.Contains(cc.Summary, "清溪区第二人民医院") || !strings.Contains(cc.Summary, "1天前") {
		t.Errorf("summary %q", cc.Summary)
	}
	if got := cc.Suggestions[0].Actions[0].ResourceID; got != "ServiceRequest/sr-1" || !cc.Suggestions[0].IsRecommended {
		t.Errorf("blood routine suggestion %+v", cc.Suggestions[0])
	}
	if len(cc.OverrideReasons) != 8 || cc.OverrideReasons[0].Display != "病情变化" {
		t.Errorf("override reasons %+v", cc.OverrideReasons)
	}
	// The detail: issuer, validity, HR scope, values and the trend against HospitalA's result.
	for _, want := range []string{"清溪区第二人民医院", "互认有效期至", "本省HR", "| 指标 |", "↑ +0.4 (+9.8%)，前次 4.1（", "清溪区人民医院）", "3.6–5.4 |"} {
		if !strings.Contains(cc.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, cc.Detail)
		}
	}
	// Every card shown is a reminder; the item without a card is none.
	if n := e.count(`SELECT count(*) FROM reminders WHERE recognizable AND report_id IS NOT NULL`); n != 2 {
		t.Errorf("%d reminders, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM reminders`); n != 2 {
		t.Errorf("%d reminders in all, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM cds_cards WHERE department = '心内科' AND clinician = 'Practitioner/D0415' AND institution = $1`, testenv.HospitalA); n != 2 {
		t.Errorf("%d cards kept, want 2", n)
	}

	// English on request.
	code, b = e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSelect, clin, hookRequest("order-select", nid, "", sel[:1], orders...), "Accept-Language", "en-GB,en;q=0.9,zh;q=0.5")
	if en := checkCards(t, b); code != http.StatusOK || len(en.Cards) != 1 || !strings.HasPrefix(en.Cards[0].Summary, "Recognisable: Complete blood count") ||
		en.Cards[0].OverrideReasons[0].Display != "The patient's condition has changed" {
		t.Errorf("English card: %d %s", code, b)
	}
	if n := e.count(`SELECT count(*) FROM cds_cards WHERE department = $1`, cdshooks.UnspecifiedDepartment); n != 1 {
		t.Errorf("card without a department: %d", n)
	}

	// Feedback: the blood routine reused, the urine routine declined with reason 1.
	now := time.Now().UTC().Format(time.RFC3339)
	accept := map[string]any{"feedback": []any{map[string]any{"card": cc.UUID, "outcome": "accepted",
		"acceptedSuggestions": []any{map[string]any{"id": cc.Suggestions[0].UUID}}, "outcomeTimestamp": now}}}
	fb := func(body any) (int, cdshooks.FeedbackResponse, []byte) {
		code, b := e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSelect+"/feedback", clin, body)
		var r cdshooks.FeedbackResponse
		_ = json.Unmarshal(b, &r)
		return code, r, b
	}
	code, r, b := fb(accept)
	if code != http.StatusOK || r.Feedback[0].Result != cdshooks.ResultCreated || r.Feedback[0].Decision != cdshooks.DecisionID(cc.UUID, "accepted") {
		t.Fatalf("accept = %d %s", code, b)
	}
	// An EHR that retries (another timestamp) does not count twice.
	accept["feedback"].([]any)[0].(map[string]any)["outcomeTimestamp"] = time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	if code, r, b := fb(accept); code != http.StatusOK || r.Feedback[0].Result != cdshooks.ResultDuplicate {
		t.Fatalf("retried accept = %d %s", code, b)
	}
	override := map[string]any{"feedback": []any{map[string]any{"card": uc.UUID, "outcome": "overridden",
		"overrideReason":   map[string]any{"reason": map[string]any{"code": "1", "system": cdshooks.DeclineReasonSystem}, "userComment": "患者 " + nid + " 病情加重"},
		"outcomeTimestamp": now}}}
	if code, r, b := fb(override); code != http.StatusOK || r.Feedback[0].Result != cdshooks.ResultCreated {
		t.Fatalf("override = %d %s", code, b)
	}
	var note string
	if err := pool.QueryRow(e.ctx, `SELECT note FROM decisions WHERE id = $1`, cdshooks.DecisionID(uc.UUID, "overridden")).Scan(&note); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(note, nid) || !strings.Contains(note, identityMask(nid)) {
		t.Errorf("stored note %q: the identity number must be masked", note)
	}
	if n := e.count(`SELECT count(*) FROM decisions WHERE via = 'cds-hooks' AND department = '心内科' AND clinician = 'Practitioner/D0415'`); n != 2 {
		t.Errorf("%d decisions via cds-hooks, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM cds_feedback`); n != 2 {
		t.Errorf("%d feedback rows, want 2", n)
	}
	// The other outcome for a decided card is a conflict.
	override["feedback"].([]any)[0].(map[string]any)["card"] = cc.UUID
	if code, _, b := fb(override); code != http.StatusConflict {
		t.Errorf("overriding an accepted card = %d %s", code, b)
	}

	// The decisions are the API's decisions: GET /api/v1/decisions/{id} and the statistics.
	if code, b := e.do(http.MethodGet, "/api/v1/decisions/"+cdshooks.DecisionID(cc.UUID, "accepted"), clin, nil); code != http.StatusOK || !strings.Contains(string(b), `"outcome":"recognized"`) {
		t.Errorf("decision via the API: %d %s", code, b)
	}
	day := time.Now().In(cst).Format("2006-01-02")
	bureau := e.token(auth.RoleBureau, testenv.HospitalA)
	code, b = e.do(http.MethodGet, "/api/v1/stats/recognition?by=institution&from="+day+"&to="+day, bureau, nil)
	var st statsReport
	if code != http.StatusOK || json.Unmarshal(b, &st) != nil {
		t.Fatalf("stats %d %s", code, b)
	}
	found := false
	for _, g := range st.Groups {
		if g.Key.Institution == testenv.HospitalA {
			found = true
			if f := g.Figures; f.Recognized != 1 || f.DeclinedCounting != 1 || f.Reminders != 3 || f.SavingsCents != 2000 {
				t.Errorf("HospitalA's statistics %+v, want 1 recognised, 1 declined, 3 reminders, ¥20.00", f)
			}
		}
	}
	if !found {
		t.Errorf("no statistics row for HospitalA: %s", b)
	}
}

func identityMask(nid string) string { return nid[:4] + strings.Repeat("*", 10) + nid[14:] }

func TestCallErrors(t *testing.T) {
	_, pool := testenv.DB(t)
	// A FHIR server the hub may read a missing prefetch from.
	nid := testenv.NID(11)
	var gotAuth string
	fhir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/fhir/Patient/p-1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprintf(w, `{"resourceType":"Patient","id":"p-1","identifier":[{"system":%q,"value":%q}]}`, residentID, nid)
	}))
	defer fhir.Close()
	e := newEnv(t, pool, newHasher(t), func(o *cdshooks.Options) { o.FHIRServers = []string{fhir.URL + "/fhir/"} })
	fixture(e, nid)
	clin := e.token(auth.RoleClinician, testenv.HospitalA)
	other := e.token(auth.RoleClinician, testenv.HospitalB)
	bureau := e.token(auth.RoleBureau, testenv.HospitalA)
	order := serviceRequest("sr-1", qx001Lab, "6587")
	good := func() map[string]any { return hookRequest("order-sign", nid, "", nil, order) }
	path := "/cds-services/" + cdshooks.ServiceSign

	type tc struct {
		name   string
		token  string
		path   string
		body   any
		status int
		says   string
	}
	with := func(f func(m map[string]any)) map[string]any { m := good(); f(m); return m }
	ctxOf := func(m map[string]any) map[string]any { return m["context"].(map[string]any) }
	cases := []tc{
		{"no token", "", path, good(), 401, "Bearer"},
		{"bureau token", bureau, path, good(), 403, "his, clinician"},
		{"unknown service", clin, "/cds-services/nope", good(), 404, "GET /cds-services"},
		{"not JSON", clin, path, "[1,2]", 400, "JSON object"},
		{"wrong hook", clin, path, with(func(m map[string]any) { m["hook"] = "order-select" }), 400, "answers order-sign"},
		{"no hookInstance", clin, path, with(func(m map[string]any) { delete(m, "hookInstance") }), 400, "hookInstance"},
		{"hookInstance not a string", clin, path, with(func(m map[string]any) { m["hookInstance"] = 7 }), 400, "hookInstance"},
		{"no context", clin, path, with(func(m map[string]any) { delete(m, "context") }), 400, "context is required"},
		{"no userId", clin, path, with(func(m map[string]any) { delete(ctxOf(m), "userId") }), 400, "context.userId"},
		{"no patientId", clin, path, with(func(m map[string]any) { delete(ctxOf(m), "patientId") }), 400, "context.patientId"},
		{"no draftOrders", clin, path, with(func(m map[string]any) { delete(ctxOf(m), "draftOrders") }), 400, "context.draftOrders"},
		{"draftOrders not a Bundle", clin, path, with(func(m map[string]any) { ctxOf(m)["draftOrders"] = order }), 400, "Bundle"},
		{"order without id", clin, path, with(func(m map[string]any) {
			ctxOf(m)["draftOrders"] = map[string]any{"resourceType": "Bundle", "entry": []any{map[string]any{"resource": map[string]any{"resourceType": "ServiceRequest"}}}}
		}), 400, "has no id"},
		{"order-select without selections", clin, "/cds-services/" + cdshooks.ServiceSelect, hookRequest("order-select", nid, "", nil, order), 400, "context.selections"},
		{"selection naming nothing", clin, "/cds-services/" + cdshooks.ServiceSelect, hookRequest("order-select", nid, "", []string{"ServiceRequest/zz"}, order), 400, "names no resource"},
		{"authorization without server", clin, path, with(func(m map[string]any) {
			m["fhirAuthorization"] = map[string]any{"access_token": "x", "token_type": "Bearer"}
		}), 400, "fhirServer is required"},
		{"prefetch missing", clin, path, with(func(m map[string]any) { delete(m, "prefetch") }), 412, "prefetch.patient"},
		{"prefetch null", clin, path, with(func(m map[string]any) { m["prefetch"] = map[string]any{"patient": nil} }), 412, "prefetch.patient"},
		{"prefetch an OperationOutcome", clin, path, with(func(m map[string]any) {
			m["prefetch"] = map[string]any{"patient": map[string]any{"resourceType": "OperationOutcome", "issue": []any{}}}
		}), 412, "prefetch.patient"},
		{"server not allowed", clin, path, with(func(m map[string]any) {
			delete(m, "prefetch")
			m["fhirServer"], m["fhirAuthorization"] = "https://evil.example/fhir", map[string]any{"access_token": "x", "token_type": "Bearer", "expires_in": 300, "scope": "user/Patient.read", "subject": "mrhub"}
		}), 412, "not configured"},
		{"patient mismatch", clin, path, with(func(m map[string]any) { ctxOf(m)["patientId"] = "p-2" }), 400, "context.patientId is p-2"},
	}
	for _, c := range cases {
		code, b := e.do(http.MethodPost, c.path, c.token, c.body)
		if code != c.status || !strings.Contains(string(b), c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, code, b, c.status, c.says)
		}
		if strings.Contains(string(b), nid) {
			t.Errorf("%s: the answer repeats the identity number: %s", c.name, b)
		}
	}

	// Without prefetch, from the allowed FHIR server with the request's token.
	m := good()
	delete(m, "prefetch")
	m["fhirServer"], m["fhirAuthorization"] = fhir.URL+"/fhir", map[string]any{"access_token": "ehr-token-1", "token_type": "Bearer", "expires_in": 300, "scope": "user/Patient.read", "subject": "mrhub"}
	code, b := e.do(http.MethodPost, path, clin, m)
	if resp := checkCards(t, b); code != http.StatusOK || len(resp.Cards) != 1 || gotAuth != "Bearer ehr-token-1" {
		t.Errorf("prefetch read from fhirServer: %d %s (authorization %q)", code, b, gotAuth)
	}
	// The department from a prefetched Encounter when no PractitionerRole names one.
	m = good()
	m["prefetch"].(map[string]any)["encounter"] = map[string]any{"resourceType": "Encounter", "id": "e1", "status": "in-progress",
		"serviceType": map[string]any{"coding": []any{map[string]any{"system": "http://his.example/dept", "code": "JZK", "display": "急诊科"}}}}
	if code, b := e.do(http.MethodPost, path, clin, m); code != http.StatusOK || len(checkCards(t, b).Cards) != 1 ||
		e.count(`SELECT count(*) FROM cds_cards WHERE department = '急诊科'`) != 1 {
		t.Errorf("department from the Encounter: %d %s", code, b)
	}
	// An unknown patient, or only MedicationRequests: no cards.
	if code, b := e.do(http.MethodPost, path, clin, hookRequest("order-sign", testenv.NID(12), "", nil, order)); code != http.StatusOK || string(b) != `{"cards":[]}` {
		t.Errorf("unknown patient: %d %s", code, b)
	}

	// Feedback errors.
	code, b = e.do(http.MethodPost, path, clin, good())
	if code != http.StatusOK {
		t.Fatalf("a card to give feedback on: %d %s", code, b)
	}
	card := checkCards(t, b).Cards[0]
	fpath := path + "/feedback"
	item := func(f func(m map[string]any)) map[string]any {
		m := map[string]any{"card": card.UUID, "outcome": "accepted", "acceptedSuggestions": []any{map[string]any{"id": card.Suggestions[0].UUID}},
			"outcomeTimestamp": time.Now().UTC().Format(time.RFC3339)}
		f(m)
		return map[string]any{"feedback": []any{m}}
	}
	fcases := []tc{
		{"empty feedback", clin, fpath, map[string]any{"feedback": []any{}}, 400, "feedback is required"},
		{"bad outcome", clin, fpath, item(func(m map[string]any) { m["outcome"] = "ignored" }), 400, "outcome must be"},
		{"accepted without suggestions", clin, fpath, item(func(m map[string]any) { delete(m, "acceptedSuggestions") }), 400, "acceptedSuggestions is required"},
		{"unknown suggestion", clin, fpath, item(func(m map[string]any) { m["acceptedSuggestions"] = []any{map[string]any{"id": "x"}} }), 400, "names no suggestion"},
		{"no timestamp", clin, fpath, item(func(m map[string]any) { delete(m, "outcomeTimestamp") }), 400, "outcomeTimestamp is required"},
		{"bad timestamp", clin, fpath, item(func(m map[string]any) { m["outcomeTimestamp"] = "yesterday" }), 400, "RFC 3339"},
		{"future timestamp", clin, fpath, item(func(m map[string]any) { m["outcomeTimestamp"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339) }), 400, "in the future"},
		{"unknown card", clin, fpath, item(func(m map[string]any) { m["card"] = "4e0a3a1e-3283-4575-ab82-028d55fe2719" }), 400, "no card"},
		{"not a uuid", clin, fpath, item(func(m map[string]any) { m["card"] = "card-1" }), 400, "not a card uuid"},
		{"reason of another system", clin, fpath, item(func(m map[string]any) {
			m["outcome"] = "overridden"
			delete(m, "acceptedSuggestions")
			m["overrideReason"] = map[string]any{"reason": map[string]any{"code": "1", "system": "https://example.com/override"}}
		}), 400, cdshooks.DeclineReasonSystem},
		{"unknown reason", clin, fpath, item(func(m map[string]any) {
			m["outcome"] = "overridden"
			delete(m, "acceptedSuggestions")
			m["overrideReason"] = map[string]any{"reason": map[string]any{"code": "7", "system": cdshooks.DeclineReasonSystem}}
		}), 400, "1, 2, 3, 4, 5, 6, 98, 99"},
		{"reason 6 without a comment", clin, fpath, item(func(m map[string]any) {
			m["outcome"] = "overridden"
			delete(m, "acceptedSuggestions")
			m["overrideReason"] = map[string]any{"reason": map[string]any{"code": "6", "system": cdshooks.DeclineReasonSystem}}
		}), 400, "requires a note"},
		{"another institution", other, fpath, item(func(m map[string]any) {}), 403, "may not answer it"},
		{"the other service", clin, "/cds-services/" + cdshooks.ServiceSelect + "/feedback", item(func(m map[string]any) {}), 400, "was shown by service"},
	}
	for _, c := range fcases {
		code, b := e.do(http.MethodPost, c.path, c.token, c.body)
		if code != c.status || !strings.Contains(string(b), c.says) {
			t.Errorf("feedback, %s: %d %s, want %d saying %q", c.name, code, b, c.status, c.says)
		}
	}
	if n := e.count(`SELECT count(*) FROM decisions`); n != 0 {
		t.Errorf("%d decisions after rejected feedback", n)
	}
	// An override without a reason records no decision.
	code, b = e.do(http.MethodPost, fpath, clin, item(func(m map[string]any) { m["outcome"] = "overridden"; delete(m, "acceptedSuggestions") }))
	if code != http.StatusOK || !strings.Contains(string(b), `"result":"dismissed"`) || e.count(`SELECT count(*) FROM decisions`) != 0 {
		t.Errorf("dismissed card: %d %s", code, b)
	}
}

func TestMaskIdentityNumbers(t *testing.T) {
	nid := testenv.NID(3)
	for in, want := range map[string]string{
		"患者" + nid + "复查":     "患者" + identityMask(nid) + "复查",
		"医保 123456789012 已核对": "医保 ********9012 已核对",
		"血红蛋白 135 g/L":        "血红蛋白 135 g/L",
	} {
		if got := cdshooks.MaskIdentityNumbers(in); got != want {
			t.Errorf("MaskIdentityNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}

// statsReport is the part of GET /api/v1/stats/recognition?by=institution the tests read.
type statsReport struct {
	Groups []struct {
		Key struct {
			Institution string `json:"institution"`
		} `json:"key"`
		Figures struct {
			Decisions        int `json:"decisions"`
			Recognized       int `json:"recognized"`
			DeclinedCounting int `json:"declined_counting"`
			Reminders        int `json:"reminders"`
			SavingsCents     int `json:"savings_cents"`
		} `json:"figures"`
	} `json:"groups"`
}

// The specification's own order-select request (R4: a NutritionOrder and a MedicationRequest) is
// answered with no card, and its feedback examples name cards this hub never showed.
func TestSpecExampleRequests(t *testing.T) {
	_, pool := testenv.DB(t)
	e := newEnv(t, pool, newHasher(t), nil)
	his := e.token(auth.RoleHIS, testenv.HospitalA)
	sel := specJSON(t, "hook-order-select.md", "### Example (R4)")
	var body map[string]json.RawMessage
	if err := json.Unmarshal(sel[0], &body); err != nil {
		t.Fatal(err)
	}
	req := map[string]any{"hook": "order-select", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": body["context"]}
	code, b := e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSelect, his, req)
	if resp := checkCards(t, b); code != http.StatusOK || len(resp.Cards) != 0 {
		t.Errorf("the specification's order-select example: %d %s", code, b)
	}
	sign := specJSON(t, "hook-order-sign.md", "### Example (R4)")
	if len(sign) == 1 {
		var sb map[string]json.RawMessage
		if err := json.Unmarshal(sign[0], &sb); err != nil {
			t.Fatal(err)
		}
		req := map[string]any{"hook": "order-sign", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2eb", "context": sb["context"]}
		code, b := e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSign, his, req)
		if resp := checkCards(t, b); code != http.StatusOK || len(resp.Cards) != 0 {
			t.Errorf("the specification's order-sign example: %d %s", code, b)
		}
	}
	for _, h := range []string{"#### Example suggestion accepted", "#### Example overridden guidance with overrideReason"} {
		for _, fb := range specJSON(t, "specification.md", h) {
			code, b := e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSelect+"/feedback", his, fb)
			var er struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if code != http.StatusBadRequest || json.Unmarshal(b, &er) != nil || er.Error.Code != "bad_request" || er.Error.Message == "" {
				t.Errorf("%s: %d %s, want 400 with what is wrong", h, code, b)
			}
		}
	}
}
