package reports

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/consumers/batch"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

// Reader is the part of a kafka-go group reader the consumer uses.
type Reader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
	Stats() kafka.ReaderStats
}

// Indexer writes a batch in one transaction.
type Indexer interface {
	Apply(ctx context.Context, b *index.Batch) (*index.Outcome, error)
}

// ProfileFunc turns one message into index entries, or a rejection (the profile's type; the
// consumer adds codes of its own, such as kafka.too_large). It must be safe for concurrent use
// and must not put identity numbers into the rejection. (*profile.Profiler).Func is one.
type ProfileFunc func(msg kafka.Message) ([]*index.Entry, *profile.Rejection)

// Consumer is one member of the hub's consumer group.
type Consumer struct {
	Name      string // consumer group; offsets in ingest_offsets are kept under it
	Reader    Reader
	Index     Indexer
	Profile   ProfileFunc
	Log       *zap.Logger
	Metrics   *telemetry.Metrics
	BatchSize int
	BatchWait time.Duration
	Workers   int
	MaxBytes  int           // larger values are dead-lettered (kafka.too_large)
	Drain     time.Duration // deadline to finish the batch in hand at shutdown (default 15s)

	// AfterApply, when set, runs after the database commit and before the offset commit
	// (tests use it to simulate a crash there).
	AfterApply func(b *index.Batch) error

	loop *batch.Loop
}

// ErrStopped is returned by Run when AfterApply stopped the consumer.
var ErrStopped = errors.New("consumer stopped after apply")

// Run consumes until ctx ends, then finishes the batch in hand (apply and commit) within Drain.
func (c *Consumer) Run(ctx context.Context) error {
	if c.BatchSize <= 0 || c.BatchWait <= 0 || c.Workers <= 0 || c.MaxBytes <= 0 {
		return errors.New("consumer needs BatchSize, BatchWait, Workers and MaxBytes")
	}
	lagTick := time.NewTicker(5 * time.Second)
	defer lagTick.Stop()
	c.loop = &batch.Loop{Reader: c.Reader, Size: c.BatchSize, Wait: c.BatchWait, Tick: lagTick.C, OnTick: c.reportLag,
		OnRetry: func(stage string, err error, backoff time.Duration) {
			c.Log.Warn(map[string]string{"fetch": "fetching from Kafka failed; retrying", "commit": "committing offsets failed; retrying"}[stage],
				zap.Error(err), zap.Duration("backoff", backoff))
			c.retried(stage)
		}}
	// Two stages: the loop fetches and decodes batch n+1 on the worker pool while the writer
	// applies and commits batch n. The writer takes batches one at a time and in order, so
	// offsets are still committed in order and only after their database commit. A batch in
	// hand is finished even when ctx ends meanwhile: apply and commit under a drain deadline.
	lctx, stopLoop := context.WithCancel(ctx) // the writer stops the loop when it fails
	defer stopLoop()
	w := c.startWriter(ctx, stopLoop)
	err := c.loop.Run(lctx, func(msgs []kafka.Message) error {
		start := time.Now()
		b := c.build(msgs)
		return w.submit(ctx, decoded{msgs: msgs, b: b, decode: time.Since(start)})
	})
	if werr := w.close(); werr != nil {
		return werr // the write failure, rather than errWriterStopped
	}
	if errors.Is(err, batch.ErrReaderClosed) {
		return nil // the reader ended: closed, or a replay reached its end
	}
	return err
}

// decoded is a batch ready to write.
type decoded struct {
	msgs   []kafka.Message
	b      *index.Batch
	decode time.Duration // time spent decoding it
}

// errWriterStopped stops the fetch loop when the writer failed; Run returns the writer's error.
var errWriterStopped = errors.New("batch writer stopped")

// writer applies and commits decoded batches in the order submitted, one at a time.
type writer struct {
	jobs   chan decoded
	failed chan struct{} // closed when a write failed; err holds why
	done   chan struct{}
	err    error
}

func (c *Consumer) startWriter(ctx context.Context, stopLoop func()) *writer {
	w := &writer{jobs: make(chan decoded), failed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for d := range w.jobs {
			if err := c.write(ctx, d); err != nil {
				w.err = err
				close(w.failed)
				stopLoop()         // the loop may be waiting for messages that will not come
				for range w.jobs { // decoded batches after a failure are neither applied nor committed: redelivered
				}
				return
			}
		}
	}()
	return w
}

