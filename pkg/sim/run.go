package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"golang.org/x/term"
)

// Writer is the part of a kafka-go Writer the runner needs.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// RunOptions bound a publishing run. Zero Total and Duration mean "until ctx ends".
type RunOptions struct {
	Rate     float64       // messages per second (≤ 0: as fast as possible)
	Total    int           // stop after this many messages
	Duration time.Duration // stop after this long
	Progress io.Writer     // periodic progress lines (nil: quiet)
}

// RunStats counts what a run published, by message kind.
type RunStats struct {
	Sent    int
	ByKind  map[string]int
	Elapsed time.Duration
}

// Run publishes g's stream to w at the requested rate, in small batches, each message to its
// Message.Topic (reports to mrhub.reports.v1, decisions and revocations to mrhub.decisions.v1),
// with header mrhub-source. w must not have a fixed topic (kafka.Writer.Topic empty, e.g.
// bus.NewWriter(brokers, "")).
func Run(ctx context.Context, g *Generator, w Writer, o RunOptions) (*RunStats, error) {
	st := &RunStats{ByKind: map[string]int{}}
	start := time.Now()
	var deadline time.Time
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	batch := 50
	if o.Rate > 0 && o.Rate < 200 {
		batch = max(1, int(o.Rate/10))
	}
	lastReport := start
	tty := false
	if f, ok := o.Progress.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	every := 5 * time.Second
	if tty {
		every = 500 * time.Millisecond
	}
	msgs := make([]kafka.Message, 0, batch)
	for ctx.Err() == nil {
		if o.Total > 0 && st.Sent >= o.Total {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		msgs = msgs[:0]
		for len(msgs) < batch && (o.Total == 0 || st.Sent+len(msgs) < o.Total) {
			m := g.Next()
			msgs = append(msgs, kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value,
				Headers: []protocol.Header{{Key: "mrhub-source", Value: []byte(m.Source)}}})
			st.ByKind[m.Kind]++
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				break
			}
			return st, fmt.Errorf("publishing simulated messages: %w", err)
		}
		st.Sent += len(msgs)
		if o.Rate > 0 {
			due := start.Add(time.Duration(float64(st.Sent) / o.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if o.Progress != nil && time.Since(lastReport) >= every {
			lastReport = time.Now()
			progressLine(o, st, time.Since(start), tty)
		}
	}
	st.Elapsed = time.Since(start)
	if o.Progress != nil && tty {
		progressLine(o, st, st.Elapsed, tty)
		fmt.Fprintln(o.Progress)
	}
	return st, nil
}

// progressLine redraws a bar with throughput on a terminal, or prints a plain line otherwise.
func progressLine(o RunOptions, st *RunStats, el time.Duration, tty bool) {
	rate := float64(st.Sent) / el.Seconds()
	if !tty {
		fmt.Fprintf(o.Progress, "simulate: %d messages in %.0fs (%.0f msg/s)\n", st.Sent, el.Seconds(), rate)
		return
	}
	const width = 30
	bar := strings.Repeat("=", width)
	if o.Total > 0 {
		done := min(width, st.Sent*width/o.Total)
		bar = strings.Repeat("#", done) + strings.Repeat(".", width-done)
	} else if o.Duration > 0 {
		done := min(width, int(el*width/o.Duration))
		bar = strings.Repeat("#", done) + strings.Repeat(".", width-done)
	}
	fmt.Fprintf(o.Progress, "\r[%s] %d messages  %.0f msg/s  %s ", bar, st.Sent, rate, el.Round(time.Second))
}
