package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/testenv"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDemoSmoke runs the real `mrhub demo` binary: it starts, indexes simulated reports, serves
// the dashboard and the API, and stops cleanly on SIGINT; a second start resumes with the data.
func TestDemoSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the demo smoke test in -short mode")
	}
	dsn := testenv.DatabaseURL("mrhub_demo_test")
	ctx := context.Background()
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		if os.Getenv("MRHUB_REQUIRE_PG") == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: PostgreSQL not reachable: %v", err)
	}
	t.Cleanup(func() { _ = db.DropDatabase(context.Background(), dsn) })
	bin := filepath.Join(t.TempDir(), "mrhub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building mrhub: %v\n%s", err, out)
	}
	data := t.TempDir()
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	kafkaPort := strconv.Itoa(freePort(t))

	run := func(wantReportsAtLeast int) int {
		cmd := exec.Command(bin, "demo", "-data-dir", data, "-rate", "40")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, "MRHUB_HTTP_ADDR="+httpAddr, "MRHUB_KAFKA_PORT="+kafkaPort,
			"MRHUB_LOG_LEVEL=warn", "MRHUB_ID_KEY=", "MRHUB_ID_KEY_FILE=")
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var banner strings.Builder
		sawBanner := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				banner.WriteString(sc.Text() + "\n")
				if strings.HasPrefix(sc.Text(), "Token bureau:") {
					sawBanner <- strings.TrimSpace(strings.TrimPrefix(sc.Text(), "Token bureau:"))
				}
			}
			close(sawBanner)
		}()
		var bureau string
		select {
		case bureau = <-sawBanner:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("demo printed no banner within 60s:\n%s", banner.String())
		}
		if bureau == "" {
			t.Fatalf("demo exited early:\n%s", banner.String())
		}
		// Reports flow in through the simulator, broker, consumers and database.
		pool := mustPool(t, dsn)
		defer pool.Close()
		deadline := time.Now().Add(60 * time.Second)
		var n int
		for {
			_ = pool.QueryRow(ctx, `SELECT count(*) FROM reports`).Scan(&n)
			if n >= wantReportsAtLeast || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if n < wantReportsAtLeast {
			t.Fatalf("demo indexed %d reports in 60s, want at least %d", n, wantReportsAtLeast)
		}
		for path, want := range map[string]int{"/": 200, "/readyz": 200, "/fhir/metadata": 200, "/api/v1/stats/recognition?from=2026-01-01&to=2026-12-31&by=month": 200} {
			req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
			req.Header.Set("Authorization", "Bearer "+bureau)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("demo did not stop cleanly on SIGINT: %v\n%s", err, banner.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("demo did not stop within 30s of SIGINT")
		}
		return n
	}
	first := run(20)
	second := run(first + 1) // resumes: the data kept, more reports added
	if second <= first {
		t.Fatalf("second run has %d reports, first had %d", second, first)
	}
}

func mustPool(t *testing.T, dsn string) *pgxpool.Pool {
	pool, err := db.Open(context.Background(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}
