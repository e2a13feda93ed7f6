package hub_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// Institutions of the seeded region used below (seeds/region.json).
const (
	district    = "12330299473079193Y" // QX001 清溪区人民医院, lead of QXYG01
	township    = "12330299473554337R" // QX101 青山镇卫生院, QXYG01
	townshipMRN = "http://his.qx101.example/sid/mrn"
	districtMRN = "http://his.qx001.example/sid/mrn"
	residentSys = "http://mrhub.example/sid/resident-id"
	usccSystem  = "https://mrhub.example/sid/uscc"
)

// liveHub is a hub serving on a test database and embedded broker, with its HTTP API on an
// httptest server and its log observed.
type liveHub struct {
	t    *testing.T
	cfg  config.Config
	pool *pgxpool.Pool
	h    *hub.Hub
	api  *httptest.Server
	logs *observer.ObservedLogs
	clin string
}

func startHub(t *testing.T) *liveHub {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 1)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions = 1
	cfg.Consumers = 1
	obs, logs := observer.New(zap.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core(), obs))
	h, err := hub.Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("opening hub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, nil) }()
	api, err := httpapi.New(httpapi.Options{Pool: h.Pool, Catalog: h.Catalog, Hasher: h.Hasher, Log: log, TokenCacheTTL: -1,
		Location: cfg.Location()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = api.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub stopped with: %v", err)
		}
		h.Close()
	})
	tok, err := auth.Create(context.Background(), pool, auth.RoleClinician, district, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &liveHub{t: t, cfg: cfg, pool: pool, h: h, api: srv, logs: logs, clin: tok}
}

// publish sends values as source and waits until the hub has consumed them (indexed or
// dead-lettered).
func (l *liveHub) publish(source string, values ...[]byte) {
	l.t.Helper()
	var before int
	_ = l.pool.QueryRow(context.Background(), `SELECT COALESCE(sum(next_offset), 0)::int FROM ingest_offsets WHERE topic = $1`, l.cfg.TopicReports).Scan(&before)
	testenv.Publish(l.t, l.cfg.KafkaBrokers, l.cfg.TopicReports, source, func(i int) string { return source }, values...)
	testenv.WaitFor(l.t, 30*time.Second, "reports consumed", func() bool {
		var n int
		_ = l.pool.QueryRow(context.Background(), `SELECT COALESCE(sum(next_offset), 0)::int FROM ingest_offsets WHERE topic = $1`, l.cfg.TopicReports).Scan(&n)
		return n >= before+len(values)
	})
}

func (l *liveHub) get(path string) (int, []byte) {
	l.t.Helper()
	req, _ := http.NewRequest("GET", l.api.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+l.clin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// ids returns the resource ids of a searchset Bundle.
func ids(t *testing.T, body []byte) []string {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not a Bundle: %s", body)
	}
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ID)
	}
	return out
}

// referralBundle is a lab report of performer published as a collection Bundle whose Patient
// carries the given identifiers, with the performer Organization.
func referralBundle(performer, reportID string, patientIDs []any, extra ...any) []byte {
	entries := []any{
		map[string]any{"fullUrl": "urn:uuid:" + reportID + "-dr", "resource": map[string]any{
			"resourceType": "DiagnosticReport", "status": "final",
			"identifier":        []any{map[string]any{"system": "http://his.example/report/" + performer, "value": reportID}},
			"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}}}},
			"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "58410-2"}}},
			"subject":           map[string]any{"reference": "urn:uuid:" + reportID + "-p"},
			"performer":         []any{map[string]any{"reference": "urn:uuid:" + reportID + "-o"}},
			"effectiveDateTime": "2026-11-20T08:30:00+08:00", "issued": "2026-11-20T10:45:00+08:00",
		}},
		map[string]any{"fullUrl": "urn:uuid:" + reportID + "-p", "resource": map[string]any{
			"resourceType": "Patient", "identifier": patientIDs,
			"name": []any{map[string]any{"text": "王小明"}}, "gender": "male", "birthDate": "1986-03-14"}},
		map[string]any{"fullUrl": "urn:uuid:" + reportID + "-o", "resource": map[string]any{
			"resourceType": "Organization", "identifier": []any{map[string]any{"system": usccSystem, "value": performer}}, "name": "performer"}},
	}
	entries = append(entries, extra...)
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	if err != nil {
		panic(err)
	}
	return b
}

