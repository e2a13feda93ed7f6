package replay

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mrhub/mrhub/consumers/reports"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/outbox"
)

// RunOptions configure Run.
type RunOptions struct {
	Options
	Republish bool      // queue a fresh event for every report afterwards
	Progress  io.Writer // summary lines
}

// Run replays the reports topic into h's index, optionally republishes the index, and relays
// the outbox until it is empty.
func Run(ctx context.Context, h *hub.Hub, o RunOptions) error {
	if o.Security == nil {
		o.Security = h.Kafka
	}
	r, err := Open(ctx, o.Options)
	if err != nil {
		return err
	}
	defer r.Close()
	name := fmt.Sprintf("replay-%d", time.Now().UnixNano())
	c := &reports.Consumer{
		Name: name, Reader: r, Index: h.Store, Profile: h.Profiler().Func(), Log: h.Log.Named("replay"), Metrics: h.Metrics,
		BatchSize: h.Cfg.BatchSize, BatchWait: h.Cfg.BatchWait, Workers: h.Cfg.DecodeWorkers, MaxBytes: h.Cfg.MaxMessageBytes,
	}
	start := time.Now()
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("replaying %s: %w", o.Topic, err)
	}
	var n int64
	_ = h.Pool.QueryRow(ctx, `SELECT COALESCE(sum(next_offset),0) FROM ingest_offsets WHERE consumer = $1`, name).Scan(&n)
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "replayed %s in %v (offset bookkeeping under %q)\n", o.Topic, time.Since(start).Round(time.Millisecond), name)
	}
	if o.Republish {
		total, err := h.Store.Republish(ctx, 1000, nil)
		if err != nil {
			return err
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "queued %d index events for republishing\n", total)
		}
	}
	w := bus.NewWriter(h.Cfg.KafkaBrokers, "", h.Kafka)
	defer w.Close()
	relay := &outbox.Relay{Pool: h.Pool, Publisher: w, Log: h.Log.Named("outbox")}
	if err := relay.Drain(ctx); err != nil {
		return fmt.Errorf("relaying the outbox: %w", err)
	}
	if o.Progress != nil {
		fmt.Fprintln(o.Progress, "outbox relayed")
	}
	return nil
}
