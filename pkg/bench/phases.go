package bench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mrhub/mrhub/pkg/index"
)

var phaseMu sync.Mutex
var phaseTotals [11]time.Duration

func enablePhases() {
	index.PhaseTimer = func() func(int) {
		last := time.Now()
		cur := 0
		return func(k int) {
			now := time.Now()
			phaseMu.Lock()
			phaseTotals[cur] += now.Sub(last)
			phaseMu.Unlock()
			last, cur = now, k
		}
	}
}

func printPhases(w io.Writer) {
	phaseMu.Lock()
	defer phaseMu.Unlock()
	for i, d := range phaseTotals {
		if d > 0 {
			fmt.Fprintf(w, "  phase %d: %v\n", i, d.Round(time.Millisecond))
		}
	}
}
