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

// TestBenchStatsSmoke runs `mrhub bench stats` at a tiny size: the loaded decisions are all
// counted by the whole-range query (the command checks it) and the last line has the promised
// shape.
func TestBenchStatsSmoke(t *testing.T) {
	testenv.DB(t) // skips without PostgreSQL
	var out bytes.Buffer
	if err := bench.StatsCommand(context.Background(), []string{"-n", "20000", "-rounds", "2", "-database-url", testenv.ServerURL()}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^stats decisions=20000 p50_ms=[\d.]+ p99_ms=[\d.]+$`).MatchString(last) {
		t.Fatalf("last line %q", last)
	}
}
