package decisions

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/consumers/batch"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

// Reader is the part of a kafka-go group reader the consumer uses.
type Reader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Applier writes a batch of decision messages in one transaction.
type Applier interface {
	ApplyBatch(ctx context.Context, b *decisions.Batch) (*decisions.Outcome, error)
}

// WriteMarker notes, after a commit, that institutions wrote, so that their reads wait for a
// replica to replay the write (read-your-writes; db.Router is one).
type WriteMarker interface {
	MarkWrite(ctx context.Context, institutions ...string)
}

// Consumer is one member of the decisions consumer group.
type Consumer struct {
	Name      string // consumer group; offsets in ingest_offsets are kept under it
	Reader    Reader
	Store     Applier
	Log       *zap.Logger
	Metrics   *telemetry.Metrics         // may be nil
	Decisions *telemetry.DecisionMetrics // may be nil
	Marks     WriteMarker                // may be nil: no read replicas to keep consistent
	BatchSize int
	BatchWait time.Duration
	Drain     time.Duration // deadline to finish the batch in hand at shutdown (default 15s)

	// AfterApply, when set, runs after the database commit and before the offset commit
	// (tests use it to simulate a crash there).
	AfterApply func(out *decisions.Outcome) error

	loop *batch.Loop
}

// ErrStopped is returned by Run when AfterApply stopped the consumer.
var ErrStopped = errors.New("consumer stopped after apply")

// Run consumes until ctx ends, then finishes the batch in hand within Drain.
func (c *Consumer) Run(ctx context.Context) error {
	if c.BatchSize <= 0 || c.BatchWait <= 0 {
		return errors.New("decisions consumer needs BatchSize and BatchWait")
	}
	c.loop = &batch.Loop{Reader: c.Reader, Size: c.BatchSize, Wait: c.BatchWait,
		OnRetry: func(stage string, err error, backoff time.Duration) {
			c.Log.Warn(map[string]string{"fetch": "fetching decisions from Kafka failed; retrying", "commit": "committing decision offsets failed; retrying"}[stage],
				zap.Error(err), zap.Duration("backoff", backoff))
			c.retried(stage)
		}}
	return c.loop.Run(ctx, func(msgs []kafka.Message) error { return c.handle(ctx, msgs) })
}

func (c *Consumer) handle(ctx context.Context, msgs []kafka.Message) error {
	start := time.Now()
	b := &decisions.Batch{Consumer: c.Name, Messages: make([]decisions.Message, len(msgs))}
	for i, m := range msgs {
		h := make(map[string]string, len(m.Headers))
		for _, x := range m.Headers {
			if _, dup := h[x.Key]; !dup {
				h[x.Key] = string(x.Value)
			}
		}
		b.Messages[i] = decisions.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h, Time: m.Time}
	}
	drain := c.Drain
	if drain <= 0 {
		drain = 15 * time.Second
	}
	wctx, cancel := batch.UntilDrain(ctx, drain)
	defer cancel()
	var out *decisions.Outcome
	backoff := 100 * time.Millisecond
	pendingLogged := false
	for {
		var err error
		out, err = c.Store.ApplyBatch(wctx, b)
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			return fmt.Errorf("decision batch not applied before shutdown deadline: %w", err)
		}
		wait := backoff
		switch {
		case index.IsContention(err):
			wait = time.Duration(5+rand.IntN(45)) * time.Millisecond
			c.retried("contention")
		case errors.Is(err, decisions.ErrReportPending):
			// The report consumers are behind: wait for them, without growing the backoff.
			wait = 250 * time.Millisecond
			if !pendingLogged {
				c.Log.Info("a decision names a report not indexed yet; waiting for the report consumers", zap.Error(err))
				pendingLogged = true
			}
			c.retried("report_pending")
		default:
			// Every per-message refusal is dead-lettered inside the transaction, so what fails the
			// whole batch is the database itself: pause and retry.
			c.Log.Warn("writing decisions failed; consumption paused, retrying", zap.Error(err), zap.Duration("backoff", backoff))
			c.retried("database")
			backoff = batch.NextBackoff(backoff)
		}
		if !batch.Sleep(wctx, wait) {
			return fmt.Errorf("decision batch not applied before shutdown deadline: %w", err)
		}
	}
	if c.Marks != nil && len(out.Institutions) > 0 {
		c.Marks.MarkWrite(wctx, out.Institutions...)
	}
	if c.AfterApply != nil {
		if err := c.AfterApply(out); err != nil {
			return err
		}
	}
	if err := c.loop.Commit(wctx, msgs); err != nil {
		return err
	}
	c.observe(msgs, b, out, time.Since(start))
	return nil
}

func (c *Consumer) observe(msgs []kafka.Message, b *decisions.Batch, out *decisions.Outcome, d time.Duration) {
	topic := msgs[0].Topic
	if c.Metrics != nil {
		c.Metrics.Consumed.WithLabelValues(topic).Add(float64(len(msgs)))
		c.Metrics.BatchSeconds.WithLabelValues(topic).Observe(d.Seconds())
		c.Metrics.BatchSize.WithLabelValues(topic).Observe(float64(len(msgs)))
	}
	for i, r := range out.Results {
		if code, ok := strings.CutPrefix(r, "rejected:"); ok {
			c.Log.Info("decision dead-lettered", zap.String("code", code), zap.Int("partition", b.Messages[i].Partition), zap.Int64("offset", b.Messages[i].Offset))
			if c.Metrics != nil {
				c.Metrics.DeadLettered.WithLabelValues(topic, code).Inc()
			}
			r = "rejected"
		}
		c.Decisions.Decision("kafka", r)
	}
}

func (c *Consumer) retried(stage string) {
	if c.Metrics != nil {
		c.Metrics.Retries.WithLabelValues(stage).Inc()
	}
}
