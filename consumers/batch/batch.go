// Package batch is the Kafka plumbing the hub's consumers share: a fetch loop that retries
// transient broker errors with backoff, batching by size and wait, offset commits retried until
// a deadline, and the drain context that lets a batch in hand finish after shutdown begins. What
// a batch means (decode, validate, write) stays in each consumer; offsets are committed only
// after its handler returns, that is after its database transaction commits.
package batch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Reader is the part of a kafka-go group reader the loop uses.
type Reader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// ErrReaderClosed is returned by Run when a Finite reader (a replay) has ended.
var ErrReaderClosed = errors.New("reader stopped")

// Loop fetches messages and hands them to a handler in batches.
type Loop struct {
	Reader  Reader
	Size    int           // max messages per batch
	Wait    time.Duration // max wait to fill a batch after its first message
	Tick    <-chan time.Time
	OnTick  func()                                               // called on Tick while waiting for a first message
	OnRetry func(stage string, err error, backoff time.Duration) // a transient failure was retried
}

// Run consumes until ctx ends or the reader ends, calling handle for each batch; a batch already
// collected is handed over even when ctx has ended. It returns handle's first error,
// ErrReaderClosed (wrapped) when the reader ended, or nil when ctx ended.
func (l *Loop) Run(ctx context.Context, handle func(msgs []kafka.Message) error) error {
	msgs := make(chan kafka.Message, l.Size)
	fetchErr := make(chan error, 1)
	// The fetcher stops when Run returns, whatever the reason (a handler error included), so that
	// the caller may close the reader afterwards without a fetcher left retrying on it.
	fctx, stop := context.WithCancel(ctx)
	fetched := make(chan struct{})
	defer func() {
		stop()
		<-fetched
	}()
	go func() {
		defer close(fetched)
		defer close(msgs)
		backoff := 100 * time.Millisecond
		for {
			m, err := l.Reader.FetchMessage(fctx)
			if err != nil {
				if fctx.Err() != nil {
					return
				}
				if f, ok := l.Reader.(Finite); ok && f.Ended(err) {
					fetchErr <- err
					return
				}
				l.retry("fetch", err, backoff)
				if !Sleep(fctx, backoff) {
					return
				}
				backoff = NextBackoff(backoff)
				continue
			}
			backoff = 100 * time.Millisecond
			select {
			case msgs <- m:
			case <-fctx.Done():
				return
			}
		}
	}()
	for {
		b, ok := l.collect(ctx, msgs)
		if len(b) > 0 {
			if err := handle(b); err != nil {
				return err
			}
		}
		if !ok {
			select {
			case err := <-fetchErr:
				return fmt.Errorf("%w: %w", ErrReaderClosed, err)
			default:
			}
			return nil
		}
	}
}

// Finite is implemented by readers that come to an end (a replay of a topic up to its end
// offsets): Ended reports whether an error from FetchMessage means that everything has been
// delivered, and Run then returns ErrReaderClosed. For any other reader every fetch error is
// retried: kafka-go group readers in particular hand a failed group rejoin to FetchMessage as
// it is — io.EOF when the broker dropped the connection, as in a broker restart — and keep
// trying, so io.EOF from them must not end the consumer (it did once: a report consumer stopped
// for good, the decisions consumer stopped the process). The hub closes readers only after Run
// returns.
type Finite interface {
	Ended(err error) bool
}

func (l *Loop) retry(stage string, err error, backoff time.Duration) {
	if l.OnRetry != nil {
		l.OnRetry(stage, err, backoff)
	}
}

// collect waits for the first message, then gathers more until Size or Wait.
func (l *Loop) collect(ctx context.Context, msgs <-chan kafka.Message) ([]kafka.Message, bool) {
	var b []kafka.Message
	for len(b) == 0 {
		select {
		case m, ok := <-msgs:
			if !ok {
				return nil, false
			}
			b = append(b, m)
		case <-l.Tick:
			if l.OnTick != nil {
				l.OnTick()
			}
		case <-ctx.Done():
			return nil, false
		}
	}
	timer := time.NewTimer(l.Wait)
	defer timer.Stop()
	for len(b) < l.Size {
		select {
		case m, ok := <-msgs:
			if !ok {
				return b, false
			}
			b = append(b, m)
		case <-timer.C:
			return b, true
		case <-ctx.Done():
			return b, false
		}
	}
	return b, true
}

// Commit commits msgs, retrying with backoff until ctx ends. A batch applied but not committed
// is redelivered, and the consumers' offset bookkeeping skips it.
func (l *Loop) Commit(ctx context.Context, msgs []kafka.Message) error {
	backoff := 100 * time.Millisecond
	for {
		err := l.Reader.CommitMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("offsets not committed before shutdown deadline: %w", err)
		}
		l.retry("commit", err, backoff)
		if !Sleep(ctx, backoff) {
			return fmt.Errorf("offsets not committed before shutdown deadline: %w", err)
		}
		backoff = NextBackoff(backoff)
	}
}

// Sleep waits d, or returns false when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// NextBackoff doubles d up to 10 s.
func NextBackoff(d time.Duration) time.Duration { return min(d*2, 10*time.Second) }

// UntilDrain returns a context that ends drain after parent ends, so that a batch in hand can
// finish its write and commit during shutdown.
func UntilDrain(parent context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() { time.AfterFunc(drain, cancel) })
	return ctx, func() { stop(); cancel() }
}
