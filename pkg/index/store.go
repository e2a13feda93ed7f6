package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/offsets"
)

// Batch is what one consumer transaction writes.
type Batch struct {
	Consumer    string     // consumer group (or replay name) owning the offsets
	Positions   []Position // every message of the batch, indexed or not
	Entries     []*Entry   // in delivery order
	DeadLetters []DeadLetter
}

// Outcome counts what Apply did.
type Outcome struct {
	New, Versions, Unchanged, History, Withdrawn int
	SkippedMessages                              int // already applied before a crash (offset below ingest_offsets)
	DeadLetters                                  int
	Merges                                       int
	Events                                       int
	Reviews                                      int
}

// Store writes batches into the index.
type Store struct {
	pool     *pgxpool.Pool
	indexTop string
	dlqTop   string
}

// NewStore returns a store publishing index events to indexTopic and dead letters to dlqTopic
// through the outbox.
func NewStore(pool *pgxpool.Pool, indexTopic, dlqTopic string) *Store {
	return &Store{pool: pool, indexTop: indexTopic, dlqTop: dlqTopic}
}

// errRetryIdentity: the batch must be applied again from the identity step.
var errRetryIdentity = &pgconn.PgError{Code: "40001", Message: "offsets moved back since the identity step; retrying the batch"}

// IsContention reports whether err means the transaction lost a race with another writer (a
// concurrent insert of the same new report or identifier, a deadlock, a serialization failure):
// retrying at once, with a little jitter, succeeds because the other writer has committed.
func IsContention(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "40001", "40P01":
			return true
		}
	}
	return false
}

// IsTransient reports whether err is worth retrying: the database was unreachable, the
// transaction lost a race with another hub instance (unique violation on a new report or
// identifier, deadlock, serialization failure), or the server is shutting down.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006", "08001", "08004":
			return true
		}
		return false
	}
	// Connection-level failures (dial, reset, EOF, timeout) carry no SQLSTATE.
	return true
}

type reportState struct {
	exists      bool
	version     int
	maxVersion  int
	rank        string
	hashes      map[string]bool
	current     *Entry // entry that is current after this batch (nil: unchanged)
	patientID   int64
	newVersions int
}

