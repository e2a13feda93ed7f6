package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/bus"
)

// Options select what to replay.
type Options struct {
	Brokers    []string
	Topic      string
	FromOffset int64         // start offset in every partition (used when FromTime is zero); kafka.FirstOffset = -2
	FromTime   time.Time     // start at the first message at or after this time
	Security   *bus.Security // TLS/SASL of the connections (nil: plaintext; Run uses the hub's)
}

// Reader merges the partitions of a topic from a start point up to the end offsets they had
// when it was opened, then returns io.EOF. CommitMessages is a no-op (replays keep no group
// offsets); it satisfies the report consumer's Reader interface.
type Reader struct {
	msgs   chan kafka.Message
	errc   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open starts one partition reader per partition.
func Open(ctx context.Context, o Options) (*Reader, error) {
	dialer := o.Security.Dialer()
	conn, err := dialer.DialContext(ctx, "tcp", o.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka: %w", o.Security.Explain(err))
	}
	parts, err := conn.ReadPartitions(o.Topic)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("reading partitions of %s: %w", o.Topic, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &Reader{msgs: make(chan kafka.Message, 1000), errc: make(chan error, len(parts)), cancel: cancel}
	for _, p := range parts {
		leader, err := dialer.DialLeader(ctx, "tcp", o.Brokers[0], o.Topic, p.ID)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("partition %d: %w", p.ID, err)
		}
		end, err := leader.ReadLastOffset()
		start := o.FromOffset
		if err == nil && !o.FromTime.IsZero() {
			start, err = leader.ReadOffset(o.FromTime)
		} else if err == nil && start < 0 {
			start, err = leader.ReadFirstOffset()
		}
		leader.Close()
		if err != nil {
			cancel()
			return nil, fmt.Errorf("partition %d offsets: %w", p.ID, err)
		}
		if start < 0 || start >= end {
			continue // nothing to replay in this partition
		}
		pr := kafka.NewReader(kafka.ReaderConfig{Brokers: o.Brokers, Topic: o.Topic, Partition: p.ID, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond, Dialer: dialer})
		if err := pr.SetOffset(start); err != nil {
			pr.Close()
			cancel()
			return nil, fmt.Errorf("partition %d start: %w", p.ID, err)
		}
		r.wg.Add(1)
		go r.pump(rctx, pr, end)
	}
	go func() { r.wg.Wait(); close(r.msgs) }()
	return r, nil
}

func (r *Reader) pump(ctx context.Context, pr *kafka.Reader, end int64) {
	defer r.wg.Done()
	defer pr.Close()
	for {
		m, err := pr.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.errc <- err
			}
			return
		}
		select {
		case r.msgs <- m:
		case <-ctx.Done():
			return
		}
		if m.Offset+1 >= end {
			return
		}
	}
}

// Ended reports whether err, from FetchMessage, means that the replay has delivered every
// message up to the end offsets (batch.Finite: the consumer loop then stops).
func (r *Reader) Ended(err error) bool { return errors.Is(err, io.EOF) }

// FetchMessage returns the next message of any partition, or io.EOF when every partition
// reached its end.
func (r *Reader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	select {
	case m, ok := <-r.msgs:
		if !ok {
			select {
			case err := <-r.errc:
				return kafka.Message{}, err
			default:
				return kafka.Message{}, io.EOF
			}
		}
		return m, nil
	case err := <-r.errc:
		return kafka.Message{}, err
	case <-ctx.Done():
		return kafka.Message{}, ctx.Err()
	}
}

// CommitMessages does nothing: a replay keeps no consumer-group offsets.
func (r *Reader) CommitMessages(context.Context, ...kafka.Message) error { return nil }

// Stats reports nothing useful for a replay.
func (r *Reader) Stats() kafka.ReaderStats { return kafka.ReaderStats{} }

// Close stops the partition readers.
func (r *Reader) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}
