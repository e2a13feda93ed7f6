package decisions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
)

// Result says what a write did.
type Result string

// Results.
const (
	Created        Result = "created"         // a new decision
	Duplicate      Result = "duplicate"       // the same decision again (same id, same content): nothing changed
	Revoked        Result = "revoked"         // the decision is now revoked
	AlreadyRevoked Result = "already_revoked" // it was revoked before: nothing changed
)

// Decision is a stored decision as the API shows it.
type Decision struct {
	ID           string     `json:"id"`
	Institution  string     `json:"institution"`
	Department   string     `json:"department"`
	Clinician    string     `json:"clinician"`
	Item         string     `json:"item"`
	Report       string     `json:"report"`
	Outcome      string     `json:"outcome"`
	Reason       *int       `json:"reason,omitempty"`
	Note         string     `json:"note,omitempty"`
	DecidedAt    time.Time  `json:"decided_at"`
	PriceCents   int64      `json:"price_cents"`
	CountsInRate bool       `json:"counts_in_rate"`
	SavingsCents int64      `json:"savings_cents"` // price when recognised and not revoked, else 0
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
}

// Store validates and writes decisions. It is safe for concurrent use.
type Store struct {
	Pool    *pgxpool.Pool
	Catalog *catalog.Catalog
	Hasher  *identity.Hasher
	DLQ     string           // dead-letter topic (consumer batches)
	Now     func() time.Time // default time.Now
	// FutureSkew is how far in the future decided_at may be (clock skew), default 5 minutes.
	FutureSkew time.Duration
	// ReportGrace is how long, from its publication, a decision whose report is not indexed
	// yet waits for it before it is dead-lettered as decision.unknown_report (consumer
	// batches only; 0: no wait). See ErrReportPending.
	ReportGrace time.Duration
}

// DefaultReportGrace is the hub's ReportGrace: long enough for the report consumers to catch
// up after a burst, short enough that a decision on a report that will never come holds the
// decisions behind it on its partition only briefly (each such decision holds them until it is
// this old).
const DefaultReportGrace = 30 * time.Second

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Querier is a transaction or a pool.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Authorize checks that publisher may send decisions of institution: the same institution, or,
// when community is true, a member of the same medical community (as for reports). It returns
// institution's canonical code.
func (s *Store) Authorize(institution, publisher string, community bool) (string, *Error) {
	in, ok := s.Catalog.Institution(institution)
	if !ok {
		return "", bad("decision.unknown_institution", "institution", "%q is not an institution of the region", institution)
	}
	pub, ok := s.Catalog.Institution(publisher)
	if !ok {
		return "", reject(http.StatusForbidden, "decision.not_permitted", "institution", "the sender %q is not an institution of the region", publisher)
	}
	if pub.Code == in.Code || (community && s.Catalog.SameCommunity(pub.Code, in.Code)) {
		return in.Code, nil
	}
	return "", reject(http.StatusForbidden, "decision.not_permitted", "institution",
		"%s may not record decisions of %s (the deciding institution must be the sender's own%s)", pub.Code, in.Code,
		map[bool]string{true: " or one of its medical community", false: ""}[community])
}

