package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

var cst = time.FixedZone("CST", 8*3600)

// now is the fixed "now" of the tests: 2026-11-23 12:00 China time.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, cst)

const residentSystem = "http://mrhub.example/sid/resident-id"

type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	cat    *catalog.Catalog
	hasher *identity.Hasher
	prof   *profile.Profiler
	store  *index.Store
	api    *httpapi.Server
	srv    *httptest.Server
	offset int64
	clin   string // clinician token of HospitalB
}

func newEnv(t *testing.T, mod ...func(*httpapi.Options)) *env {
	t.Helper()
	_, pool := testenv.DB(t)
	ctx := context.Background()
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	h, err := identity.NewHasher([]byte("0123456789abcdef-test-key"))
	if err != nil {
		t.Fatal(err)
	}
	opt := httpapi.Options{Pool: pool, Catalog: cat, Hasher: h, Log: zaptest.NewLogger(t), TokenCacheTTL: -1, Location: cst,
		Now: func() time.Time { return now }}
	for _, m := range mod {
		m(&opt)
	}
	api, err := httpapi.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { srv.Close(); _ = api.Close() })
	e := &env{t: t, pool: pool, cat: cat, hasher: h, api: api, srv: srv,
		prof:  &profile.Profiler{Catalog: cat, Hasher: h, Location: cst},
		store: index.NewStore(pool, "mrhub.index.v1", "mrhub.dlq.v1")}
	e.clin = e.token(auth.RoleClinician, testenv.HospitalB)
	return e
}

func (e *env) token(role, org string) string {
	e.t.Helper()
	tok, err := auth.Create(context.Background(), e.pool, role, org, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// ingest runs values through the real profile and index store (as the consumer would) and
// returns the canonical report ids.
func (e *env) ingest(source string, values ...[]byte) []string {
	e.t.Helper()
	b := &index.Batch{Consumer: "httpapi-test"}
	var ids []string
	for _, v := range values {
		pos := index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: e.offset}
		e.offset++
		b.Positions = append(b.Positions, pos)
		es, err := e.prof.Message(v, source)
		if err != nil {
			e.t.Fatalf("profiling fixture: %v", err)
		}
		for _, x := range es {
			x.Pos = pos
			b.Entries = append(b.Entries, x)
			ids = append(ids, x.ID)
		}
	}
	if _, err := e.store.Apply(context.Background(), b); err != nil {
		e.t.Fatalf("indexing fixtures: %v", err)
	}
	return ids
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func (e *env) get(path, tok string) resp {
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
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func day(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, cst) }

// get walks a decoded JSON value by keys and indexes ("entry.0.resource.id").
func path(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
