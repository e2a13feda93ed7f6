package index

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is the value published on mrhub.index.v1 (schemas/events/index-entry.schema.json).
type Event struct {
	ID         string       `json:"id"`
	Performer  string       `json:"performer"`
	Identifier *EventIdent  `json:"identifier,omitempty"`
	Patient    EventPatient `json:"patient"`
	Item       *string      `json:"item"`
	Kind       string       `json:"kind"`
	Code       EventCode    `json:"code"`
	Category   string       `json:"category"`
	Status     string       `json:"status"`
	Effective  *time.Time   `json:"effective"`
	Issued     *time.Time   `json:"issued"`
	Clock      time.Time    `json:"clock"`
	HRScope    string       `json:"hr_scope"`
	Version    int          `json:"version"`
	Hash       string       `json:"content_hash"`
	Source     string       `json:"source"`
	Change     string       `json:"change"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

// EventIdent is a report identifier.
type EventIdent struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// EventCode is the report code as sent.
type EventCode struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

// EventPatient names the person by hub id and masked identifiers only.
type EventPatient struct {
	ID          string           `json:"id"`
	Provisional bool             `json:"provisional"`
	Identifiers []EventPatientID `json:"identifiers"`
}

// EventPatientID is one masked identifier.
type EventPatientID struct {
	Kind   string `json:"kind"`
	Issuer string `json:"issuer,omitempty"`
	Masked string `json:"masked"`
}

// writeEvents reads the final state of the changed reports and queues one outbox record each:
// the index entry, or a tombstone when the report is withdrawn. Reports in patientOnly and not
// in changed kept their version; only their patient changed (merge, new identifier): their
// change is "patient_merge".
func (s *Store) writeEvents(ctx context.Context, tx pgx.Tx, changed, patientOnly []string) (int, error) {
	if len(changed) == 0 && len(patientOnly) == 0 {
		return 0, nil
	}
	var uniq []string
	seen := map[string]bool{}
	for _, id := range changed {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	onlyPatient := map[string]bool{}
	for _, id := range patientOnly {
		if !seen[id] {
			seen[id] = true
			onlyPatient[id] = true
			uniq = append(uniq, id)
		}
	}
	sort.Strings(uniq)
	events, current, err := LoadEvents(ctx, tx, uniq)
	if err != nil {
		return 0, err
	}
	rows := make([][]any, 0, len(events))
	for i, ev := range events {
		if onlyPatient[ev.ID] {
			ev.Change = "patient_merge"
		}
		var value any // nil = tombstone
		if current[i] {
			b, err := json.Marshal(ev)
			if err != nil {
				return 0, fmt.Errorf("encoding index event: %w", err)
			}
			value = b
		}
		h, _ := json.Marshal(map[string]string{"mrhub-change": ev.Change, "mrhub-version": strconv.Itoa(ev.Version)})
		rows = append(rows, []any{s.indexTop, []byte(ev.ID), value, json.RawMessage(h)})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"topic", "key", "value", "headers"}, pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("writing index events to the outbox: %w", err)
	}
	return len(rows), nil
}

// Querier is the read side of a pgx connection, pool or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// LoadEvents returns the index entries of ids (sorted as given) and whether each is current.
// Used by Apply and by reindex/backfill to publish the index.
//
// An entry's change is "new" when the report row was inserted by the calling transaction
// (created_at defaults to now(), the transaction's start time), so the first event of a report
// says "new" even when its first batch carried several versions of it; outside such a
// transaction (republishing) it is "new" when the report has only ever had one version.
// Otherwise it is "version".
func LoadEvents(ctx context.Context, q Querier, ids []string) ([]Event, []bool, error) {
	rows, err := q.Query(ctx, `
		SELECT r.id, r.performer, r.identifier_system, r.identifier_value, r.patient_id, p.provisional, r.item, r.kind,
		       r.code_system, r.code, r.code_display, r.category, r.status, r.current, r.effective, r.issued, r.clock,
		       r.hr_scope, r.version, r.content_hash, r.source, r.updated_at,
		       (r.created_at = now() OR (r.max_version = 1 AND r.version = 1)),
		       COALESCE((SELECT json_agg(json_build_object('kind', i.kind, 'issuer', i.issuer, 'masked', i.masked)
		                          ORDER BY i.kind, i.issuer, i.masked)
		                 FROM patient_identifiers i WHERE i.patient_id = r.patient_id), '[]')
		FROM reports r JOIN patients p ON p.id = r.patient_id
		WHERE r.id = ANY($1) ORDER BY r.id`, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("reading index entries: %w", err)
	}
	defer rows.Close()
	var evs []Event
	var cur []bool
	for rows.Next() {
		var ev Event
		var sys, val string
		var pid int64
		var current, first bool
		var hash []byte
		var idents []byte
		if err := rows.Scan(&ev.ID, &ev.Performer, &sys, &val, &pid, &ev.Patient.Provisional, &ev.Item, &ev.Kind,
			&ev.Code.System, &ev.Code.Code, &ev.Code.Display, &ev.Category, &ev.Status, &current, &ev.Effective, &ev.Issued,
			&ev.Clock, &ev.HRScope, &ev.Version, &hash, &ev.Source, &ev.UpdatedAt, &first, &idents); err != nil {
			return nil, nil, fmt.Errorf("reading index entry: %w", err)
		}
		if sys != "" || val != "" {
			ev.Identifier = &EventIdent{System: sys, Value: val}
		}
		ev.Patient.ID = "p" + strconv.FormatInt(pid, 10)
		if err := json.Unmarshal(idents, &ev.Patient.Identifiers); err != nil {
			return nil, nil, fmt.Errorf("reading patient identifiers: %w", err)
		}
		ev.Hash = hex.EncodeToString(hash)
		ev.Change = "version"
		if first {
			ev.Change = "new"
		}
		evs = append(evs, ev)
		cur = append(cur, current)
	}
	return evs, cur, rows.Err()
}

// Republish queues a fresh index event (or tombstone) for every report, in id order and in
// chunks, so that a new or emptied mrhub.index.v1 can be rebuilt from the database. It returns
// the number of events queued; the outbox relay publishes them.
func (s *Store) Republish(ctx context.Context, chunk int, progress func(done int)) (int, error) {
	if chunk <= 0 {
		chunk = 1000
	}
	after := ""
	total := 0
	for {
		rows, err := s.pool.Query(ctx, `SELECT id FROM reports WHERE id > $1 ORDER BY id LIMIT $2`, after, chunk)
		if err != nil {
			return total, fmt.Errorf("listing reports: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return total, fmt.Errorf("listing reports: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT id FROM reports WHERE id = ANY($1) ORDER BY id FOR SHARE`, ids); err != nil {
				return err
			}
			n, err := s.writeEvents(ctx, tx, ids, nil)
			total += n
			return err
		})
		if err != nil {
			return total, fmt.Errorf("queueing index events: %w", err)
		}
		after = ids[len(ids)-1]
		if progress != nil {
			progress(total)
		}
	}
}