func mrn(system, value string, assigner any) map[string]any {
	m := map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}},
		"system": system, "value": value}
	if assigner != nil {
		m["assigner"] = assigner
	}
	return m
}

// TestReferralLinksByTheIssuersMRN is the referral of docs/rules.md: a township centre's
// patient, known there by the centre's MRN only, is referred to the district hospital of the
// same medical community, whose report carries the resident ID and the township's MRN with its
// assigner. Both reports are one patient; a search by either identifier returns both, the
// Patient read names the township as the MRN's issuer, and a search by a system the hub cannot
// place is a 400 that says so.
func TestReferralLinksByTheIssuersMRN(t *testing.T) {
	l := startHub(t)
	nid := testenv.NID(4242)
	l.publish(township, referralBundle(township, "QS-R1", []any{mrn(townshipMRN, "QS-0048213", nil)}))
	l.publish(district, referralBundle(district, "QX-R1", []any{
		map[string]any{"system": residentSys, "value": nid},
		mrn(districtMRN, "D-77", nil),
		mrn(townshipMRN, "QS-0048213", map[string]any{"identifier": map[string]any{"system": usccSystem, "value": township}}),
	}))

	var reports, patients int
	if err := l.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT patient_id) FROM reports`).Scan(&reports, &patients); err != nil {
		t.Fatal(err)
	}
	if reports != 2 || patients != 1 {
		t.Fatalf("%d reports of %d patients, want 2 reports of one patient", reports, patients)
	}
	for _, q := range []string{
		residentSys + "|" + nid,
		townshipMRN + "|QS-0048213",
		"urn:mrhub:mrn:QX101|QS-0048213",
		"urn:mrhub:mrn:" + township + "|QS-0048213",
		districtMRN + "|D-77",
	} {
		st, body := l.get("/fhir/DiagnosticReport?patient.identifier=" + url.QueryEscape(q))
		if st != 200 {
			t.Fatalf("search by %s: %d %s", q, st, body)
		}
		if got := ids(t, body); len(got) != 2 {
			t.Errorf("search by %s found %v, want both reports", q, got)
		}
	}
	// The district's own MRN system with the township's number is another patient number.
	if st, body := l.get("/fhir/DiagnosticReport?patient.identifier=" + url.QueryEscape(districtMRN+"|QS-0048213")); st != 200 || len(ids(t, body)) != 0 {
		t.Errorf("search by the district's system with the township's MRN: %d %s, want an empty searchset", st, body)
	}
	// A system no catalogue entry registers is refused, saying so.
	st, body := l.get("/fhir/DiagnosticReport?patient.identifier=" + url.QueryEscape("http://his.unknown.example/sid/mrn|QS-0048213"))
	if st != 400 || !strings.Contains(string(body), "OperationOutcome") || !strings.Contains(string(body), "cannot place") {
		t.Errorf("search by an unknown MRN system: %d %s, want 400 OperationOutcome saying the hub cannot place it", st, body)
	}

	// The Patient read names the township as the issuer of its MRN, the district of its own.
	st, body = l.get("/fhir/Patient?identifier=" + url.QueryEscape(townshipMRN+"|QS-0048213"))
	if st != 200 {
		t.Fatalf("Patient search: %d %s", st, body)
	}
	pids := ids(t, body)
	if len(pids) != 1 {
		t.Fatalf("Patient search found %v, want one patient", pids)
	}
	st, body = l.get("/fhir/Patient/" + pids[0])
	if st != 200 {
		t.Fatalf("Patient read: %d %s", st, body)
	}
	var pt struct {
		Identifier []struct {
			System   string `json:"system"`
			Value    string `json:"value"`
			Assigner struct {
				Identifier struct{ Value string } `json:"identifier"`
			} `json:"assigner"`
		} `json:"identifier"`
	}
	if err := json.Unmarshal(body, &pt); err != nil {
		t.Fatal(err)
	}
	issuers := map[string]string{} // masked MRN -> assigner
	for _, x := range pt.Identifier {
		if strings.Contains(x.System, "/mrn/") {
			issuers[x.Value] = x.Assigner.Identifier.Value
		}
	}
	if issuers["******8213"] != township || issuers["****"] != district || len(issuers) != 2 {
		t.Errorf("Patient MRNs and their assigners: %v, want ******8213 by the township %s and **** by the district %s\n%s", issuers, township, district, body)
	}
}

// TestSameIssuerMRNIsOnePerson: the same (issuer, MRN) on reports of two performers is one
// patient, whether the issuer is named by assigner identifier, by a reference to an
// Organization of the message, or by the catalogue's MRN system; an assigner outside the
// region is never filed under the performer.
func TestSameIssuerMRNIsOnePerson(t *testing.T) {
	l := startHub(t)
	l.publish(township, referralBundle(township, "T-1", []any{mrn(townshipMRN, "QS-1", nil)}))
	// Same number, issuer by an assigner reference to an Organization entry of the message.
	l.publish(district, referralBundle(district, "D-1", []any{mrn("http://his.qx101.example/other", "QS-1",
		map[string]any{"reference": "urn:uuid:org-township"})},
		map[string]any{"fullUrl": "urn:uuid:org-township", "resource": map[string]any{"resourceType": "Organization",
			"identifier": []any{map[string]any{"system": usccSystem, "value": township}}}}))
	// Same number in the township's registered system, no assigner, performed by the district.
	l.publish(district, referralBundle(district, "D-2", []any{mrn(townshipMRN, "QS-1", nil)}))
	// The district's own patient with the same number: another person.
	l.publish(district, referralBundle(district, "D-3", []any{mrn(districtMRN, "QS-1", nil)}))
	// An assigner outside the region: the MRN is not filed (the resident ID is).
	l.publish(district, referralBundle(district, "D-4", []any{
		map[string]any{"system": residentSys, "value": testenv.NID(77)},
		mrn("http://his.elsewhere.example/sid/mrn", "QS-1", map[string]any{"identifier": map[string]any{"system": usccSystem, "value": "12110000000000000X"}}),
	}))

	rows, err := l.pool.Query(context.Background(), `SELECT r.natural_key, r.patient_id FROM reports r ORDER BY r.natural_key`)
	if err != nil {
		t.Fatal(err)
	}
	byReport := map[string]int64{}
	for rows.Next() {
		var k string
		var p int64
		if err := rows.Scan(&k, &p); err != nil {
			t.Fatal(err)
		}
		byReport[k[strings.LastIndexByte(k, '|')+1:]] = p
	}
	rows.Close()
	if len(byReport) != 5 {
		t.Fatalf("reports indexed: %v, want 5", byReport)
	}
	if byReport["T-1"] != byReport["D-1"] || byReport["T-1"] != byReport["D-2"] {
		t.Errorf("the township's MRN QS-1 on reports of both institutions made patients %v, want one", byReport)
	}
	if byReport["D-3"] == byReport["T-1"] || byReport["D-4"] == byReport["T-1"] || byReport["D-4"] == byReport["D-3"] {
		t.Errorf("other issuers' QS-1 linked to the township's patient: %v", byReport)
	}
	var n int
	if err := l.pool.QueryRow(context.Background(), `SELECT count(*) FROM patient_identifiers WHERE kind = 'mrn'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d MRN identifiers stored, want 2 (township QS-1, district QS-1)", n)
	}
}
