package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// fuzzRoutes are the router's routes (pkg/httpapi New and mountDecisions) and two that match
// none; {id} and {vid} take the fuzzed path segment.
var fuzzRoutes = []struct{ method, path string }{
	{"GET", "/fhir/metadata"},
	{"GET", "/fhir/DiagnosticReport"},
	{"GET", "/fhir/DiagnosticReport/{id}"},
	{"GET", "/fhir/DiagnosticReport/{id}/_history"},
	{"GET", "/fhir/DiagnosticReport/{id}/_history/{vid}"},
	{"GET", "/fhir/Observation"},
	{"GET", "/fhir/Observation/{id}"},
	{"GET", "/fhir/ImagingStudy"},
	{"GET", "/fhir/ImagingStudy/{id}"},
	{"GET", "/fhir/Patient"},
	{"GET", "/fhir/Patient/{id}"},
	{"GET", "/api/v1/recognizable"},
	{"GET", "/api/v1/reports/{id}"},
	{"POST", "/api/v1/decisions"},
	{"POST", "/api/v1/decisions/{id}/revoke"},
	{"GET", "/api/v1/decisions/{id}"},
	{"GET", "/api/v1/stats/recognition"},
	{"GET", "/fhir/{id}"},
	{"GET", "/api/v1/{id}"},
}

// Query parameter names the routes read; the fuzzed name is used when the selector is past them.
var fuzzParams = []string{"patient", "patient.identifier", "subject", "identifier", "_id", "code", "date", "issued",
	"status", "category", "item", "view", "_count", "_sort", "_include", "_revinclude", "_summary", "_format",
	"_page", "_elements", "from", "to", "by", "format", "performer", "modality", "started", "_lastUpdated"}

var fuzzHeaders = []string{"Accept", "Content-Type", "Prefer", "X-Forwarded-For", "X-Forwarded-Proto", "If-None-Match",
	"Authorization", "Accept-Language", "Idempotency-Key"}

var fuzzMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

