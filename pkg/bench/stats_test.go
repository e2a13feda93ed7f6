package bench_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/bench"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestBenchStatsSmoke runs `mrhub bench stats` at a tiny size: the loaded decisions and
// publishing messages are all counted by the whole-range queries (the command checks both) and
// the summary lines have the promised shape.
func TestBenchStatsSmoke(t *testing.T) {
	testenv.DB(t) // skips without PostgreSQL
	var out bytes.Buffer
	if err := bench.StatsCommand(context.Background(), []string{"-n", "20000", "-reports", "20000", "-rounds", "2", "-database-url", testenv.ServerURL()}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !regexp.MustCompile(`(?m)^stats decisions=20000 p50_ms=[\d.]+ p99_ms=[\d.]+$`).MatchString(out.String()) {
		t.Fatalf("no stats summary line in\n%s", out.String())
	}
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^publishing reports=20000 p50_ms=[\d.]+ p99_ms=[\d.]+$`).MatchString(last) {
		t.Fatalf("last line %q", last)
	}
}
