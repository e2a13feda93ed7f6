package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestHostileBytesAre400BeforeTheDatabase: NUL characters, bytes that are not UTF-8 and bad
// escapes in ids, search values and bodies are answered 400 with an OperationOutcome (FHIR) or a
// JSON error that says what is wrong, never 500.
func TestHostileBytesAre400BeforeTheDatabase(t *testing.T) {
	e := newEnv(t)
	id := e.ingest(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: "N1", NID: testenv.NID(3)}.JSON())[0]
	his := e.token(auth.RoleHIS, testenv.HospitalB)
	for _, c := range []struct {
		method, path, body, want string
	}{
		{"GET", "/fhir/DiagnosticReport/" + id + "%00", "", "NUL"},
		{"GET", "/fhir/DiagnosticReport/%00", "", "NUL"},
		{"GET", "/fhir/DiagnosticReport/" + id + "/_history/1%00", "", "NUL"},
		{"GET", "/fhir/Patient/p1%00", "", "NUL"},
		{"GET", "/api/v1/reports/" + id + "%00", "", "NUL"},
		{"GET", "/api/v1/decisions/d1%00", "", "NUL"},
		{"GET", "/fhir/DiagnosticReport?patient.identifier=http://mrhub.example/sid/resident-id%7C1%00", "", "NUL"},
		{"GET", "/fhir/DiagnosticReport?code=%ff%fe", "", "UTF-8"},
		{"GET", "/fhir/DiagnosticReport/%ff", "", "UTF-8"},
		{"GET", "/api/v1/recognizable?patient=a%zz", "", "percent escape"},
		{"POST", "/api/v1/decisions", `{"id":"d\u0000"}`, `\u0000`},
		{"POST", "/api/v1/decisions", `{"id":"\udc00"}`, "surrogate"},
		{"POST", "/api/v1/decisions", "{\"id\":\"\xff\"}", "UTF-8"},
		{"POST", "/api/v1/decisions/d1/revoke", `{"revoked_at":"x\u0000"}`, `\u0000`},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		tok := e.clin
		if c.method == "POST" {
			tok = his
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		kind := `"error"`
		if strings.HasPrefix(c.path, "/fhir/") {
			kind = `"OperationOutcome"`
		}
		if res.StatusCode != 400 || !strings.Contains(string(b), kind) || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %s, want 400 %s saying %s", c.method, c.path, res.StatusCode, b, kind, c.want)
		}
	}
}
