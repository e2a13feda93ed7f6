package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/telemetry"
)

// Publisher is the part of a kafka-go Writer the relay needs (its messages carry their topic).
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay publishes outbox rows.
type Relay struct {
	Pool      *pgxpool.Pool
	Publisher Publisher
	Log       *zap.Logger
	Metrics   *telemetry.Metrics // optional
	Poll      time.Duration      // idle poll interval (default 100ms)
	BatchSize int                // rows per publish (default 2000)
}

const lockKey = 0x6d726f7574626f78 // "mroutbox"

// Run relays until ctx ends. It returns nil on cancellation; database and broker failures are
// logged and retried with backoff.
func (r *Relay) Run(ctx context.Context) error {
	poll := r.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	backoff := poll
	for ctx.Err() == nil {
		err := r.lead(ctx, poll)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.Log.Warn("outbox relay paused; retrying", zap.Error(err), zap.Duration("backoff", backoff))
			if r.Metrics != nil {
				r.Metrics.Retries.WithLabelValues("outbox").Inc()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
	return nil
}

// lead takes the relay lock on a dedicated connection and relays while it holds it.
func (r *Relay) lead(ctx context.Context, poll time.Duration) error {
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquiring connection: %w", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(lockKey)).Scan(&got); err != nil {
		return fmt.Errorf("taking relay lock: %w", err)
	}
	if !got {
		return nil // another instance relays; look again after the backoff
	}
	defer func() {
		// Session locks die with the connection; unlock explicitly so the pool may reuse it.
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, int64(lockKey))
	}()
	for {
		n, err := r.relayOnce(ctx, conn.Conn())
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// RelayOnce publishes up to BatchSize pending rows (tests and the backfill use it directly).
func (r *Relay) relayOnce(ctx context.Context, conn *pgx.Conn) (int, error) {
	size := r.BatchSize
	if size <= 0 {
		size = 2000
	}
	rows, err := conn.Query(ctx, `SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT $1`, size)
	if err != nil {
		return 0, fmt.Errorf("reading outbox: %w", err)
	}
	var ids []int64
	var msgs []kafka.Message
	for rows.Next() {
		var id int64
		var m kafka.Message
		var headers []byte
		if err := rows.Scan(&id, &m.Topic, &m.Key, &m.Value, &headers); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reading outbox row: %w", err)
		}
		var h map[string]string
		if err := json.Unmarshal(headers, &h); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox row %d headers: %w", id, err)
		}
		for k, v := range h {
			m.Headers = append(m.Headers, protocol.Header{Key: k, Value: []byte(v)})
		}
		ids = append(ids, id)
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading outbox: %w", err)
	}
	if r.Metrics != nil {
		r.Metrics.OutboxPending.Set(float64(len(ids)))
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := r.Publisher.WriteMessages(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("publishing %d outbox records: %w", len(msgs), err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("deleting relayed outbox records: %w", err)
	}
	if r.Metrics != nil {
		r.Metrics.OutboxRelayed.Add(float64(len(ids)))
	}
	return len(ids), nil
}

// Drain relays until the outbox is empty (or ctx ends); for tests, benchmarks and shutdown.
func (r *Relay) Drain(ctx context.Context) error {
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for {
		n, err := r.relayOnce(ctx, conn.Conn())
		if err != nil || n == 0 {
			return err
		}
	}
}
