package verdict_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// Who may call $validate, as whom, and what a request that cannot be checked answers.
func TestValidateRequests(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.DB(t)
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	hasher, _ := identity.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: cat, Hasher: hasher, Log: zaptest.NewLogger(t), TokenCacheTTL: -1,
		MaxMessageBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { srv.Close(); _ = api.Close() })
	tok := func(role, org string) string {
		s, err := auth.Create(ctx, pool, role, org, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hisB, hisA, admin := tok("his", testenv.HospitalB), tok("his", testenv.HospitalA), tok("admin", testenv.HospitalA)
	msg, err := os.ReadFile("../../docs/examples/lab-collection-bundle.json") // issued by HospitalB
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, token string, body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		return resp.StatusCode, string(b)
	}
	params := func(source string) []byte {
		p := `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + string(msg) + `}`
		if source != "" {
			p += `,{"name":"source","valueString":"` + source + `"}`
		}
		return []byte(p + `]}`)
	}
	big := []byte(`{"resourceType":"DiagnosticReport","conclusion":"` + strings.Repeat("x", 70<<10) + `"}`)
	for _, c := range []struct {
		name, path, token string
		body              []byte
		status            int
		want              string
	}{
		{"his of the performer", "/fhir/$validate", hisB, msg, 200, `"hub.new"`},
		{"his of another community", "/fhir/Bundle/$validate", hisA, msg, 200, `"rights.not_permitted"`},
		{"his naming itself", "/fhir/$validate?source=" + testenv.HospitalB, hisB, msg, 200, `"hub.new"`},
		{"his naming another publisher", "/fhir/$validate?source=" + testenv.HospitalB, hisA, msg, 403, "publishes as its institution"},
		{"admin with source", "/fhir/$validate?source=" + testenv.HospitalB, admin, msg, 200, `"hub.new"`},
		{"admin with source in Parameters", "/fhir/$validate", admin, params(testenv.HospitalB), 200, `"hub.new"`},
		{"admin without source", "/fhir/$validate", admin, msg, 400, "source=CODE"},
		{"clinician", "/fhir/$validate", tok("clinician", testenv.HospitalB), msg, 403, "may not use this route"},
		{"bureau", "/fhir/$validate", tok("bureau", testenv.HospitalB), msg, 403, "may not use this route"},
		{"wrong type for the route", "/fhir/DiagnosticReport/$validate", hisB, msg, 400, "post it to /fhir/$validate or /fhir/Bundle/$validate"},
		{"Parameters without resource", "/fhir/$validate", hisB, []byte(`{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"create"}]}`), 400, `no parameter \"resource\"`},
		{"unknown parameter", "/fhir/$validate", hisB, []byte(`{"resourceType":"Parameters","parameter":[{"name":"x","valueCode":"y"}]}`), 400, "not supported"},
		{"unknown query parameter", "/fhir/$validate?mode=create", hisB, msg, 400, "not supported"},
		{"not JSON: ingest's verdict", "/fhir/$validate", hisB, []byte(`{"resourceType": "Bundle", "entry": [`), 200, `"fhir.not_json"`},
		{"over the message limit: ingest's verdict", "/fhir/$validate", hisB, big, 200, `"kafka.too_large"`},
	} {
		status, body := post(c.path, c.token, c.body)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %.300s\nwant %d with %s", c.name, status, body, c.status, c.want)
		}
	}
}
