package dashboard_test

// End-to-end test of the dashboard in headless Chromium against the real API.
//
// It starts the hub's HTTP API (package httpapi: statistics, decisions, reports) with the dashboard
// mounted beside it exactly as the hub mounts them (dashboard.Routes next to Server.Routes on one
// ServeMux), on a throw-away database with the seeded region. It indexes lab reports of
// HospitalA through the real profile and index store, posts one decision per report through
// POST /api/v1/decisions (with each deciding institution's clinician token), revokes some,
// reposts some (idempotent), opens reports (retrievals) and asks "recognisable now" (reminders).
// It checks the API's totals against the tally of what it posted, then runs e2e/run.mjs
// (playwright-core driving /usr/bin/chromium), which logs in, compares every number shown with
// the API's JSON, sorts, drills down, switches language, downloads CSV and takes screenshots.
// Last, the downloaded CSV files must equal the API's CSV byte for byte.
//
// Needs node, `npm ci` in pkg/dashboard/e2e and Debian's chromium; skips with the reason when one
// is missing (MRHUB_REQUIRE_E2E=1 makes that a failure). MRHUB_E2E_OUT=dir keeps the screenshots
// and downloads there; MRHUB_UPDATE_SCREENSHOT=1 copies the screenshot to docs/dashboard.png.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/seeds"
)

const residentSystem = "http://mrhub.example/sid/resident-id"

// e2eRequirements returns node and chromium, or skips (fails with MRHUB_REQUIRE_E2E=1).
func e2eRequirements(t *testing.T) (node, chromium string) {
	t.Helper()
	missing := func(format string, a ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, a...)
		if os.Getenv("MRHUB_REQUIRE_E2E") == "1" {
			t.Fatalf("MRHUB_REQUIRE_E2E=1 but %s", msg)
		}
		t.Skipf("skipping the browser test: %s", msg)
	}
	if testing.Short() {
		t.Skip("skipping the browser test in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed (apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		missing("playwright-core is not installed: run `npm ci` in pkg/dashboard/e2e")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("chromium not found at %s (apt-get install chromium, or set CHROMIUM)", chromium)
	}
	return node, chromium
}

type tally struct {
	decisions, recognized, declinedCounting, declinedNotCounting, revoked, savings, retrievals int64
}

type hubClient struct {
	t    *testing.T
	base string
}

func (c hubClient) do(method, path, token string, body []byte) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

