package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestRevocationTakesEffectOnEveryHubAtOnce runs two independent API servers (each its own
// connection pool and token cache, as two hub processes have) on one database, with a token
// cache of a minute. A token both have cached is revoked with `mrhub token revoke`: both refuse
// it at once (well within a second), long before the cache would expire. When a hub's listening
// connection is killed, it drops its cache, so a revocation announced while it reconnects is
// not missed either.
func TestRevocationTakesEffectOnEveryHubAtOnce(t *testing.T) {
	dsn, pool := testenv.DB(t)
	ctx := context.Background()
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	h, err := identity.NewHasher([]byte("0123456789abcdef-test-key"))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for i := 0; i < 2; i++ {
		p, err := db.Open(ctx, dsn, 4)
		if err != nil {
			t.Fatal(err)
		}
		api, err := httpapi.New(httpapi.Options{Pool: p, Catalog: cat, Hasher: h, Log: zaptest.NewLogger(t), TokenCacheTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.Handler())
		t.Cleanup(func() { srv.Close(); _ = api.Close(); p.Close() })
		urls = append(urls, srv.URL)
	}
	listeners := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN '||$1`, auth.Channel).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	testenv.WaitFor(t, 10*time.Second, "both hubs listening", func() bool { return listeners() == 2 })

	status := func(u, tok string) int {
		req, _ := http.NewRequest("GET", u+"/fhir/Patient?_id=p1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	revokeAndWait := func(tok string, id int64, what string) {
		t.Helper()
		for _, u := range urls {
			if st := status(u, tok); st != 200 {
				t.Fatalf("%s: token refused before revocation: %d", what, st)
			}
		}
		var out bytes.Buffer
		if err := auth.Command(ctx, pool, []string{"revoke", "--id", strconv.FormatInt(id, 10)}, &out); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, u := range urls {
			for status(u, tok) != 401 {
				if time.Since(start) > time.Second {
					t.Fatalf("%s: %s still accepts the revoked token after %v (cache TTL a minute)", what, u, time.Since(start))
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		t.Logf("%s: refused by both hubs %v after the revoke command returned", what, time.Since(start).Round(time.Microsecond))
	}

	tok, rec, err := auth.CreateToken(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	revokeAndWait(tok, rec.ID, "revocation")

	// A lost listening connection: the hub drops its cache and listens again.
	tok2, rec2, err := auth.CreateToken(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if st := status(u, tok2); st != 200 {
			t.Fatalf("new token refused: %d", st)
		}
	}
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN '||$1`, auth.Channel); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "both hubs listening again", func() bool { return listeners() == 2 })
	revokeAndWait(tok2, rec2.ID, "revocation after a reconnect")
}
