package cdshooks_test

// End-to-end test of the EHR page (/ehr/) in headless Chromium against the real service: a
// patient's results indexed, the page drives order-select, reuse, decline and order-sign like a
// clinician (e2e/run.mjs, playwright-core from pkg/dashboard/e2e), then the decisions and the
// statistics the dashboard shows must hold what was clicked.
//
// Needs node, `npm ci` in pkg/dashboard/e2e and Debian's chromium; skips with the reason when one
// is missing (MRHUB_REQUIRE_E2E=1 makes that a failure). MRHUB_E2E_OUT=dir keeps the screenshots.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// e2eRequirements returns node, chromium and the directory holding playwright-core, or skips
// (fails with MRHUB_REQUIRE_E2E=1).
func e2eRequirements(t *testing.T) (node, chromium, playwright string) {
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
	playwright, err = filepath.Abs(filepath.Join("..", "dashboard", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(playwright, "node_modules", "playwright-core", "package.json")); err != nil {
		missing("playwright-core is not installed: run `npm ci` in pkg/dashboard/e2e")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("chromium not found at %s (apt-get install chromium, or set CHROMIUM)", chromium)
	}
	return node, chromium, playwright
}

func TestEHRPageE2E(t *testing.T) {
	node, chromium, playwright := e2eRequirements(t)
	_, pool := testenv.DB(t)
	e := newEnv(t, pool, newHasher(t), nil)
	nid := testenv.NID(31)
	fixture(e, nid)
	clin := e.token(auth.RoleClinician, testenv.HospitalA)
	bureau := e.token(auth.RoleBureau, testenv.HospitalA)

	out := os.Getenv("MRHUB_E2E_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "MRHUB_URL="+e.srv.URL, "MRHUB_TOKEN="+clin, "MRHUB_BUREAU="+bureau, "MRHUB_NAME=测试患者",
		"MRHUB_NID="+nid, "MRHUB_OUT="+out, "PLAYWRIGHT_FROM="+playwright, "CHROMIUM="+chromium)
	b, err := cmd.CombinedOutput()
	t.Logf("run.mjs:\n%s", b)
	if err != nil {
		t.Fatalf("the EHR page checks failed: %v", err)
	}

	// What was clicked is recorded: one reuse, one decline with reason 1 and its comment, and a
	// reminder per card shown (blood routine, urine routine twice).
	if n := e.count(`SELECT count(*) FROM decisions WHERE via = 'cds-hooks' AND outcome = 'recognized' AND item = 'JY001'`); n != 1 {
		t.Errorf("%d recognised blood routines, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM decisions WHERE via = 'cds-hooks' AND outcome = 'declined' AND reason = 1 AND item = 'JY002' AND note = '病情变化，需复查'`); n != 1 {
		t.Errorf("%d declined urine routines, want 1", n)
	}
	day := time.Now().In(cst).Format("2006-01-02")
	code, body := e.do(http.MethodGet, "/api/v1/stats/recognition?by=institution&from="+day+"&to="+day, bureau, nil)
	var st statsReport
	if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
		t.Fatalf("stats %d %s", code, body)
	}
	for _, g := range st.Groups {
		if g.Key.Institution == testenv.HospitalA {
			if f := g.Figures; f.Recognized != 1 || f.DeclinedCounting != 1 || f.Reminders != 3 {
				t.Errorf("the dashboard's figures for HospitalA %+v, want 1 recognised, 1 declined, 3 reminders", f)
			}
			return
		}
	}
	t.Errorf("no statistics for HospitalA: %s", body)
}