// submit hands d to the writer, waiting while the writer is busy with the batch before it. A
// batch not handed over before ctx ends is dropped (not applied, not committed: redelivered), so
// that shutdown finishes at most the batch already in the writer's hands.
func (w *writer) submit(ctx context.Context, d decoded) error {
	if ctx.Err() != nil {
		return nil
	}
	select {
	case w.jobs <- d:
		return nil
	case <-w.failed:
		return errWriterStopped
	case <-ctx.Done():
		return nil
	}
}

// close waits for the batch in hand and returns the writer's error, if any.
func (w *writer) close() error {
	close(w.jobs)
	<-w.done
	return w.err
}

func (c *Consumer) reportLag() {
	if c.Metrics == nil {
		return
	}
	st := c.Reader.Stats()
	c.Metrics.Lag.WithLabelValues(st.Topic, st.ClientID).Set(float64(st.Lag))
}

// write applies and commits one decoded batch.
func (c *Consumer) write(ctx context.Context, d decoded) error {
	msgs, b, start := d.msgs, d.b, time.Now()
	drain := c.Drain
	if drain <= 0 {
		drain = 15 * time.Second
	}
	// The write may outlive ctx by the drain deadline: a batch in hand is finished, not abandoned.
	wctx, cancel := batch.UntilDrain(ctx, drain)
	defer cancel()
	out, err := c.applyRetrying(wctx, b, msgs)
	if err != nil {
		return err // only when the drain deadline passed: nothing committed, the batch is redelivered
	}
	if c.AfterApply != nil {
		if err := c.AfterApply(b); err != nil {
			return err
		}
	}
	if err := c.loop.Commit(wctx, msgs); err != nil {
		return err
	}
	c.observe(msgs, b, out, d.decode+time.Since(start)) // without the wait for the batch before it
	return nil
}

func (c *Consumer) build(msgs []kafka.Message) *index.Batch {
	b := &index.Batch{Consumer: c.Name, Positions: make([]index.Position, len(msgs))}
	entries := make([][]*index.Entry, len(msgs))
	rejections := make([]*profile.Rejection, len(msgs))
	var wg sync.WaitGroup
	next := make(chan int)
	workers := min(c.Workers, len(msgs))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				entries[i], rejections[i] = c.profile(msgs[i])
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, m := range msgs {
		pos := index.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
		b.Positions[i] = pos
		if r := rejections[i]; r != nil {
			b.DeadLetters = append(b.DeadLetters, deadLetter(m, pos, r))
			continue
		}
		for _, e := range entries[i] {
			e.Pos = pos
			b.Entries = append(b.Entries, e)
		}
	}
	return b
}

func (c *Consumer) profile(m kafka.Message) ([]*index.Entry, *profile.Rejection) {
	es, rej, panicked := profile.Evaluate(c.Profile, c.MaxBytes, m)
	if panicked != nil {
		c.Log.Error("profiling panicked; dead-lettering the message", zap.Any("panic", panicked),
			zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset))
	}
	return es, rej
}

func deadLetter(m kafka.Message, pos index.Position, r *profile.Rejection) index.DeadLetter {
	h := make(map[string]string, len(m.Headers))
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return index.DeadLetter{Pos: pos, Key: m.Key, Value: m.Value, Headers: h, Code: r.Code, Message: r.Message, Path: r.Path}
}

