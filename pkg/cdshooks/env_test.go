package cdshooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/cdshooks"
	"github.com/mrhub/mrhub/pkg/dashboard"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

const residentID = "http://mrhub.example/sid/resident-id"

var cst = time.FixedZone("CST", 8*3600)

// env is a hub's HTTP side (API, CDS Hooks service, dashboard, EHR page) on a throw-away
// database with the seeded region.
type env struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	cat    *catalog.Catalog
	hasher *identity.Hasher
	srv    *httptest.Server
	seq    int
}

// newEnv serves the routes on pool; opt may adjust the service's options.
func newEnv(t *testing.T, pool *pgxpool.Pool, hasher *identity.Hasher, opt func(*cdshooks.Options)) *env {
	t.Helper()
	return newEnvAt(t, pool, hasher, nil, opt)
}

// newEnvAt is newEnv with the API's and the service's clock (nil: time.Now).
func newEnvAt(t *testing.T, pool *pgxpool.Pool, hasher *identity.Hasher, now func() time.Time, opt func(*cdshooks.Options)) *env {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: cat, Hasher: hasher, Log: zaptest.NewLogger(t), TokenCacheTTL: -1, Location: cst, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	o := cdshooks.Options{Hub: api, Pool: pool, Catalog: cat, Decisions: &decisions.Store{Pool: pool, Catalog: cat, Hasher: hasher},
		Log: zaptest.NewLogger(t), Location: cst, Now: now}
	if opt != nil {
		opt(&o)
	}
	svc, err := cdshooks.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, routes := range []map[string]http.Handler{api.Routes(), dashboard.Routes(), svc.Routes()} {
		for p, h := range routes {
			mux.Handle(p, h)
		}
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); _ = api.Close() })
	return &env{t: t, ctx: ctx, pool: pool, cat: cat, hasher: hasher, srv: srv}
}

func newHasher(t *testing.T) *identity.Hasher {
	h, err := identity.NewHasher([]byte("0123456789abcdef-cds-hooks-key"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (e *env) token(role, org string) string {
	e.t.Helper()
	tok, err := auth.Create(e.ctx, e.pool, role, org, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// index stores reports through the real profile and index store, as the reports consumer does,
// and returns their canonical ids.
func (e *env) index(publisher string, reports ...testenv.Report) []string {
	e.t.Helper()
	prof := &profile.Profiler{Catalog: e.cat, Hasher: e.hasher, Location: cst}
	store := index.NewStore(e.pool, "mrhub.index.v1", "mrhub.dlq.v1")
	b := &index.Batch{Consumer: "cds-hooks-test"}
	var ids []string
	for _, r := range reports {
		e.seq++
		pos := index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: int64(e.seq)}
		es, err := prof.Message(r.JSON(), publisher)
		if err != nil {
			e.t.Fatalf("profiling: %v", err)
		}
		es[0].Pos = pos
		b.Positions = append(b.Positions, pos)
		b.Entries = append(b.Entries, es[0])
		ids = append(ids, es[0].ID)
	}
	if _, err := store.Apply(e.ctx, b); err != nil {
		e.t.Fatalf("indexing: %v", err)
	}
	return ids
}

// indexRaw stores one FHIR message published by publisher and returns its reports' ids.
func (e *env) indexRaw(publisher string, msg []byte) []string {
	e.t.Helper()
	prof := &profile.Profiler{Catalog: e.cat, Hasher: e.hasher, Location: cst}
	es, err := prof.Message(msg, publisher)
	if err != nil {
		e.t.Fatalf("profiling: %v", err)
	}
	b := &index.Batch{Consumer: "cds-hooks-test"}
	var ids []string
	for _, en := range es {
		e.seq++
		en.Pos = index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: int64(e.seq)}
		b.Positions = append(b.Positions, en.Pos)
		b.Entries = append(b.Entries, en)
		ids = append(ids, en.ID)
	}
	if _, err := index.NewStore(e.pool, "mrhub.index.v1", "mrhub.dlq.v1").Apply(e.ctx, b); err != nil {
		e.t.Fatalf("indexing: %v", err)
	}
	return ids
}

// do sends a request and returns the status and body.
func (e *env) do(method, path, token string, body any, header ...string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, b
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// serviceRequest is a draft order with the codings given as system, code pairs.
func serviceRequest(id string, codes ...string) map[string]any {
	var coding []any
	for i := 0; i+1 < len(codes); i += 2 {
		coding = append(coding, map[string]any{"system": codes[i], "code": codes[i+1]})
	}
	return map[string]any{"resourceType": "ServiceRequest", "id": id, "status": "draft", "intent": "order",
		"code": map[string]any{"coding": coding}, "subject": map[string]any{"reference": "Patient/p-1"}}
}

// hookRequest is a call of hook for the patient with resident ID nid and draft orders; selections
// are Type/id; department "" sends no PractitionerRole.
func hookRequest(hook, nid, department string, selections []string, orders ...map[string]any) map[string]any {
	var entries []any
	for _, o := range orders {
		entries = append(entries, map[string]any{"resource": o})
	}
	ctx := map[string]any{"userId": "Practitioner/D0415", "patientId": "p-1",
		"draftOrders": map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries}}
	if selections != nil {
		ctx["selections"] = selections
	}
	prefetch := map[string]any{"patient": map[string]any{"resourceType": "Patient", "id": "p-1",
		"identifier": []any{map[string]any{"system": "http://his.example/sid/unknown", "value": "X1"}, map[string]any{"system": residentID, "value": nid}}}}
	if department != "" {
		prefetch["user"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": map[string]any{
			"resourceType": "PractitionerRole", "id": "r-1", "specialty": []any{map[string]any{"coding": []any{map[string]any{"system": "http://his.example/dept", "code": "XNK", "display": department}}}}}}}}
	}
	return map[string]any{"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": ctx, "prefetch": prefetch}
}

