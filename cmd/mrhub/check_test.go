package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/testenv"
)

// `mrhub check` checks its arguments before any connection, gives ingest's verdict per message
// with a summary and exit status 0 or 3, and writes nothing to the database.
func TestCheckCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dsn, pool := testenv.DB(t)
	bin := filepath.Join(t.TempDir(), "mrhub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building mrhub: %v\n%s", err, out)
	}
	run := func(dbURL string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"check"}, args...)...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "MRHUB_ID_KEY="+testenv.Key(), "MRHUB_ID_KEY_FILE=", "MRHUB_SOURCE=")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	// Arguments first: a missing file is reported without trying the (unreachable) database.
	start := time.Now()
	out, code := run("postgres://postgres@127.0.0.1:1/none?connect_timeout=30", "--source", testenv.HospitalB, "no-such-file.json")
	if code != 1 || !strings.Contains(out, "no-such-file.json") || time.Since(start) > 10*time.Second {
		t.Fatalf("missing file: exit %d after %v:\n%s", code, time.Since(start), out)
	}
	if out, code := run(dsn, "../../docs/examples/lab-collection-bundle.json"); code == 0 || !strings.Contains(out, "--source") {
		t.Fatalf("no --source: exit %d:\n%s", code, out)
	}

	// The performer's own report: indexed as a new report of item JY001.
	out, code = run(dsn, "--source", testenv.HospitalB, "../../docs/examples/lab-collection-bundle.json")
	if code != 0 || !strings.Contains(out, "lab-collection-bundle.json: ok new:add705d18ba06ff16a57e6efc7afccbe:JY001") ||
		!strings.Contains(out, "checked 1 messages: 1 would be indexed") {
		t.Fatalf("good file: exit %d:\n%s", code, out)
	}
	// A directory with files another institution may not publish and decisions (not reports): 3.
	out, code = run(dsn, "--source", testenv.HospitalA, "../../docs/examples")
	if code != 3 || !strings.Contains(out, "REFUSED rights.not_permitted at Bundle.entry[0].resource.performer") ||
		!strings.Contains(out, "decision.json: REFUSED fhir.resource_type") ||
		!strings.Contains(out, "\nchecked 8 messages: 3 would be indexed (2 with warnings), 5 refused (fhir.resource_type=3, rights.not_permitted=2)\n") {
		t.Fatalf("examples as another institution: exit %d:\n%s", code, out)
	}

	// Nothing was written.
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM reports) + (SELECT count(*) FROM identity_key) +
		(SELECT count(*) FROM outbox) + (SELECT count(*) FROM publishing_rollup)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("mrhub check wrote %d rows (%v)", n, err)
	}
}
