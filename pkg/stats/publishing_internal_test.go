package stats

import (
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/index"
)

// The quantiles of the delay histogram fall inside the bucket that holds them.
func TestDelayQuantiles(t *testing.T) {
	b := make([]int64, len(index.DelayBounds)+1)
	if quantileHours(b, 0.5) != nil {
		t.Fatal("a quantile of no delays")
	}
	// 90 reports within an hour (bucket [30m, 1h)), 10 after two days (bucket [48h, 72h)).
	b[index.DelayBucket(45*time.Minute)] = 90
	b[index.DelayBucket(50*time.Hour)] = 10
	p50, p95 := quantileHours(b, 0.5), quantileHours(b, 0.95)
	if *p50 < 0.5 || *p50 >= 1 {
		t.Errorf("p50 = %v h, want in [0.5, 1)", *p50)
	}
	if *p95 < 48 || *p95 >= 72 {
		t.Errorf("p95 = %v h, want in [48, 72)", *p95)
	}
	// Past the last bound: the bound itself.
	b = make([]int64, len(index.DelayBounds)+1)
	b[len(index.DelayBounds)] = 3
	if got := *quantileHours(b, 0.5); got != index.DelayBounds[len(index.DelayBounds)-1].Hours() {
		t.Errorf("open bucket p50 = %v", got)
	}
	if index.DelayBucket(-time.Hour) != 0 || index.DelayBucket(24*time.Hour) != index.DelayBucket(30*time.Hour) {
		t.Error("bucket bounds")
	}
}

// Publisher-chosen text never reaches a spreadsheet as a formula.
func TestPublishingCSVInert(t *testing.T) {
	code := "=HYPERLINK(\"x\")"
	f := newPubFigures()
	f.TopUnmapped = []UnmappedCode{{System: "", Code: code, Reports: 1}}
	rep := &PublishingReport{By: PubByInstitution, Totals: f, Groups: []PublishingGroup{{Key: PublishingKey{Institution: &code}, Figures: f}}}
	out := string(PublishingCSV(rep))
	if strings.Contains(out, ",=") || strings.Contains(out, "\n=") || !strings.Contains(out, "'=HYPERLINK") {
		t.Fatalf("CSV:\n%s", out)
	}
	if inert("12330299473079193Y") != "12330299473079193Y" || inert("-1") != "'-1" {
		t.Fatal("inert")
	}
}