// noEmpty fails on null, "", [] or {} anywhere in v except at the paths allowed (the
// specification forbids them unless stated, e.g. an empty cards array).
func noEmpty(t *testing.T, path string, v any, allowed ...string) {
	t.Helper()
	for _, a := range allowed {
		if a == path {
			return
		}
	}
	switch x := v.(type) {
	case nil:
		t.Errorf("%s is null", path)
	case string:
		if x == "" {
			t.Errorf("%s is an empty string", path)
		}
	case []any:
		if len(x) == 0 {
			t.Errorf("%s is an empty array", path)
		}
		for i, y := range x {
			noEmpty(t, path+"["+itoa(i)+"]", y, allowed...)
		}
	case map[string]any:
		if len(x) == 0 {
			t.Errorf("%s is an empty object", path)
		}
		for k, y := range x {
			noEmpty(t, path+"."+k, y, allowed...)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// checkCards checks a service response against the specification's card model and returns it.
func checkCards(t *testing.T, body []byte) cdshooks.Response {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	noEmpty(t, "$", raw, "$.cards")
	if _, ok := raw["cards"].([]any); !ok {
		t.Fatalf("cards is not an array: %s", body)
	}
	var resp cdshooks.Response
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("response has fields outside the specification's model: %v", err)
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for i, c := range resp.Cards {
		if !uuidRE.MatchString(c.UUID) {
			t.Errorf("card %d uuid %q", i, c.UUID)
		}
		if n := utf8.RuneCountInString(c.Summary); n == 0 || n >= 140 {
			t.Errorf("card %d summary has %d characters, want 1..139: %q", i, n, c.Summary)
		}
		switch c.Indicator {
		case "info", "warning", "critical":
		default:
			t.Errorf("card %d indicator %q", i, c.Indicator)
		}
		if c.Source.Label == "" || !strings.HasPrefix(c.Source.URL, "http") {
			t.Errorf("card %d source %+v", i, c.Source)
		}
		if len(c.Suggestions) > 0 && c.SelectionBehavior != "at-most-one" && c.SelectionBehavior != "any" {
			t.Errorf("card %d has suggestions but selectionBehavior %q", i, c.SelectionBehavior)
		}
		for _, s := range c.Suggestions {
			if s.Label == "" || !uuidRE.MatchString(s.UUID) {
				t.Errorf("card %d suggestion %+v", i, s)
			}
			for _, a := range s.Actions {
				if a.Type != "delete" || a.Description == "" || !strings.HasPrefix(a.ResourceID, "ServiceRequest/") || a.Resource != nil {
					t.Errorf("card %d action %+v", i, a)
				}
			}
		}
		for _, r := range c.OverrideReasons {
			if r.Code == "" || r.System != cdshooks.DeclineReasonSystem || r.Display == "" {
				t.Errorf("card %d override reason %+v", i, r)
			}
		}
		for _, l := range c.Links {
			if l.Label == "" || l.Type != "absolute" || !strings.HasPrefix(l.URL, "http") {
				t.Errorf("card %d link %+v", i, l)
			}
		}
	}
	return resp
}

// specJSON returns the JSON code blocks of a file of the shared CDS Hooks specification that
// follow the line heading (// comments removed).
func specJSON(t *testing.T, file, heading string) [][]byte {
	t.Helper()
	dir := testenv.MustShared(t, "the CDS Hooks specification's examples")
	b, err := os.ReadFile(filepath.Join(dir, "cds-hooks", file))
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	text := string(b)
	loc := regexp.MustCompile(`\n` + regexp.QuoteMeta(heading) + `[ \t]*\n`).FindStringIndex(text)
	if loc == nil {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	text = text[loc[1]:]
	if j := regexp.MustCompile(`\n#{1,3} `).FindStringIndex(text); j != nil {
		text = text[:j[0]]
	}
	comment := regexp.MustCompile(`(?m)\s+//[^"\n]*$`)
	var out [][]byte
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(text, -1) {
		block := comment.ReplaceAllString(m[1], "")
		if i := strings.Index(block, "\n{"); strings.HasPrefix(block, "POST ") && i > 0 {
			block = block[i:] // the request line before the body
		}
		out = append(out, []byte(block))
	}
	return out
}