// applyRetrying applies b; transient failures are retried with backoff (consumption pauses),
// and a batch that fails permanently is split so that only the messages that fail alone are
// dead-lettered.
func (c *Consumer) applyRetrying(ctx context.Context, b *index.Batch, msgs []kafka.Message) (*index.Outcome, error) {
	backoff := 100 * time.Millisecond
	for {
		out, err := c.Index.Apply(ctx, b)
		if err == nil {
			if backoff > 100*time.Millisecond {
				c.Log.Info("database writes resumed")
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("batch not applied before shutdown deadline: %w", err)
		}
		if index.IsContention(err) {
			// Lost a race with another hub instance or consumer: the other side has committed,
			// so try again at once (with jitter, so that two losers do not collide again).
			c.retried("contention")
			if !batch.Sleep(ctx, time.Duration(5+rand.IntN(45))*time.Millisecond) {
				return nil, fmt.Errorf("batch not applied before shutdown deadline: %w", err)
			}
			continue
		}
		if index.IsTransient(err) {
			c.Log.Warn("writing batch failed; consumption paused, retrying", zap.Error(err), zap.Duration("backoff", backoff))
			c.retried("database")
			if !batch.Sleep(ctx, backoff) {
				return nil, fmt.Errorf("batch not applied before shutdown deadline: %w", err)
			}
			backoff = batch.NextBackoff(backoff)
			continue
		}
		c.Log.Error("batch rejected by the database; isolating the failing messages", zap.Error(err))
		return c.applyIsolated(ctx, b, msgs)
	}
}

// applyIsolated applies each message of b alone; one that still fails permanently becomes a dead
// letter, so it cannot stall its partition.
func (c *Consumer) applyIsolated(ctx context.Context, b *index.Batch, msgs []kafka.Message) (*index.Outcome, error) {
	total := &index.Outcome{}
	byPos := map[index.Position][]*index.Entry{}
	for _, e := range b.Entries {
		byPos[e.Pos] = append(byPos[e.Pos], e)
	}
	dl := map[index.Position]index.DeadLetter{}
	for _, d := range b.DeadLetters {
		dl[d.Pos] = d
	}
	for i, pos := range b.Positions {
		one := &index.Batch{Consumer: b.Consumer, Positions: []index.Position{pos}, Entries: byPos[pos]}
		if d, ok := dl[pos]; ok {
			one.DeadLetters = []index.DeadLetter{d}
		}
		out, err := c.applyOneRetrying(ctx, one)
		if err != nil {
			var pgErr *pgconn.PgError
			msg := err.Error()
			if errors.As(err, &pgErr) {
				msg = pgErr.Message // never the Detail: it may quote values
			}
			one.Entries = nil
			one.DeadLetters = []index.DeadLetter{deadLetter(msgs[i], pos, &profile.Rejection{Code: "index.rejected",
				Message: "the index refused this report: " + msg})}
			c.Log.Error("message dead-lettered by the index", zap.String("topic", pos.Topic), zap.Int("partition", pos.Partition),
				zap.Int64("offset", pos.Offset), zap.String("reason", msg))
			if out, err = c.applyOneRetrying(ctx, one); err != nil {
				return nil, err
			}
		}
		addOutcome(total, out)
	}
	return total, nil
}

func (c *Consumer) applyOneRetrying(ctx context.Context, b *index.Batch) (*index.Outcome, error) {
	backoff := 100 * time.Millisecond
	for {
		out, err := c.Index.Apply(ctx, b)
		if err == nil || !index.IsTransient(err) {
			return out, err
		}
		c.retried("database")
		if !batch.Sleep(ctx, backoff) {
			return nil, err
		}
		backoff = batch.NextBackoff(backoff)
	}
}

func (c *Consumer) observe(msgs []kafka.Message, b *index.Batch, out *index.Outcome, d time.Duration) {
	if c.Metrics == nil {
		return
	}
	topic := msgs[0].Topic
	c.Metrics.Consumed.WithLabelValues(topic).Add(float64(len(msgs)))
	c.Metrics.BatchSeconds.WithLabelValues(topic).Observe(d.Seconds())
	c.Metrics.BatchSize.WithLabelValues(topic).Observe(float64(len(msgs)))
	for k, v := range map[string]int{"new": out.New, "version": out.Versions, "unchanged": out.Unchanged,
		"history": out.History, "withdrawn": out.Withdrawn, "skipped_redelivery": out.SkippedMessages} {
		if v > 0 {
			c.Metrics.Indexed.WithLabelValues(k).Add(float64(v))
		}
	}
	if out.DeadLetters > 0 {
		for _, dl := range b.DeadLetters {
			c.Metrics.DeadLettered.WithLabelValues(topic, dl.Code).Inc()
		}
	}
}

func (c *Consumer) retried(stage string) {
	if c.Metrics != nil {
		c.Metrics.Retries.WithLabelValues(stage).Inc()
	}
}

func addOutcome(t, o *index.Outcome) {
	if o == nil {
		return
	}
	t.New += o.New
	t.Versions += o.Versions
	t.Unchanged += o.Unchanged
	t.History += o.History
	t.Withdrawn += o.Withdrawn
	t.SkippedMessages += o.SkippedMessages
	t.DeadLetters += o.DeadLetters
	t.Merges += o.Merges
	t.Events += o.Events
	t.Reviews += o.Reviews
}
