package bench_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/bench"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestBenchQuerySmoke runs `mrhub bench query` at a tiny size: the loader produces data the API
// serves without errors and the last line has the promised shape. MRHUB_BENCH_QUERY=1 runs the
// default size instead (the figures in the final line).
func TestBenchQuerySmoke(t *testing.T) {
	testenv.DB(t) // skips without PostgreSQL
	o := bench.DefaultQueryOptions()
	o.DatabaseURL = testenv.ServerURL()
	if os.Getenv("MRHUB_BENCH_QUERY") != "1" {
		o.Reports, o.Patients, o.Clients, o.Duration = 3000, 400, 8, 2*time.Second
		o.Warmup, o.Floor = 500*time.Millisecond, time.Second
	}
	var out bytes.Buffer
	if err := bench.Query(context.Background(), o, &out); err != nil {
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
	// The same search in full, with _elements and with _summary=true, timed side by side.
	if !regexp.MustCompile(`(?m)^fhir_search_subsets full_p50_ms=[\d.]+ elements_p50_ms=[\d.]+ summary_p50_ms=[\d.]+ full_kb=[\d.]+ elements_kb=[\d.]+ summary_kb=[\d.]+ requests_each=[1-9]`).MatchString(out.String()) {
		t.Errorf("no fhir_search_subsets line with requests")
	}
	// The database floor ran, read something, and printed before the last line.
	floor := regexp.MustCompile(`(?m)^database_floor reads_per_s=(\d+) p50_ms=[\d.]+ p99_ms=[\d.]+ workers=4 `).FindStringSubmatch(lines[len(lines)-3])
	if floor == nil || floor[1] == "0" {
		t.Fatalf("third line from last %q: want a database_floor line with reads", lines[len(lines)-3])
	}
	// Then the ratio of recognizable's rate to that floor, computed from the printed figures.
	ratio := regexp.MustCompile(`^ratio_to_floor=([\d.]+) recognizable_qps=(\d+) database_floor_reads_per_s=(\d+) search_pct=50$`).FindStringSubmatch(lines[len(lines)-2])
	if ratio == nil {
		t.Fatalf("line before last %q: want ratio_to_floor=", lines[len(lines)-2])
	}
	if ratio[3] != floor[1] {
		t.Errorf("ratio line's floor %s is not the database_floor line's %s", ratio[3], floor[1])
	}
	r, _ := strconv.ParseFloat(ratio[1], 64)
	q, _ := strconv.ParseFloat(ratio[2], 64)
	f, _ := strconv.ParseFloat(ratio[3], 64)
	if q == 0 || math.Abs(r-q/f) > 0.006 {
		t.Errorf("ratio_to_floor=%s, but recognizable_qps/floor = %.3f", ratio[1], q/f)
	}
}

// An unknown -view is refused before anything is created.
func TestBenchQueryRefusesBadView(t *testing.T) {
	o := bench.DefaultQueryOptions()
	o.DatabaseURL = "postgres://nobody@127.0.0.1:1/none"
	o.View = "compact"
	if err := bench.Query(context.Background(), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-view must be") {
		t.Fatalf("err = %v", err)
	}
}

// An out-of-range mix is refused with the flag's name and range before anything is created.
func TestBenchQueryRefusesBadSearchPct(t *testing.T) {
	for _, pct := range []int{-1, 101} {
		o := bench.DefaultQueryOptions()
		o.DatabaseURL = "postgres://nobody@127.0.0.1:1/none" // unreachable: the check must come first
		o.SearchPct = pct
		err := bench.Query(context.Background(), o, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "-search-pct must be between 0 and 100") {
			t.Fatalf("search-pct %d: err = %v", pct, err)
		}
	}
}
