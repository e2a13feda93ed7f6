package docs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/replay"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// pgTool finds a PostgreSQL client program (PATH, then Debian's /usr/lib/postgresql/*/bin,
// newest first), or skips the test.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Strings(found)
	if len(found) == 0 {
		if os.Getenv("MRHUB_REQUIRE_PG") == "1" {
			t.Fatalf("%s not found (PATH, /usr/lib/postgresql/*/bin) and MRHUB_REQUIRE_PG=1", name)
		}
		t.Skipf("skipping: %s not found on PATH or in /usr/lib/postgresql/*/bin", name)
	}
	return found[len(found)-1]
}

// answers are what the hub serves for a set of patients, with the fields that name the moment of
// the request removed: FHIR searches, recognisable-now and one report read per patient, plus the
// table counts behind them.
func answers(t *testing.T, ctx context.Context, h *hub.Hub, token string, nids []string) map[string]string {
	t.Helper()
	api, err := httpapi.New(httpapi.Options{Pool: h.Pool, Catalog: h.Catalog, Hasher: h.Hasher, Log: h.Log.Named("http"), Location: h.Cfg.Location()})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	get := func(path string) map[string]any {
		req := httptest.NewRequest(http.MethodGet, "http://hub.example"+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, rec.Code, rec.Body.String())
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		delete(v, "at") // recognizable: the time of the answer
		dropLastUpdated(v)
		return v
	}
	out := map[string]string{}
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, nid := range nids {
		p := url.QueryEscape("http://mrhub.example/sid/resident-id|" + nid)
		bundle := get("/fhir/DiagnosticReport?patient.identifier=" + p + "&_count=50&_include=DiagnosticReport:result")
		out["search "+nid] = enc(bundle)
		out["recognizable "+nid] = enc(get("/api/v1/recognizable?patient=" + p))
		if entries, _ := bundle["entry"].([]any); len(entries) > 0 {
			id := entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
			out["report "+nid] = enc(get("/api/v1/reports/" + id))
		}
	}
	for _, table := range []string{"reports", "report_versions", "observations", "patients", "patient_identifiers", "identity_reviews", "decisions"} {
		var n int
		if err := h.Pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out["count "+table] = fmt.Sprint(n)
	}
	return out
}

// dropLastUpdated removes every meta.lastUpdated: a Bundle's is the time of the answer, a served
// resource's the time the hub received that version, which for versions a reindex takes in is
// the time of the reindex.
func dropLastUpdated(v any) {
	switch x := v.(type) {
	case map[string]any:
		if m, ok := x["meta"].(map[string]any); ok {
			delete(m, "lastUpdated")
		}
		for _, c := range x {
			dropLastUpdated(c)
		}
	case []any:
		for _, c := range x {
			dropLastUpdated(c)
		}
	}
}

func waitReports(t *testing.T, ctx context.Context, pool *pgxpool.Pool, want int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM report_versions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d report versions indexed after 90s, want %d", n, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBackupRestoreThenReindex follows docs/operations.md "Backup and restore": pg_dump of a
// running hub's database (reports keep arriving after it), pg_restore into a fresh database, a
// hub opened on it with the same identity key (another key is refused), `mrhub reindex` from
// before the dump to take in what arrived since; the restored hub then serves the same answers,
// token included, as the hub the dump was taken from.
func TestBackupRestoreThenReindex(t *testing.T) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	ctx := context.Background()
	dsnA, poolA := testenv.DB(t)
	b := testenv.Broker(t, 2)
	cfgA := testenv.Config(dsnA, b.Addrs())
	cfgA.Partitions, cfgA.Consumers = 2, 1
	hA, err := hub.Open(ctx, cfgA, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer hA.Close()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- hA.Serve(sctx, nil) }()
	stopA := func() {
		if cancel != nil {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("hub A stopped with: %v", err)
			}
			cancel = nil
		}
	}
	defer stopA()
	token, err := auth.Create(ctx, hA.Pool, auth.RoleClinician, testenv.HospitalB, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	var nids []string
	for i := 0; i < 6; i++ {
		nids = append(nids, testenv.NID(700+i))
	}
	publish := func(from, to int, status, version string) {
		var values [][]byte
		for i := from; i < to; i++ {
			values = append(values, testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("BK%03d", i), NID: nids[i%len(nids)],
				Status: status, VersionID: version, Effective: time.Now().Add(-time.Duration(24*(i%5)+1) * time.Hour)}.JSON())
		}
		testenv.Publish(t, b.Addrs(), config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint(from + i) }, values...)
	}
	publish(0, 24, "final", "1")
	waitReports(t, ctx, poolA, 24)

	// The dump, taken while the hub runs.
	dumpStarted := time.Now()
	dump := filepath.Join(t.TempDir(), "mrhub.dump")
	if out, err := exec.Command(pgDump, "--format=custom", "--file="+dump, dsnA).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	// Reports that arrive after the dump: new ones, and new versions of dumped ones.
	publish(24, 36, "final", "1")
	publish(0, 4, "amended", "2")
	waitReports(t, ctx, poolA, 40)
	stopA()
	want := answers(t, ctx, hA, token, nids)

	// A fresh database, the dump restored into it.
	dsnB := testenv.DatabaseURL("mrhub_restore")
	createEmpty(t, ctx, dsnB)
	if out, err := exec.Command(pgRestore, "--no-owner", "--exit-on-error", "--dbname="+dsnB, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}

	// Another identity key is refused: every stored hash depends on the key.
	cfgB := cfgA
	cfgB.DatabaseURL = dsnB
	wrong := cfgB
	wrong.IDKeyHex = testenv.Key()
	if h, err := hub.Open(ctx, wrong, zaptest.NewLogger(t)); !errors.Is(err, identity.ErrKeyMismatch) {
		if h != nil {
			h.Close()
		}
		t.Fatalf("hub on the restored database with another identity key: err = %v, want identity.ErrKeyMismatch", err)
	}
	hB, err := hub.Open(ctx, cfgB, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("hub on the restored database: %v", err)
	}
	defer hB.Close()
	restored := answers(t, ctx, hB, token, nids)
	if restored["count report_versions"] != "24" {
		t.Fatalf("the restored database holds %s report versions, want the 24 of the dump", restored["count report_versions"])
	}

	// mrhub reindex --from-time <before the dump started>: what arrived since is taken in.
	var progress bytes.Buffer
	ropts := replay.RunOptions{Options: replay.Options{Brokers: b.Addrs(), Topic: config.TopicReports, FromOffset: kafka.FirstOffset,
		FromTime: dumpStarted.Add(-time.Minute)}, Progress: &progress}
	if err := replay.Run(ctx, hB, ropts); err != nil {
		t.Fatalf("reindex: %v\n%s", err, progress.String())
	}
	got := answers(t, ctx, hB, token, nids)
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("after restore and reindex, %s differs:\nrestored: %s\noriginal: %s", k, clip(got[k]), clip(want[k]))
		}
	}
	if !strings.Contains(progress.String(), "replayed") {
		t.Errorf("reindex printed no summary: %q", progress.String())
	}
}

// createEmpty creates dsn's database with nothing in it (pg_restore creates the schema) and drops
// it when t ends.
func createEmpty(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	pool, err := db.Open(ctx, admin.String(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.DropDatabase(cctx, dsn); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}