// Decide validates ev (a decision) inside tx and stores it. A rejection is an *Error; other
// errors are database failures.
func (s *Store) Decide(ctx context.Context, tx Querier, ev *Event, via string) (*Decision, Result, error) {
	in, ok := s.Catalog.Institution(ev.Institution)
	if !ok {
		return nil, "", bad("decision.unknown_institution", "institution", "%q is not an institution of the region", ev.Institution)
	}
	it, ok := s.Catalog.Item(ev.Item)
	if !ok {
		return nil, "", bad("decision.unknown_item", "item", "%q is not in the recognition catalogue", ev.Item)
	}
	d := &Decision{ID: ev.ID, Institution: in.Code, Department: strings.TrimSpace(ev.Department), Clinician: strings.TrimSpace(ev.Clinician),
		Item: it.Code, Report: ev.Report, Outcome: ev.Outcome, Reason: ev.Reason, Note: strings.TrimSpace(ev.Note),
		DecidedAt: ev.decidedAt, PriceCents: it.PriceCents, CountsInRate: true}
	if d.Department == "" || d.Clinician == "" {
		f := "department"
		if d.Clinician == "" {
			f = "clinician"
		}
		return nil, "", bad("decision.invalid", f, "must not be blank")
	}
	if ev.Outcome == Declined {
		r, ok := s.Catalog.Reason(*ev.Reason)
		if !ok {
			return nil, "", bad("decision.unknown_reason", "reason", "%d is not a platform decline reason (%s)", *ev.Reason, s.reasonList())
		}
		if r.NoteRequired && d.Note == "" {
			return nil, "", bad("decision.missing_note", "note", "reason %d (%s) requires a note saying why", r.Code, r.NameEn)
		}
		d.CountsInRate = r.CountsInRate
	}
	if now := s.now(); d.DecidedAt.After(now.Add(s.skew())) {
		return nil, "", bad("decision.invalid", "decided_at", "%s is in the future", ev.DecidedAt)
	}
	hash := s.Hasher.Hash("decision", "", canonical(d, ev.Patient))

	// Idempotency: the same id again is the same decision, or a conflict.
	if prev, err := s.load(ctx, tx, d.ID); err != nil {
		return nil, "", err
	} else if prev != nil {
		return s.same(prev, hash)
	}

	// The report must have been recognisable for the item, for this patient, at decided_at.
	var rep struct {
		performer, status string
		item              *string
		current           bool
		clock             time.Time
		patient           int64
	}
	err := tx.QueryRow(ctx, `SELECT performer, status, item, current, clock, patient_id FROM reports WHERE id = $1 FOR SHARE`, d.Report).
		Scan(&rep.performer, &rep.status, &rep.item, &rep.current, &rep.clock, &rep.patient)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", bad("decision.unknown_report", "report", "no report %s in the index", d.Report)
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading report %s: %w", d.Report, err)
	}
	exp := rep.clock.Add(time.Duration(it.ValidityDays) * 24 * time.Hour)
	switch {
	case rep.item == nil || *rep.item != it.Code:
		got := "an unmapped local code"
		if rep.item != nil {
			got = "item " + *rep.item
		}
		return nil, "", bad("decision.report_item_mismatch", "report", "report %s is %s, not the ordered item %s", d.Report, got, it.Code)
	case !rep.current || index.Withdrawn(rep.status):
		return nil, "", bad("decision.report_withdrawn", "report", "report %s was withdrawn (%s)", d.Report, rep.status)
	case !index.FinalStatus(rep.status):
		return nil, "", bad("decision.report_not_final", "report", "report %s is %s, not final", d.Report, rep.status)
	case d.DecidedAt.Before(rep.clock):
		return nil, "", bad("decision.report_after_decision", "report", "report %s dates from %s, after decided_at %s", d.Report,
			rep.clock.Format(time.RFC3339), ev.DecidedAt)
	case !d.DecidedAt.Before(exp):
		return nil, "", bad("decision.report_expired", "report", "report %s had expired at decided_at: its %d-day validity window for %s ended at %s",
			d.Report, it.ValidityDays, it.Code, exp.Format(time.RFC3339))
	}
	if _, ok := s.Catalog.Qualified(rep.performer, it.Code, rep.clock); !ok {
		return nil, "", bad("decision.report_not_qualified", "report", "the issuing institution %s held no HR qualification for %s on the report's date",
			rep.performer, it.Code)
	}
	pids, perr := s.eventPatients(ctx, tx, ev)
	if perr != nil {
		return nil, "", perr
	}
	live, err := livePatient(ctx, tx, rep.patient)
	if err != nil {
		return nil, "", err
	}
	if !slices.Contains(pids, live) {
		return nil, "", bad("decision.patient_mismatch", "patient", "report %s belongs to another patient than the one identified", d.Report)
	}

	tag, err := tx.Exec(ctx, `INSERT INTO decisions(id, institution, department, clinician, patient_id, item, report_id, outcome, reason, note,
		decided_at, price_cents, counts_in_rate, content_hash, via) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
		ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Institution, d.Department, d.Clinician, live, d.Item, d.Report, d.Outcome, d.Reason, d.Note,
		d.DecidedAt, d.PriceCents, d.CountsInRate, hash, via)
	if err != nil {
		return nil, "", fmt.Errorf("storing decision %s: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 { // a concurrent writer stored the same id first
		prev, err := s.load(ctx, tx, d.ID)
		if err != nil {
			return nil, "", err
		}
		if prev == nil {
			return nil, "", fmt.Errorf("decision %s vanished", d.ID)
		}
		return s.same(prev, hash)
	}
	if d.Outcome == Recognized {
		d.SavingsCents = d.PriceCents
	}
	return d, Created, nil
}

func (s *Store) same(prev *stored, hash []byte) (*Decision, Result, error) {
	if !bytes.Equal(prev.hash, hash) {
		return nil, "", reject(http.StatusConflict, "decision.conflict", "id",
			"decision %s was already recorded with different content; a decision cannot be changed: revoke it and send a new id", prev.d.ID)
	}
	return prev.d, Duplicate, nil
}

func (s *Store) skew() time.Duration {
	if s.FutureSkew > 0 {
		return s.FutureSkew
	}
	return 5 * time.Minute
}

func (s *Store) reasonList() string {
	var codes []string
	for _, r := range s.Catalog.Region().Reasons {
		codes = append(codes, strconv.Itoa(r.Code))
	}
	return strings.Join(codes, ", ")
}

// canonical is the content compared for idempotency (hashed with the identity key, since the
// patient identifier is part of it).
func canonical(d *Decision, patient string) string {
	reason := ""
	if d.Reason != nil {
		reason = strconv.Itoa(*d.Reason)
	}
	b, _ := json.Marshal([]string{d.ID, d.Institution, d.Department, d.Clinician, strings.TrimSpace(patient), d.Item, d.Report,
		d.Outcome, reason, d.Note, d.DecidedAt.UTC().Format(time.RFC3339Nano)})
	return string(b)
}

type stored struct {
	d    *Decision
	hash []byte
}

func (s *Store) load(ctx context.Context, q Querier, id string) (*stored, error) {
	d := &Decision{}
	var hash []byte
	err := q.QueryRow(ctx, `SELECT id, institution, department, clinician, item, report_id, outcome, reason, note, decided_at,
		price_cents, counts_in_rate, revoked_at, content_hash FROM decisions WHERE id = $1`, id).
		Scan(&d.ID, &d.Institution, &d.Department, &d.Clinician, &d.Item, &d.Report, &d.Outcome, &d.Reason, &d.Note, &d.DecidedAt,
			&d.PriceCents, &d.CountsInRate, &d.RevokedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading decision %s: %w", id, err)
	}
	if d.Outcome == Recognized && d.RevokedAt == nil {
		d.SavingsCents = d.PriceCents
	}
	return &stored{d: d, hash: hash}, nil
}

// Get returns decision id, or nil.
func (s *Store) Get(ctx context.Context, id string) (*Decision, error) {
	return s.GetFrom(ctx, s.Pool, id)
}

// GetFrom is Get reading through q (a read replica's pool, for instance).
func (s *Store) GetFrom(ctx context.Context, q Querier, id string) (*Decision, error) {
	st, err := s.load(ctx, q, id)
	if err != nil || st == nil {
		return nil, err
	}
	return st.d, nil
}

// Revoke revokes decision ev.ID inside tx on behalf of publisher (the deciding institution, or
// with community, a member of its medical community). Revoking a revoked decision changes nothing.
func (s *Store) Revoke(ctx context.Context, tx Querier, ev *Event, publisher string, community bool) (*Decision, Result, error) {
	st, err := s.loadForUpdate(ctx, tx, ev.ID)
	if err != nil {
		return nil, "", err
	}
	if st == nil {
		return nil, "", reject(http.StatusNotFound, "decision.unknown", "id", "no decision %s", ev.ID)
	}
	if _, rerr := s.Authorize(st.d.Institution, publisher, community); rerr != nil {
		return nil, "", reject(http.StatusForbidden, "decision.not_permitted", "id", "%s may not revoke a decision of %s", publisher, st.d.Institution)
	}
	if st.d.RevokedAt != nil {
		return st.d, AlreadyRevoked, nil
	}
	at := ev.revokedAt
	if at.IsZero() {
		at = s.now()
	}
	if at.Before(st.d.DecidedAt) {
		return nil, "", bad("decision.invalid", "revoked_at", "%s is before the decision (%s)", at.Format(time.RFC3339), st.d.DecidedAt.Format(time.RFC3339))
	}
	if _, err := tx.Exec(ctx, `UPDATE decisions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, ev.ID, at); err != nil {
		return nil, "", fmt.Errorf("revoking decision %s: %w", ev.ID, err)
	}
	st.d.RevokedAt = &at
	st.d.SavingsCents = 0
	return st.d, Revoked, nil
}

