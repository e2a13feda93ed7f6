package httpapi_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestBenchQuerySmoke runs `mrhub bench query` at a tiny size: the loader produces data the API
// serves without errors and the last line has the promised shape. MRHUB_BENCH_QUERY=1 runs the
// default size instead (the figures in the final line).
func TestBenchQuerySmoke(t *testing.T) {
	testenv.DB(t) // skips without PostgreSQL
	o := httpapi.DefaultBenchOptions()
	o.DatabaseURL = testenv.ServerURL()
	if os.Getenv("MRHUB_BENCH_QUERY") != "1" {
		o.Reports, o.Patients, o.Clients, o.Duration = 3000, 400, 8, 2*time.Second
		o.Warmup, o.Floor = 500*time.Millisecond, time.Second
	}
	var out bytes.Buffer
	if err := httpapi.BenchQuery(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`^query qps=(\d+) p50_ms=[\d.]+ p99_ms=[\d.]+ errors=(\d+) rss_mb=(\d+)$`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q", last)
	}
	if m[1] == "0" || m[2] != "0" {
		t.Fatalf("qps=%s errors=%s", m[1], m[2])
	}
	// The database floor ran, read something, and printed before the last line.
	floor := regexp.MustCompile(`(?m)^database_floor reads_per_s=(\d+) p50_ms=[\d.]+ p99_ms=[\d.]+ workers=4 `).FindStringSubmatch(lines[len(lines)-2])
	if floor == nil || floor[1] == "0" {
		t.Fatalf("line before last %q: want a database_floor line with reads", lines[len(lines)-2])
	}
}

// An out-of-range mix is refused with the flag's name and range before anything is created.
func TestBenchQueryRefusesBadSearchPct(t *testing.T) {
	for _, pct := range []int{-1, 101} {
		o := httpapi.DefaultBenchOptions()
		o.DatabaseURL = "postgres://nobody@127.0.0.1:1/none" // unreachable: the check must come first
		o.SearchPct = pct
		err := httpapi.BenchQuery(context.Background(), o, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "-search-pct must be between 0 and 100") {
			t.Fatalf("search-pct %d: err = %v", pct, err)
		}
	}
}
