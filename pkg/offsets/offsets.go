// Package offsets keeps the ingest_offsets bookkeeping shared by the hub's consumers: for each
// consumer (group or replay name), topic and partition, the next offset whose effects are not yet
// in the database. A consumer locks the rows of its batch's partitions in the batch's transaction,
// skips messages below them (a batch redelivered after a crash between the database commit and
// the Kafka commit), and saves the new values in the same transaction.
package offsets

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Position is where a message was read.
type Position struct {
	Topic     string
	Partition int
	Offset    int64
}

type partition struct {
	topic string
	part  int
}

// Next holds the next unapplied offset per partition.
type Next map[partition]int64

// Applied reports whether the message at p is already applied.
func (n Next) Applied(p Position) bool { return p.Offset < n[partition{p.Topic, p.Partition}] }

func partitions(ps []Position) (topics []string, parts []int32) {
	seen := map[partition]bool{}
	var keys []partition
	for _, p := range ps {
		k := partition{p.Topic, p.Partition}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	for _, k := range keys {
		topics = append(topics, k.topic)
		parts = append(parts, int32(k.part))
	}
	return topics, parts
}

// Lock registers the partitions of ps for consumer if new, locks their rows (in partition order)
// and returns their next offsets.
func Lock(ctx context.Context, tx pgx.Tx, consumer string, ps []Position) (Next, error) {
	next := Next{}
	if len(ps) == 0 {
		return next, nil
	}
	topics, parts := partitions(ps)
	if _, err := tx.Exec(ctx, `INSERT INTO ingest_offsets(consumer, topic, partition, next_offset)
		SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS q(t, p) ORDER BY t, p
		ON CONFLICT DO NOTHING`, consumer, topics, parts); err != nil {
		return nil, fmt.Errorf("registering partitions: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT o.topic, o.partition, o.next_offset FROM ingest_offsets o
		JOIN unnest($2::text[], $3::int[]) AS q(t, p) ON o.topic = q.t AND o.partition = q.p
		WHERE o.consumer = $1 ORDER BY o.topic, o.partition FOR UPDATE OF o`, consumer, topics, parts)
	if err != nil {
		return nil, fmt.Errorf("locking partition offsets: %w", err)
	}
	return next, scan(rows, next)
}

// Read returns consumer's next offsets without locking (a hint; Lock decides).
func Read(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, consumer string) (Next, error) {
	next := Next{}
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM ingest_offsets WHERE consumer = $1`, consumer)
	if err != nil {
		return nil, fmt.Errorf("reading partition offsets: %w", err)
	}
	return next, scan(rows, next)
}

func scan(rows pgx.Rows, next Next) error {
	defer rows.Close()
	for rows.Next() {
		var k partition
		var n int64
		if err := rows.Scan(&k.topic, &k.part, &n); err != nil {
			return fmt.Errorf("reading partition offsets: %w", err)
		}
		next[k] = n
	}
	return rows.Err()
}

// Save records, for each partition of ps, the offset after the highest one in ps (never moving
// an offset back).
func Save(ctx context.Context, tx pgx.Tx, consumer string, ps []Position) error {
	max := map[partition]int64{}
	for _, p := range ps {
		k := partition{p.Topic, p.Partition}
		if v, ok := max[k]; !ok || p.Offset > v {
			max[k] = p.Offset
		}
	}
	if len(max) == 0 {
		return nil
	}
	var topics []string
	var parts []int32
	var offs []int64
	for k, v := range max {
		topics = append(topics, k.topic)
		parts = append(parts, int32(k.part))
		offs = append(offs, v+1)
	}
	_, err := tx.Exec(ctx, `UPDATE ingest_offsets o SET next_offset = GREATEST(o.next_offset, q.n), updated_at = now()
		FROM unnest($2::text[], $3::int[], $4::bigint[]) AS q(t, p, n)
		WHERE o.consumer = $1 AND o.topic = q.t AND o.partition = q.p`, consumer, topics, parts, offs)
	if err != nil {
		return fmt.Errorf("saving partition offsets: %w", err)
	}
	return nil
}