func (s *Store) loadForUpdate(ctx context.Context, q Querier, id string) (*stored, error) {
	var x string
	err := q.QueryRow(ctx, `SELECT id FROM decisions WHERE id = $1 FOR UPDATE`, id).Scan(&x)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("locking decision %s: %w", id, err)
	}
	return s.load(ctx, q, id)
}

// patients returns the live patients holding the identifier system|value.
func (s *Store) patients(ctx context.Context, q Querier, token string) ([]int64, error) {
	system, value, _ := strings.Cut(token, "|")
	kind, issuer, err := profile.LookupIdentifier(s.Catalog, system)
	if err != nil {
		return nil, bad("decision.invalid", "patient", "%s", err.Error())
	}
	rows, err := q.Query(ctx, `WITH RECURSIVE p(id) AS (
			SELECT patient_id FROM patient_identifiers WHERE kind = $1 AND issuer = $2 AND value_hash = $3
			UNION SELECT pt.merged_into FROM patients pt JOIN p ON pt.id = p.id WHERE pt.merged_into IS NOT NULL)
		SELECT p.id FROM p JOIN patients x ON x.id = p.id WHERE x.merged_into IS NULL`, kind, issuer, s.Hasher.Hash(kind, issuer, value))
	if err != nil {
		return nil, fmt.Errorf("looking up the patient identifier: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func livePatient(ctx context.Context, q Querier, id int64) (int64, error) {
	for i := 0; i < 16; i++ {
		var into *int64
		if err := q.QueryRow(ctx, `SELECT merged_into FROM patients WHERE id = $1`, id).Scan(&into); err != nil {
			return 0, fmt.Errorf("looking up patient: %w", err)
		}
		if into == nil {
			return id, nil
		}
		id = *into
	}
	return id, nil
}

// Submit validates and writes one event (decision or revocation) in its own transaction,
// retrying races with other writers. publisher is the caller's institution; community allows
// members of the deciding institution's medical community (HIS), false requires the institution
// itself (clinicians).
func (s *Store) Submit(ctx context.Context, ev *Event, publisher string, community bool, via string) (*Decision, Result, error) {
	if ev.Type != TypeRevoke {
		if _, rerr := s.Authorize(ev.Institution, publisher, community); rerr != nil {
			return nil, "", rerr
		}
	}
	for attempt := 0; ; attempt++ {
		var d *Decision
		var res Result
		err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			var err error
			if ev.Type == TypeRevoke {
				d, res, err = s.Revoke(ctx, tx, ev, publisher, community)
			} else {
				d, res, err = s.Decide(ctx, tx, ev, via)
			}
			return err
		})
		if err != nil && index.IsContention(err) && attempt < 5 {
			time.Sleep(time.Duration(5+attempt*10) * time.Millisecond)
			continue
		}
		return d, res, err
	}
}
