package decisions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/offsets"
)

// Message is one record of mrhub.decisions.v1.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Time      time.Time // the record's Kafka timestamp (zero: unknown)
}

// ErrReportPending is returned by ApplyBatch, with nothing applied, when a decision names a
// report the index does not hold yet and the decision was published less than
// Store.ReportGrace ago: reports and decisions travel on different topics, so a decision can
// overtake its report while the report consumers catch up. The caller retries the batch.
var ErrReportPending = errors.New("a decision names a report that is not indexed yet")

// Batch is what one consumer transaction applies.
type Batch struct {
	Consumer string // consumer group owning the offsets in ingest_offsets
	Messages []Message
}

// Outcome counts what ApplyBatch did. Results are by message, in order: "recognized" or
// "declined" (new decision), "duplicate", "revoked", "already_revoked", "rejected:<code>", or
// "skipped" (applied before a crash).
type Outcome struct {
	Results     []string // a Result, "rejected:<code>" or "skipped"
	DeadLetters int
	Skipped     int
	// Institutions are the codes of the institutions that wrote in the batch: the deciding
	// institution and the publisher of every decision or revocation applied (each once). Their
	// reads on replicas must wait for the batch (read-your-writes).
	Institutions []string
}

// HeaderSource is the header naming the publishing institution.
const HeaderSource = "mrhub-source"

// ApplyBatch applies msgs in one transaction: every message not applied yet (per ingest_offsets)
// is decoded, authorised by its mrhub-source header, validated and written; a rejected message
// becomes a dead letter in the outbox (same transaction); the partitions' next offsets are saved.
// A database failure of the whole transaction is returned (the caller retries the batch).
func (s *Store) ApplyBatch(ctx context.Context, b *Batch) (*Outcome, error) {
	var out *Outcome
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		out = &Outcome{}
		return s.applyBatch(ctx, tx, b, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) applyBatch(ctx context.Context, tx pgx.Tx, b *Batch, out *Outcome) error {
	next, err := offsets.Lock(ctx, tx, b.Consumer, positions(b))
	if err != nil {
		return err
	}
	var dead [][]any
	for _, m := range b.Messages {
		if next.Applied(offsets.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}) {
			out.Skipped++
			out.Results = append(out.Results, "skipped")
			continue
		}
		res, rej, err := s.applyOne(ctx, tx, m, out)
		if err != nil {
			return err
		}
		if rej != nil {
			if rej.Code == "decision.unknown_report" && s.ReportGrace > 0 && !m.Time.IsZero() && s.now().Sub(m.Time) < s.ReportGrace {
				return fmt.Errorf("%w (%s[%d]@%d, published %s ago; dead-lettered after %s)", ErrReportPending,
					m.Topic, m.Partition, m.Offset, s.now().Sub(m.Time).Round(time.Second), s.ReportGrace)
			}
			dead = append(dead, deadLetter(s.DLQ, m, rej))
			out.Results = append(out.Results, "rejected:"+rej.Code)
			continue
		}
		out.Results = append(out.Results, string(res))
	}
	if len(dead) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"topic", "key", "value", "headers"}, pgx.CopyFromRows(dead)); err != nil {
			return fmt.Errorf("writing dead letters to the outbox: %w", err)
		}
		out.DeadLetters = len(dead)
	}
	return offsets.Save(ctx, tx, b.Consumer, positions(b))
}

// applyOne applies one message under a savepoint: a rejection (or a database refusal of this
// message alone) rolls back only its own writes.
func (s *Store) applyOne(ctx context.Context, tx pgx.Tx, m Message, out *Outcome) (res Result, rej *Error, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, rej, err = "", &Error{Code: "internal.panic", Message: fmt.Sprintf("the hub failed on this message (%v); report it to the hub operators", p)}, nil
		}
	}()
	ev, perr := Parse(m.Value, "")
	if perr != nil {
		return "", perr, nil
	}
	src := m.Headers[HeaderSource]
	if src == "" {
		return "", &Error{Code: "decision.missing_source", Field: "mrhub-source", Message: "header mrhub-source (the publishing institution's code) is required"}, nil
	}
	publisher, ok := s.Catalog.Institution(src)
	if !ok {
		return "", &Error{Code: "decision.unknown_source", Field: "mrhub-source", Message: fmt.Sprintf("header mrhub-source %q is not an institution of the region", src)}, nil
	}
	if ev.Type == TypeDecision {
		if _, rerr := s.Authorize(ev.Institution, src, true); rerr != nil {
			return "", rerr, nil
		}
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return "", nil, err
	}
	var d *Decision
	if ev.Type == TypeRevoke {
		d, res, err = s.Revoke(ctx, sp, ev, src, true)
	} else {
		d, res, err = s.Decide(ctx, sp, ev, "kafka")
	}
	var e *Error
	if errors.As(err, &e) {
		if rbErr := sp.Rollback(ctx); rbErr != nil {
			return "", nil, rbErr
		}
		return "", e, nil
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && !index.IsTransient(err) {
			if rbErr := sp.Rollback(ctx); rbErr != nil {
				return "", nil, rbErr
			}
			return "", &Error{Code: "decision.rejected", Message: "the database refused this decision: " + pgErr.Message}, nil
		}
		_ = sp.Rollback(ctx)
		return "", nil, err
	}
	if err := sp.Commit(ctx); err != nil {
		return "", nil, err
	}
	out.wrote(publisher.Code)
	if d != nil {
		out.wrote(d.Institution)
	}
	if res == Created {
		res = Result(d.Outcome)
	}
	return res, nil, nil
}

// wrote adds institution to o.Institutions unless it is there.
func (o *Outcome) wrote(institution string) {
	if institution != "" && !slices.Contains(o.Institutions, institution) {
		o.Institutions = append(o.Institutions, institution)
	}
}

func deadLetter(topic string, m Message, e *Error) []any {
	h := map[string]string{}
	for k, v := range m.Headers {
		h[k] = v
	}
	h["mrhub-error-code"] = e.Code
	h["mrhub-error-message"] = e.Message
	h["mrhub-error-path"] = e.Field
	h["mrhub-source-topic"] = m.Topic
	h["mrhub-source-partition"] = strconv.Itoa(m.Partition)
	h["mrhub-source-offset"] = strconv.FormatInt(m.Offset, 10)
	h["mrhub-dead-lettered-at"] = time.Now().UTC().Format(time.RFC3339)
	hj, _ := json.Marshal(h)
	key := m.Key
	if key == nil {
		key = []byte{}
	}
	return []any{topic, key, m.Value, json.RawMessage(hj)}
}

func positions(b *Batch) []offsets.Position {
	ps := make([]offsets.Position, len(b.Messages))
	for i, m := range b.Messages {
		ps[i] = offsets.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	return ps
}
