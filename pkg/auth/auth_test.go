package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/testenv"
)

func TestCreateCommandPrintsTokenLastAndStoresOnlyItsHash(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	var out bytes.Buffer
	// Region code QX001 is accepted and stored as the institution's USCC.
	if err := auth.CreateCommand(ctx, pool, []string{"--role", "clinician", "--org", "QX001", "--ttl", "1h"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	tok := lines[len(lines)-1]
	if !strings.HasPrefix(tok, "mrh_") || len(tok) != 47 || strings.Contains(tok, " ") {
		t.Fatalf("last line %q is not a token alone", tok)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE token_hash = $1 AND org = $2 AND role = 'clinician'
		AND expires_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes'`, auth.Hash(tok), testenv.HospitalA).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("stored tokens matching hash/org/role/expiry = %d, want 1", n)
	}
	var raw int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE position($1::bytea in token_hash) > 0`, []byte(tok)).Scan(&raw)
	if raw != 0 {
		t.Fatal("plaintext token stored")
	}
	for _, bad := range [][]string{
		{"--role", "nurse", "--org", "QX001"},
		{"--role", "clinician", "--org", "NOPE"},
		{"--role", "clinician"},
	} {
		if err := auth.CreateCommand(ctx, pool, bad, io.Discard); err == nil {
			t.Errorf("create %v succeeded, want an error", bad)
		}
	}
	if err := auth.CreateCommand(ctx, pool, []string{"--role", "bureau", "--org", "330299"}, io.Discard); err != nil {
		t.Errorf("bureau token for a district: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	a := &auth.Authenticator{DB: pool, CacheTTL: -1}
	mux := http.NewServeMux()
	mux.Handle("/fhir/Patient", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		_, _ = io.WriteString(w, p.Role+" "+p.Org)
	}), auth.RoleClinician))
	mux.Handle("/api/v1/x", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), auth.RoleClinician))
	mux.HandleFunc("/fhir/metadata", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "meta") })
	srv := httptest.NewServer(a.Middleware(func(r *http.Request) bool { return r.URL.Path == "/fhir/metadata" }, mux))
	defer srv.Close()

	clin, _ := auth.Create(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour)
	bureau, _ := auth.Create(ctx, pool, auth.RoleBureau, "330299", time.Hour)
	expired, _ := auth.Create(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour)
	if _, err := pool.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, auth.Hash(expired)); err != nil {
		t.Fatal(err)
	}
	revoked, _ := auth.Create(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour)
	ts, _ := auth.List(ctx, pool)
	for _, x := range ts {
		if x.Org == testenv.HospitalA && x.RevokedAt == nil && x.ID == ts[0].ID {
			if err := auth.Revoke(ctx, pool, x.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := auth.Revoke(ctx, pool, 999999); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoking an unknown id: %v", err)
	}

	get := func(path, tok string) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), string(b)
	}
	cases := []struct {
		path, tok string
		status    int
		ctype     string
		body      string
	}{
		{"/fhir/metadata", "", 200, "", "meta"},
		{"/fhir/Patient", "", 401, "application/fhir+json", `"code":"login"`},
		{"/api/v1/x", "", 401, "application/json", `"code":"unauthenticated"`},
		{"/fhir/Patient", "mrh_nonsense", 401, "application/fhir+json", `"resourceType":"OperationOutcome"`},
		{"/fhir/Patient", expired, 401, "application/fhir+json", `"code":"login"`},
		{"/fhir/Patient", revoked, 401, "application/fhir+json", `"code":"login"`},
		{"/fhir/Patient", bureau, 403, "application/fhir+json", `"code":"forbidden"`},
		{"/api/v1/x", bureau, 403, "application/json", `"code":"forbidden"`},
		{"/fhir/Patient", clin, 200, "", "clinician " + testenv.HospitalA},
	}
	for _, c := range cases {
		st, ct, body := get(c.path, c.tok)
		if st != c.status || !strings.HasPrefix(ct, c.ctype) || !strings.Contains(body, c.body) {
			t.Errorf("GET %s (token %.8s): %d %q %s; want %d %q containing %s", c.path, c.tok, st, ct, body, c.status, c.ctype, c.body)
		}
		if st == 401 || st == 403 {
			var v map[string]any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("error body is not JSON: %s", body)
			}
		}
	}
}
