package publish

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws a bar on a terminal and plain periodic lines otherwise.
type progress struct {
	w     io.Writer
	total int
	tty   bool
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) update(n int, bytes int64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !p.tty && now.Sub(p.last) < 2*time.Second {
		return
	}
	p.last = now
	rate := float64(n) / now.Sub(p.start).Seconds()
	if p.tty {
		width := 30
		filled := 0
		if p.total > 0 {
			filled = n * width / p.total
		}
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d  %.0f msg/s  %.1f MB", strings.Repeat("#", filled), strings.Repeat(".", width-filled), n, p.total, rate, float64(bytes)/1e6)
		return
	}
	fmt.Fprintf(p.w, "published %d/%d (%.0f msg/s)\n", n, p.total, rate)
}

func (p *progress) done(n int, bytes int64) {
	if p.w == nil {
		return
	}
	p.last = time.Time{}
	p.update(n, bytes)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