// FuzzRoutes drives every route of the API with hostile input (NUL bytes, invalid UTF-8, long
// values, traversal, SQL metacharacters) in the method, path segments, query names and values,
// headers and bodies, against a server on a seeded test database, and fails on any 5xx
// answer or any request that takes over 20 s (a hang).
//
// Run: go test -run='^$' -fuzz=FuzzRoutes -fuzztime=3000x ./pkg/httpapi
func FuzzRoutes(f *testing.F) {
	_, pool := testenv.DB(f)
	ctx := context.Background()
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		f.Fatal(err)
	}
	h, err := identity.NewHasher([]byte("0123456789abcdef-fuzz-routes"))
	if err != nil {
		f.Fatal(err)
	}
	// One indexed report, so that ids and identifiers can hit real rows.
	nid := testenv.NID(7)
	prof := &profile.Profiler{Catalog: cat, Hasher: h, Location: cst}
	es, err := prof.Message(testenv.Report{Performer: testenv.HospitalA, ID: "F1", NID: nid, MRN: "M1"}.JSON(), testenv.HospitalA)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range es {
		e.Pos = index.Position{Topic: "mrhub.reports.v1"}
	}
	if _, err := index.NewStore(pool, "mrhub.index.v1", "mrhub.dlq.v1").Apply(ctx, &index.Batch{Consumer: "fuzz",
		Positions: []index.Position{{Topic: "mrhub.reports.v1"}}, Entries: es}); err != nil {
		f.Fatal(err)
	}
	reportID := es[0].ID
	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: cat, Hasher: h, Log: zap.NewNop(), TokenCacheTTL: -1,
		Location: cst, RequestTimeout: 30 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	f.Cleanup(func() { srv.Close(); _ = api.Close() })
	tokens := map[string]string{}
	for _, role := range []string{auth.RoleClinician, auth.RoleHIS, auth.RoleBureau} {
		tok, err := auth.Create(ctx, pool, role, testenv.HospitalA, 24*time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		tokens[role] = tok
	}
	client := &http.Client{Timeout: 20 * time.Second}

	seeds := []struct {
		route, method, hdr  uint8
		seg                 string
		param               uint8
		value, header, body string
	}{
		{2, 0, 0, reportID + "\x00", 0, "", "", ""},
		{2, 0, 0, "\x00", 0, "", "", ""},
		{12, 0, 0, reportID + "\x00", 0, "", "", ""},
		{15, 0, 0, "d1\x00", 0, "", "", ""},
		{1, 0, 0, "", 1, "http://mrhub.example/sid/resident-id|" + nid, "", ""},
		{1, 0, 0, "", 1, "http://his.unknown.example/sid/mrn|M1", "", ""},
		{1, 0, 0, "", 0, "Patient/p1\x00", "", ""},
		{11, 0, 0, "", 0, "urn:mrhub:mrn:QX001|\xff\xfe", "", ""},
		{10, 0, 0, "p1'; DROP TABLE reports; --", 0, "", "", ""},
		{10, 0, 0, "../../etc/passwd", 0, "", "", ""},
		{10, 0, 0, "p99999999999999999999999", 0, "", "", ""},
		{13, 1, 1, "", 0, "", "application/json", `{"id":"d\u0000","report":"` + reportID + `"}`},
		{13, 1, 1, "", 0, "", "application/json", `{"id":"d1","report":"\ud800"}`},
		{13, 1, 1, "", 0, "", "application/json", "{\"id\":\"\xff\"}"},
		{14, 1, 1, "d1", 0, "", "application/json", `{"revoked_at":"2026-11-20T10:00:00+08:00\u0000"}`},
		{16, 0, 0, "", 20, "2026-01-01\x00", "", ""},
		{4, 0, 0, reportID, 0, "", "", ""},
		{1, 0, 5, "", 17, "9999999999999999999999", "", ""},
		{1, 0, 4, "", 18, strings.Repeat("x", 9000), "https", ""},
		{9, 0, 6, "", 3, "a%zz", "\"x\"", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.method, s.hdr, s.seg, s.param, s.value, s.header, s.body)
	}

	f.Fuzz(func(t *testing.T, route, method, hdr uint8, seg string, param uint8, value, header, body string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		m := rt.method
		if method >= 200 { // now and then another method than the route's
			m = fuzzMethods[int(method)%len(fuzzMethods)]
		}
		esc := url.PathEscape(seg)
		p := strings.ReplaceAll(strings.ReplaceAll(rt.path, "{id}", esc), "{vid}", esc)
		name := url.QueryEscape(value)
		if int(param) < len(fuzzParams) {
			name = fuzzParams[param]
		}
		target := srv.URL + p + "?" + name + "=" + url.QueryEscape(value)
		if param%7 == 3 { // the value as raw as a URL can carry it
			target = srv.URL + p + "?" + name + "=" + strings.NewReplacer("#", "%23", " ", "%20", "&", "%26").Replace(value)
		}
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(m, target, rd)
		if err != nil {
			return // not a request a client can send
		}
		role := auth.RoleClinician
		switch {
		case strings.HasPrefix(rt.path, "/api/v1/stats"):
			role = auth.RoleBureau
		case strings.HasPrefix(rt.path, "/api/v1/decisions") && hdr%2 == 1:
			role = auth.RoleHIS
		}
		req.Header.Set("Authorization", "Bearer "+tokens[role])
		if header != "" {
			hn := fuzzHeaders[int(hdr)%len(fuzzHeaders)]
			req.Header.Set(hn, header)
		}
		if body != "" && req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) && ue.Timeout() {
				t.Fatalf("%s %s: no answer after %v (hang)", m, target, time.Since(start))
			}
			return // refused by the client or the HTTP server's own parser
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %.300q (header %q=%.100q, body %.200q): %d %s", m, target, fuzzHeaders[int(hdr)%len(fuzzHeaders)], header, body, res.StatusCode, b)
		}
		if res.StatusCode == 400 && strings.HasPrefix(p, "/fhir/") && !bytes.Contains(b, []byte("OperationOutcome")) {
			t.Fatalf("%s %.300q: 400 without an OperationOutcome: %s", m, target, b)
		}
	})
}