func TestDashboardE2E(t *testing.T) {
	node, chromium := e2eRequirements(t)
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
	t.Cleanup(func() { srv.Close(); _ = api.Close() }) // before the database is dropped
	c := hubClient{t: t, base: srv.URL}
	token := func(role, org string) string {
		tok, err := auth.Create(ctx, pool, role, org, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	bureau := token(auth.RoleBureau, testenv.HospitalA)

	// The period: the 11 whole months before this one (decisions) and this month (the reads).
	now := time.Now().In(cst)
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, cst)
	first := thisMonth.AddDate(0, -11, 0)
	from, to := first.Format("2006-01-02"), thisMonth.AddDate(0, 1, -1).Format("2006-01-02")
	stats := func(by, format string) (int, []byte) {
		q := url.Values{"from": {from}, "to": {to}, "by": {by}}
		if format != "" {
			q.Set("format", format)
		}
		code, _, b := c.do(http.MethodGet, "/api/v1/stats/recognition?"+q.Encode(), bureau, nil)
		return code, b
	}
	if code, b := stats("institution", ""); code == http.StatusNotFound {
		t.Skipf("skipping the browser test: the statistics API is not in place (GET /api/v1/stats/recognition = 404: %s)", b)
	}

	// Reports: HospitalA's lab items it holds a code map and a qualification for, all period long.
	region, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	type labItem struct {
		system, code string
		item         catalog.Item
	}
	items := map[string]catalog.Item{}
	for _, it := range region.Items {
		items[it.Code] = it
	}
	var labs []labItem
	for _, m := range region.CodeMaps {
		it, ok := items[m.Item]
		if m.Institution != testenv.HospitalA || !ok || it.Kind != "lab" || m.System == "" {
			continue
		}
		for _, q := range region.Qualifications {
			if q.Institution == testenv.HospitalA && q.Item == m.Item && !q.ValidFrom.After(first.AddDate(0, -1, 0)) && q.ValidTo.After(thisMonth.AddDate(0, 1, 0)) {
				labs = append(labs, labItem{m.System, m.Code, it})
				break
			}
		}
	}
	if len(labs) < 3 {
		t.Fatalf("only %d qualified lab items of HospitalA in the seeds", len(labs))
	}
	if len(labs) > 8 {
		labs = labs[:8]
	}
	var deciders []catalog.Institution
	for _, in := range region.Institutions {
		if in.Code != testenv.HospitalA {
			deciders = append(deciders, in)
		}
	}

	// One report per decision, 24 a month, sampled on days 3–24 at 08:30, decided a day later.
	type planned struct {
		report testenv.Report
		lab    labItem
		by     catalog.Institution
		at     time.Time
		seq    int
	}
	var plan []planned
	for m := 0; m < 11; m++ {
		for k := 0; k < 24; k++ {
			seq := m*24 + k
			eff := first.AddDate(0, m, 3+k%21).Add(8*time.Hour + 30*time.Minute)
			lab := labs[seq%len(labs)]
			plan = append(plan, planned{
				report: testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("E2E-%04d", seq), NID: testenv.NID(seq + 100),
					CodeSystem: lab.system, Code: lab.code, Effective: eff},
				lab: lab, by: deciders[(seq*7+m)%len(deciders)], at: eff.Add(26 * time.Hour), seq: seq})
		}
	}
	prof := &profile.Profiler{Catalog: cat, Hasher: hasher, Location: cst}
	store := index.NewStore(pool, "mrhub.index.v1", "mrhub.dlq.v1")
	b := &index.Batch{Consumer: "dashboard-e2e"}
	reportIDs := make([]string, len(plan))
	for i, p := range plan {
		pos := index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: int64(i)}
		b.Positions = append(b.Positions, pos)
		es, err := prof.Message(p.report.JSON(), testenv.HospitalA)
		if err != nil {
			t.Fatalf("profiling report %d: %v", i, err)
		}
		if len(es) != 1 {
			t.Fatalf("report %d: %d index entries", i, len(es))
		}
		es[0].Pos = pos
		b.Entries = append(b.Entries, es[0])
		reportIDs[i] = es[0].ID
	}
	if _, err := store.Apply(ctx, b); err != nil {
		t.Fatalf("indexing the reports: %v", err)
	}

	// Decisions: 80 % recognised; the rest cycle through every reason; every 23rd revoked; every
	// 17th posted twice (one decision).
	clin := map[string]string{}
	var want tally
	wantReasons := map[string]int64{}
	countingReasons := []int{1, 2, 3, 4, 5, 6}
	for i, p := range plan {
		tok, ok := clin[p.by.Code]
		if !ok {
			tok = token(auth.RoleClinician, p.by.Code)
			clin[p.by.Code] = tok
		}
		d := map[string]any{"id": fmt.Sprintf("e2e-%04d", p.seq), "institution": p.by.Code, "department": p.lab.item.Department,
			"clinician": fmt.Sprintf("D%03d", p.seq%37), "patient": residentSystem + "|" + p.report.NID, "item": p.lab.item.Code,
			"report": reportIDs[i], "decided_at": p.at.Format(time.RFC3339)}
		reason := 0
		switch r := p.seq % 10; {
		case r < 8:
			d["outcome"] = "recognized"
		case r == 8:
			reason = countingReasons[(p.seq/10)%len(countingReasons)]
		default:
			reason = []int{98, 99}[(p.seq/10)%2]
		}
		if reason != 0 {
			d["outcome"], d["reason"] = "declined", reason
			if reason == 6 {
				d["note"] = "患者要求复查"
			}
		}
		body, _ := json.Marshal(d)
		code, _, rb := c.do(http.MethodPost, "/api/v1/decisions", tok, body)
		if code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("POST /api/v1/decisions %s = %d: %s", body, code, rb)
		}
		if p.seq%17 == 0 {
			if code, _, rb := c.do(http.MethodPost, "/api/v1/decisions", tok, body); code >= 300 {
				t.Fatalf("reposting decision %s = %d: %s", d["id"], code, rb)
			}
		}
		if p.seq%23 == 5 {
			if code, _, rb := c.do(http.MethodPost, "/api/v1/decisions/"+d["id"].(string)+"/revoke", tok, nil); code >= 300 {
				t.Fatalf("revoking decision %s = %d: %s", d["id"], code, rb)
			}
			want.revoked++
			continue
		}
		want.decisions++
		switch {
		case reason == 0:
			want.recognized++
			want.savings += p.lab.item.PriceCents
		case reason < 98:
			want.declinedCounting++
			wantReasons[fmt.Sprint(reason)]++
		default:
			want.declinedNotCounting++
			wantReasons[fmt.Sprint(reason)]++
		}
	}
	// Reads now (this month): retrievals of a few reports and reminders from "recognisable now".
	for i := 0; i < 5; i++ {
		p := plan[len(plan)-1-i]
		if code, _, rb := c.do(http.MethodGet, "/api/v1/reports/"+reportIDs[len(plan)-1-i], clin[p.by.Code], nil); code != http.StatusOK {
			t.Fatalf("GET report = %d: %s", code, rb)
		}
		want.retrievals++
		q := url.Values{"item": {p.lab.item.Code}, "patient": {residentSystem + "|" + p.report.NID}}
		if code, _, rb := c.do(http.MethodGet, "/api/v1/recognizable?"+q.Encode(), clin[p.by.Code], nil); code != http.StatusOK {
			t.Fatalf("GET recognizable = %d: %s", code, rb)
		}
	}

	// The API's answers, and its totals against the tally of what was posted.
	expect := map[string]json.RawMessage{}
	for _, by := range []string{"institution", "community", "month", "institution,item"} {
		code, b := stats(by, "")
		if code != http.StatusOK {
			t.Fatalf("stats by=%s = %d: %s", by, code, b)
		}
		expect[by] = b
	}
	var inst struct {
		Totals struct {
			Decisions           int64            `json:"decisions"`
			Recognized          int64            `json:"recognized"`
			DeclinedCounting    int64            `json:"declined_counting"`
			DeclinedNotCounting int64            `json:"declined_not_counting"`
			Revoked             int64            `json:"revoked"`
			Rate                *float64         `json:"rate"`
			Retrievals          int64            `json:"retrievals"`
			SavingsCents        int64            `json:"savings_cents"`
			DeclinesByReason    map[string]int64 `json:"declines_by_reason"`
		} `json:"totals"`
		Groups []json.RawMessage `json:"groups"`
	}
	if err := json.Unmarshal(expect["institution"], &inst); err != nil {
		t.Fatal(err)
	}
	tot := inst.Totals
	got := tally{tot.Decisions, tot.Recognized, tot.DeclinedCounting, tot.DeclinedNotCounting, tot.Revoked, tot.SavingsCents, tot.Retrievals}
	if got != want {
		t.Errorf("API totals %+v, want the posted tally %+v", got, want)
	}
	for _, r := range []string{"1", "2", "3", "4", "5", "6", "98", "99"} {
		if tot.DeclinesByReason[r] != wantReasons[r] {
			t.Errorf("API declines for reason %s = %d, want %d", r, tot.DeclinesByReason[r], wantReasons[r])
		}
	}
	wantRate := float64(want.recognized) / float64(want.recognized+want.declinedCounting)
	if tot.Rate == nil || math.Abs(*tot.Rate-wantRate) > 0.00005 {
		t.Errorf("API rate %v, want %.4f", tot.Rate, wantRate)
	}
	t.Logf("seeded %d decisions (%d recognised, %d declined counting, %d not counting, %d revoked), rate %.4f, savings %d cents, over %d institutions",
		want.decisions, want.recognized, want.declinedCounting, want.declinedNotCounting, want.revoked, wantRate, want.savings, len(inst.Groups))

	// The browser.
	out := os.Getenv("MRHUB_E2E_OUT") // to keep the screenshots and downloads
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	expFile := filepath.Join(out, "expect.json")
	eb, _ := json.Marshal(expect)
	if err := os.WriteFile(expFile, eb, 0o644); err != nil {
		t.Fatal(err)
	}
	his := token(auth.RoleHIS, testenv.HospitalA)
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, "run.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "MRHUB_URL="+srv.URL, "MRHUB_TOKEN="+bureau, "MRHUB_BAD_TOKEN=mrh_not-a-real-token",
		"MRHUB_FORBIDDEN_TOKEN="+his, "MRHUB_FROM="+from, "MRHUB_TO="+to, "MRHUB_EXPECT="+expFile, "MRHUB_OUT="+out, "CHROMIUM="+chromium)
	output, err := cmd.CombinedOutput()
	t.Logf("e2e/run.mjs:\n%s", output)
	if err != nil {
		t.Fatalf("e2e/run.mjs failed: %v (screenshots and downloads in %s)", err, out)
	}

	// Downloads equal the API's CSV.
	for by, file := range map[string]string{"institution": "institution.csv", "month": "month.csv"} {
		code, api := stats(by, "csv")
		if code != http.StatusOK || !bytes.HasPrefix(api, []byte("\xef\xbb\xbf")) {
			t.Fatalf("CSV by=%s = %d, starts %q (want a UTF-8 BOM)", by, code, api[:min(len(api), 8)])
		}
		dl, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dl, api) {
			t.Errorf("downloaded %s (%d bytes) differs from the API's CSV by=%s (%d bytes)", file, len(dl), by, len(api))
		}
	}
	// The drill-down's download: the API's header and exactly the selected institution's rows.
	sel, err := os.ReadFile(filepath.Join(out, "selected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, api2 := stats("institution,item", "csv")
	dl, err := os.ReadFile(filepath.Join(out, "institution-item.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(api2), "\n")
	wantDl := lines[0]
	for _, l := range lines[1:] {
		if strings.Contains(l, string(sel)) {
			wantDl += l
		}
	}
	if string(dl) != wantDl || strings.Count(wantDl, "\n") < 2 {
		t.Errorf("drill-down CSV of %s:\n%s\nwant:\n%s", sel, dl, wantDl)
	}

	// Screenshots.
	for _, f := range []string{"dashboard-zh.png", "dashboard-en.png", "dashboard-en-viewport.png"} {
		fh, err := os.Open(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if w := img.Bounds().Dx(); w != 1280 {
			t.Errorf("%s is %d px wide, want 1280", f, w)
		}
	}
	t.Logf("screenshots in %s", out)
	if os.Getenv("MRHUB_UPDATE_SCREENSHOT") == "1" {
		png, err := os.ReadFile(filepath.Join(out, "dashboard-zh.png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