// Apply writes b and returns what it did, in two transactions:
//
//  1. identity: patients are resolved (identity.Resolve, which locks only identifier rows), the
//     reports of merged patients move, and the reports of patients whose identifiers changed get
//     fresh index events. It is short, so concurrent consumers that share patients wait for each
//     other only briefly. If the process dies after it, nothing is lost: the identity facts it
//     recorded are true whatever happens to the batch, and the redelivered batch finds them.
//  2. reports: the partition offsets are locked and already-applied messages skipped, the
//     batch's patients are locked FOR SHARE (a concurrent merge of one of them waits for this
//     transaction, or has committed and is followed through merged_into), then reports, versions,
//     results, index events, dead letters and offsets are written.
func (s *Store) Apply(ctx context.Context, b *Batch) (*Outcome, error) {
	out := &Outcome{}
	pending, err := s.unapplied(ctx, b)
	if err != nil {
		return nil, err
	}
	var patients []int64
	if len(pending) > 0 {
		phase := PhaseTimer()
		phase(10) // phase 10: the identity transaction
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			patients, err = s.resolvePatients(ctx, tx, pending, out)
			return err
		})
		phase(0)
		if err != nil {
			return nil, err
		}
	}
	pid := make(map[*Entry]int64, len(pending))
	for i, e := range pending {
		pid[e] = patients[i]
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		merges, reviews, events := out.Merges, out.Reviews, out.Events
		*out = Outcome{Merges: merges, Reviews: reviews, Events: events}
		return s.apply(ctx, tx, b, pid, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// unapplied returns the entries of b whose messages are past the recorded offsets (read without
// locks: the reports transaction checks again under lock).
func (s *Store) unapplied(ctx context.Context, b *Batch) ([]*Entry, error) {
	if len(b.Entries) == 0 {
		return nil, nil
	}
	next, err := offsets.Read(ctx, s.pool, b.Consumer)
	if err != nil {
		return nil, err
	}
	var out []*Entry
	for _, e := range b.Entries {
		if !next.Applied(e.Pos) {
			out = append(out, e)
		}
	}
	return out, nil
}

// resolvePatients is the identity transaction: it returns each entry's patient id.
func (s *Store) resolvePatients(ctx context.Context, tx pgx.Tx, entries []*Entry, out *Outcome) ([]int64, error) {
	reqs := make([]identity.Request, len(entries))
	for i, e := range entries {
		reqs[i] = e.Patient
	}
	pres, err := identity.Resolve(ctx, tx, reqs)
	if err != nil {
		return nil, err
	}
	out.Merges = len(pres.Merges)
	out.Reviews = pres.Reviews
	if len(pres.Merges) == 0 && len(pres.Changed) == 0 {
		return pres.PatientIDs, nil
	}
	// Patients whose identity changed are locked so that a reports transaction that holds one
	// of them FOR SHARE finishes first (its new reports are then re-emitted below), or starts
	// after this commits (and reads the new identifiers for its events).
	lock := append([]int64(nil), pres.Changed...)
	for _, m := range pres.Merges {
		lock = append(lock, m.From)
	}
	sort.Slice(lock, func(i, j int) bool { return lock[i] < lock[j] })
	if _, err := tx.Exec(ctx, `SELECT id FROM patients WHERE id = ANY($1) ORDER BY id FOR UPDATE`, lock); err != nil {
		return nil, fmt.Errorf("locking re-identified patients: %w", err)
	}

	// Merged patients move their reports.
	var moved []string
	for _, m := range pres.Merges {
		rows, err := tx.Query(ctx, `UPDATE reports SET patient_id = $2, updated_at = now(), seq = nextval('reports_seq')
			WHERE patient_id = $1 RETURNING id`, m.From, m.Into)
		if err != nil {
			return nil, fmt.Errorf("moving reports of merged patient: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("moving reports of merged patient: %w", err)
		}
		moved = append(moved, ids...)
		for _, t := range []string{"observations", "imaging_studies"} {
			if _, err := tx.Exec(ctx, `UPDATE `+t+` SET patient_id = $2 WHERE patient_id = $1`, m.From, m.Into); err != nil {
				return nil, fmt.Errorf("moving %s of merged patient: %w", t, err)
			}
		}
	}
	// Patients whose identity changed (identifier attached, provisional identified, merged
	// into): their current reports' events name the patient by its identifiers, so re-emit them.
	// Lock the rows (in id order) so that the event is ordered after any concurrent change of
	// the same report, as for every other index event.
	if len(pres.Changed) > 0 {
		rows, err := tx.Query(ctx, `SELECT id FROM reports WHERE patient_id = ANY($1) AND current ORDER BY id FOR UPDATE`, pres.Changed)
		if err != nil {
			return nil, fmt.Errorf("locking reports of re-identified patients: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("locking reports of re-identified patients: %w", err)
		}
		moved = append(moved, ids...)
	}
	n, err := s.writeEvents(ctx, tx, nil, moved)
	if err != nil {
		return nil, err
	}
	out.Events = n
	return pres.PatientIDs, nil
}

// livePatients locks the batch's patients FOR SHARE and maps each to its live id, following
// merges committed since the identity transaction.
func livePatients(ctx context.Context, tx pgx.Tx, pid map[*Entry]int64) (map[int64]int64, error) {
	live := map[int64]int64{}
	var ids []int64
	for _, id := range pid {
		if _, ok := live[id]; !ok {
			live[id] = id
			ids = append(ids, id)
		}
	}
	for len(ids) > 0 {
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		rows, err := tx.Query(ctx, `SELECT id, merged_into FROM patients WHERE id = ANY($1) ORDER BY id FOR SHARE`, ids)
		if err != nil {
			return nil, fmt.Errorf("locking patients: %w", err)
		}
		next := map[int64]int64{}
		for rows.Next() {
			var id int64
			var into *int64
			if err := rows.Scan(&id, &into); err != nil {
				rows.Close()
				return nil, err
			}
			if into != nil {
				next[id] = *into
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("locking patients: %w", err)
		}
		ids = ids[:0]
		for from, into := range next {
			for orig, cur := range live {
				if cur == from {
					live[orig] = into
				}
			}
			ids = append(ids, into)
		}
	}
	return live, nil
}

func (s *Store) apply(ctx context.Context, tx pgx.Tx, b *Batch, pid map[*Entry]int64, out *Outcome) error {
	phase := PhaseTimer()
	defer phase(8)
	phase(1)
	// 1. Offsets already applied (crash between database commit and Kafka commit).
	next, err := offsets.Lock(ctx, tx, b.Consumer, b.Positions)
	if err != nil {
		return err
	}
	applied := next.Applied
	var entries []*Entry
	for _, e := range b.Entries {
		if !applied(e.Pos) {
			if _, ok := pid[e]; !ok {
				// Applied by another member when we read the offsets, then rolled back: resolve
				// again on the next attempt.
				return errRetryIdentity
			}
			entries = append(entries, e)
		}
	}
	var dls []DeadLetter
	for _, d := range b.DeadLetters {
		if !applied(d.Pos) {
			dls = append(dls, d)
		}
	}
	for _, p := range b.Positions {
		if applied(p) {
			out.SkippedMessages++
		}
	}

	phase(2)
	// 2. Patients: lock them against concurrent merges, follow merges committed meanwhile.
	live, err := livePatients(ctx, tx, pid)
	if err != nil {
		return err
	}
	patientOf := func(e *Entry) int64 { return live[pid[e]] }

	phase(3)
	// 3. Reports: lock existing rows in id order, decide in memory.
	states, err := s.loadReports(ctx, tx, entries)
	if err != nil {
		return err
	}
	type version struct {
		e       *Entry
		version int
	}
	var versions []version
	kinds := make(map[*Entry]string, len(entries)) // for the publishing figures
	for _, e := range entries {
		st := states[e.ID]
		h := string(e.ContentHash)
		if st.hashes[h] {
			out.Unchanged++
			kinds[e] = entryUnchanged
			continue
		}
		st.hashes[h] = true
		st.maxVersion++
		versions = append(versions, version{e, st.maxVersion})
		rank := e.Rank()
		if (!st.exists && st.current == nil) || CompareRank(rank, st.rank) > 0 {
			st.current = e
			st.rank = rank
			st.version = st.maxVersion
			st.patientID = patientOf(e)
			switch {
			case Withdrawn(e.Status):
				out.Withdrawn++
				kinds[e] = entryWithdrawn
			case st.exists || st.newVersions > 0:
				out.Versions++
				kinds[e] = entryVersion
			default:
				out.New++
				kinds[e] = entryNew
			}
		} else {
			out.History++
			kinds[e] = entryHistory
		}
		st.newVersions++
	}

	phase(4)
	// 4. Write reports, versions, observations.
	var changed []string
	newRows := [][]any{}
	upd := &pgx.Batch{}
	for id, st := range states {
		if st.current == nil {
			if st.newVersions > 0 {
				upd.Queue(`UPDATE reports SET max_version = $2 WHERE id = $1`, id, st.maxVersion)
			}
			continue
		}
		changed = append(changed, id)
		e := st.current
		if !st.exists {
			newRows = append(newRows, []any{e.ID, e.NaturalKey, e.Performer, e.IdentifierSystem, e.IdentifierValue, st.patientID,
				nullStr(e.Item), e.Kind, e.CodeSystem, e.Code, e.CodeDisplay, e.Category, e.Status, !Withdrawn(e.Status),
				e.Effective, e.Issued, e.Clock, e.HRScope, st.version, st.maxVersion, st.rank, e.ContentHash, e.Source})
			continue
		}
		upd.Queue(`UPDATE reports SET performer=$2, identifier_system=$3, identifier_value=$4, patient_id=$5, item=$6, kind=$7,
			code_system=$8, code=$9, code_display=$10, category=$11, status=$12, current=$13, effective=$14, issued=$15, clock=$16,
			hr_scope=$17, version=$18, max_version=$19, version_rank=$20, content_hash=$21, source=$22, updated_at=now(),
			seq=nextval('reports_seq') WHERE id=$1`,
			e.ID, e.Performer, e.IdentifierSystem, e.IdentifierValue, st.patientID, nullStr(e.Item), e.Kind, e.CodeSystem, e.Code,
			e.CodeDisplay, e.Category, e.Status, !Withdrawn(e.Status), e.Effective, e.Issued, e.Clock, e.HRScope, st.version,
			st.maxVersion, st.rank, e.ContentHash, e.Source)
	}
	sort.Strings(changed)
	if len(newRows) > 0 {
		sort.Slice(newRows, func(i, j int) bool { return newRows[i][0].(string) < newRows[j][0].(string) })
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"reports"}, []string{"id", "natural_key", "performer", "identifier_system",
			"identifier_value", "patient_id", "item", "kind", "code_system", "code", "code_display", "category", "status", "current",
			"effective", "issued", "clock", "hr_scope", "version", "max_version", "version_rank", "content_hash", "source"},
			pgx.CopyFromRows(newRows)); err != nil {
			return fmt.Errorf("inserting reports: %w", err)
		}
	}
	if upd.Len() > 0 {
		if err := tx.SendBatch(ctx, upd).Close(); err != nil {
			return fmt.Errorf("updating reports: %w", err)
		}
	}
	phase(9)
	if len(versions) > 0 {
		rows := make([][]any, len(versions))
		for i, v := range versions {
			e := v.e
			rows[i] = []any{e.ID, v.version, e.ContentHash, e.Status, e.Rank(), e.MetaVersionID, e.LastUpdated, e.Issued, e.Source,
				e.Pos.Topic, e.Pos.Partition, e.Pos.Offset, json.RawMessage(e.Resource)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"report_versions"}, []string{"report_id", "version", "content_hash", "status",
			"version_rank", "meta_version_id", "last_updated", "issued", "source", "kafka_topic", "kafka_partition", "kafka_offset", "resource"},
			pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("storing report versions: %w", err)
		}
	}
	phase(5)
	if err := s.writeResults(ctx, tx, states, changed); err != nil {
		return err
	}

	phase(6)
	// 6. Outbox: index events and dead letters.
	n, err := s.writeEvents(ctx, tx, changed, nil)
	if err != nil {
		return err
	}
	out.Events += n
	if len(dls) > 0 {
		rows := make([][]any, len(dls))
		for i, d := range dls {
			h := map[string]string{}
			for k, v := range d.Headers {
				h[k] = v
			}
			h["mrhub-error-code"] = d.Code
			h["mrhub-error-message"] = d.Message
			h["mrhub-error-path"] = d.Path
			h["mrhub-source-topic"] = d.Pos.Topic
			h["mrhub-source-partition"] = strconv.Itoa(d.Pos.Partition)
			h["mrhub-source-offset"] = strconv.FormatInt(d.Pos.Offset, 10)
			h["mrhub-dead-lettered-at"] = time.Now().UTC().Format(time.RFC3339)
			hj, _ := json.Marshal(h)
			key := d.Key
			if key == nil {
				key = []byte{}
			}
			rows[i] = []any{s.dlqTop, key, d.Value, json.RawMessage(hj)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"topic", "key", "value", "headers"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("writing dead letters to the outbox: %w", err)
		}
		out.DeadLetters = len(dls)
	}

	// Publishing figures, once per message whichever consumer applies it.
	if err := recordPublishing(ctx, tx, b, entries, kinds, dls); err != nil {
		return err
	}

	phase(7)
	// 7. Offsets.
	return offsets.Save(ctx, tx, b.Consumer, b.Positions)
}

func (s *Store) loadReports(ctx context.Context, tx pgx.Tx, entries []*Entry) (map[string]*reportState, error) {
	states := map[string]*reportState{}
	var ids []string
	for _, e := range entries {
		if _, ok := states[e.ID]; !ok {
			states[e.ID] = &reportState{hashes: map[string]bool{}}
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return states, nil
	}
	sort.Strings(ids)
	rows, err := tx.Query(ctx, `SELECT id, version, max_version, version_rank, patient_id FROM reports
		WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("locking reports: %w", err)
	}
	var existing []string
	for rows.Next() {
		var id string
		st := &reportState{exists: true, hashes: map[string]bool{}}
		if err := rows.Scan(&id, &st.version, &st.maxVersion, &st.rank, &st.patientID); err != nil {
			rows.Close()
			return nil, err
		}
		states[id] = st
		existing = append(existing, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("locking reports: %w", err)
	}
	if len(existing) == 0 {
		return states, nil
	}
	rows, err = tx.Query(ctx, `SELECT report_id, content_hash FROM report_versions WHERE report_id = ANY($1)`, existing)
	if err != nil {
		return nil, fmt.Errorf("loading report versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		states[id].hashes[string(h)] = true
	}
	return states, rows.Err()
}

// writeResults replaces the observations and imaging studies of every report whose current
// version changed; a withdrawn report keeps none.
func (s *Store) writeResults(ctx context.Context, tx pgx.Tx, states map[string]*reportState, changed []string) error {
	var replace []string
	var obs, img [][]any
	for _, id := range changed {
		st := states[id]
		if st.exists {
			replace = append(replace, id)
		}
		e := st.current
		if Withdrawn(e.Status) {
			continue
		}
		for i, o := range e.Observations {
			item := o.Item
			if item == "" {
				item = e.Item
			}
			eff := o.Effective
			if eff == nil {
				eff = &e.Clock
			}
			obs = append(obs, []any{id + "-" + strconv.Itoa(i+1), id, i + 1, st.patientID, nullStr(item), o.CodeSystem, o.Code,
				o.CodeDisplay, o.Status, eff, o.ValueNum, o.ValueText, o.Unit, o.RefLow, o.RefHigh, o.Interpretation, json.RawMessage(o.Resource)})
		}
		for i, m := range e.Imaging {
			img = append(img, []any{id + "-" + strconv.Itoa(i+1), id, i + 1, st.patientID, m.StudyUID, m.Accession, m.Modality, m.Started,
				json.RawMessage(m.Resource)})
		}
	}
	if len(replace) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM observations WHERE report_id = ANY($1)`, replace); err != nil {
			return fmt.Errorf("replacing observations: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM imaging_studies WHERE report_id = ANY($1)`, replace); err != nil {
			return fmt.Errorf("replacing imaging studies: %w", err)
		}
	}
	if len(obs) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{"id", "report_id", "ordinal", "patient_id", "item",
			"code_system", "code", "code_display", "status", "effective", "value_num", "value_text", "unit", "ref_low", "ref_high",
			"interpretation", "resource"}, pgx.CopyFromRows(obs)); err != nil {
			return fmt.Errorf("storing observations: %w", err)
		}
	}
	if len(img) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"imaging_studies"}, []string{"id", "report_id", "ordinal", "patient_id",
			"study_uid", "accession", "modality", "started", "resource"}, pgx.CopyFromRows(img)); err != nil {
			return fmt.Errorf("storing imaging studies: %w", err)
		}
	}
	return nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PhaseTimer is a profiling hook (MRHUB_PHASES=1 prints per-phase totals at exit); no-op otherwise.
var PhaseTimer = func() func(int) { return func(int) {} }
