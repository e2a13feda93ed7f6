package dashboard_test

// End-to-end test of the dashboard's publishing-quality tab in headless Chromium against the
// real API: reports and dead letters of two institutions go through the real profile and index
// store (which keeps the publishing rollups), the API's figures are checked against what was
// applied, then e2e/publishing.mjs opens the tab, compares every number shown with the API's
// JSON, drills down into each institution's refusal codes and unmapped codes, switches language
// and downloads the CSV, which must equal the API's byte for byte.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/dashboard"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/pkg/testenv"
)

func TestPublishingTabE2E(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.DB(t)
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := identity.NewHasher([]byte("0123456789abcdef-e2e-key"))
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: cat, Hasher: hasher, Log: zaptest.NewLogger(t), TokenCacheTTL: -1, Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range api.Routes() {
		mux.Handle(p, h)
	}
	for p, h := range dashboard.Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); _ = api.Close() })
	c := hubClient{t: t, base: srv.URL}
	bureau, err := auth.Create(ctx, pool, auth.RoleBureau, testenv.HospitalA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// HospitalA: 12 mapped reports issued 2 h ago, 3 refused messages; HospitalB: 5 reports
	// in a code its map lacks (unmapped), one refused.
	now := time.Now()
	prof := &profile.Profiler{Catalog: cat, Hasher: hasher, Location: cst}
	store := index.NewStore(pool, "mrhub.index.v1", "mrhub.dlq.v1")
	b := &index.Batch{Consumer: "publishing-e2e"}
	off := int64(0)
	next := func() index.Position {
		p := index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: off}
		off++
		b.Positions = append(b.Positions, p)
		return p
	}
	addReport := func(src string, r testenv.Report) {
		pos := next()
		es, err := prof.Message(r.JSON(), src)
		if err != nil {
			t.Fatalf("profiling %s: %v", r.ID, err)
		}
		for _, e := range es {
			e.Pos = pos
			b.Entries = append(b.Entries, e)
		}
	}
	addDead := func(src, code string) {
		b.DeadLetters = append(b.DeadLetters, index.DeadLetter{Pos: next(), Value: []byte("{}"),
			Headers: map[string]string{"mrhub-source": src}, Code: code, Message: "refused"})
	}
	for i := 0; i < 12; i++ {
		addReport(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("PUBE2E-A%02d", i), NID: testenv.NID(500 + i),
			Effective: now.Add(-3 * time.Hour), Issued: now.Add(-2 * time.Hour)})
	}
	for i := 0; i < 5; i++ {
		addReport(testenv.HospitalB, testenv.Report{Performer: testenv.HospitalB, ID: fmt.Sprintf("PUBE2E-B%02d", i), NID: testenv.NID(600 + i),
			CodeSystem: testenv.LabCodeSystem, Code: []string{"L-1", "L-2", "L-2"}[i%3], Effective: now.Add(-50 * time.Hour), Issued: now.Add(-49 * time.Hour)})
	}
	addDead(testenv.HospitalA, "fhir.not_json")
	addDead(testenv.HospitalA, "fhir.not_json")
	addDead(testenv.HospitalA, "rights.not_permitted")
	addDead(testenv.HospitalB, "identity.missing")
	if _, err := store.Apply(ctx, b); err != nil {
		t.Fatalf("indexing: %v", err)
	}
	if _, err := store.Apply(ctx, b); err != nil { // a redelivery counts nothing
		t.Fatalf("indexing again: %v", err)
	}

	day := now.In(cst).Format("2006-01-02")
	from, to := now.In(cst).AddDate(0, 0, -6).Format("2006-01-02"), day
	get := func(format string) []byte {
		q := url.Values{"from": {from}, "to": {to}, "by": {"institution"}}
		if format != "" {
			q.Set("format", format)
		}
		code, _, body := c.do(http.MethodGet, "/api/v1/stats/publishing?"+q.Encode(), bureau, nil)
		if code != http.StatusOK {
			t.Fatalf("publishing figures = %d: %s", code, body)
		}
		return body
	}
	expect := get("")
	var rep stats.PublishingReport
	if err := json.Unmarshal(expect, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range rep.Groups {
		f := g.Figures
		got[*g.Key.Institution] = fmt.Sprintf("received=%d indexed=%d dead=%d %v new=%d unmapped=%d %v within24=%v",
			f.Received, f.Indexed, f.DeadLettered, f.DeadLetteredByCode, f.NewReports, f.Unmapped, f.TopUnmapped, *f.Within24hShare)
	}
	want := map[string]string{
		testenv.HospitalA: "received=15 indexed=12 dead=3 map[fhir.not_json:2 rights.not_permitted:1] new=12 unmapped=0 [] within24=1",
		testenv.HospitalB: fmt.Sprintf("received=6 indexed=5 dead=1 map[identity.missing:1] new=5 unmapped=5 [{%[1]s L-2 3} {%[1]s L-1 2}] within24=0", testenv.LabCodeSystem),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("publishing figures by institution:\n got  %v\n want %v", got, want)
	}

	// The browser.
	node, chromium := e2eRequirements(t)
	out := os.Getenv("MRHUB_E2E_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	expFile := filepath.Join(out, "publishing-expect.json")
	if err := os.WriteFile(expFile, expect, 0o644); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "publishing.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "MRHUB_URL="+srv.URL, "MRHUB_TOKEN="+bureau, "MRHUB_FROM="+from, "MRHUB_TO="+to,
		"MRHUB_EXPECT="+expFile, "MRHUB_OUT="+out, "CHROMIUM="+chromium)
	output, err := cmd.CombinedOutput()
	t.Logf("e2e/publishing.mjs:\n%s", output)
	if err != nil {
		t.Fatalf("e2e/publishing.mjs failed: %v (screenshots and downloads in %s)", err, out)
	}
	dl, err := os.ReadFile(filepath.Join(out, "publishing.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if csv := get("csv"); !bytes.Equal(dl, csv) || !bytes.HasPrefix(csv, []byte("\xef\xbb\xbf")) {
		t.Errorf("downloaded CSV differs from the API's:\n%s\nwant\n%s", dl, csv)
	}
}
