package bench

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestHooksSmoke runs `mrhub bench hooks` at a tiny size: every call is answered without error,
// each hook call shows the two cards of its three orders, and the ratio line agrees with the
// rates printed above it.
func TestHooksSmoke(t *testing.T) {
	testenv.DB(t) // skips without PostgreSQL
	var out bytes.Buffer
	if err := Hooks(context.Background(), []string{"-patients", "40", "-clients", "2", "-duration", "2s", "-warmup", "0",
		"-database-url", testenv.ServerURL()}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	text := out.String()
	rec := regexp.MustCompile(`(?m)^recognizable \(one item\) requests=(\d+) qps=(\d+) p50_ms=[\d.]+ p99_ms=[\d.]+ errors=0$`).FindStringSubmatch(text)
	hk := regexp.MustCompile(`(?m)^hooks order-sign \(3 draft orders\) requests=(\d+) qps=(\d+) p50_ms=[\d.]+ p99_ms=[\d.]+ errors=0 cards_per_call=2\.0$`).FindStringSubmatch(text)
	ratio := regexp.MustCompile(`(?m)^hooks ratio_to_recognizable=([\d.]+) recognizables_per_hook=([\d.]+) ordered_items=3 clients=2 `).FindStringSubmatch(text)
	if rec == nil || hk == nil || ratio == nil || rec[1] == "0" || hk[1] == "0" {
		t.Fatalf("unexpected output:\n%s", text)
	}
	rq, _ := strconv.ParseFloat(rec[2], 64)
	hq, _ := strconv.ParseFloat(hk[2], 64)
	per, _ := strconv.ParseFloat(ratio[2], 64)
	if math.Abs(per-rq/hq) > 0.05*rq/hq+0.01 {
		t.Errorf("recognizables_per_hook=%s, but the printed rates give %.2f", ratio[2], rq/hq)
	}
	if !strings.HasPrefix(text, "loaded patients=40 reports=160 ") {
		t.Errorf("first line: %q", strings.SplitN(text, "\n", 2)[0])
	}
}
