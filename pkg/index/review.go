package index

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Review is one probable-match or conflict item of the identity review queue.
type Review struct {
	ID                 int64
	PatientA, PatientB int64
	MaskedA, MaskedB   []string // masked identifiers, e.g. "nid 3302**********1234"
	Reason, Status     string
	CreatedAt          time.Time
	DecidedAt          *time.Time
	DecidedBy          string
}

// ErrReviewClosed is returned when deciding a review that is not open.
var ErrReviewClosed = errors.New("review is not open")

// Reviews lists review items with the given status ("" = all), oldest first.
func (s *Store) Reviews(ctx context.Context, status string, limit int) ([]Review, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.patient_a, r.patient_b, r.reason, r.status, r.created_at, r.decided_at, COALESCE(r.decided_by, ''),
		       ARRAY(SELECT i.kind || ' ' || i.masked FROM patient_identifiers i WHERE i.patient_id = r.patient_a ORDER BY 1),
		       ARRAY(SELECT i.kind || ' ' || i.masked FROM patient_identifiers i WHERE i.patient_id = r.patient_b ORDER BY 1)
		FROM identity_reviews r WHERE ($1 = '' OR r.status = $1) ORDER BY r.id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("listing reviews: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Review, error) {
		var r Review
		err := row.Scan(&r.ID, &r.PatientA, &r.PatientB, &r.Reason, &r.Status, &r.CreatedAt, &r.DecidedAt, &r.DecidedBy, &r.MaskedA, &r.MaskedB)
		return r, err
	})
}

// DecideReview closes an open review. Rejecting records the decision only. Accepting merges the
// two patients (the one with the higher id into the other): identifiers, reports, results move,
// and every current report of the surviving patient gets a fresh index event.
func (s *Store) DecideReview(ctx context.Context, id int64, accept bool, by string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var a, b int64
		var status string
		err := tx.QueryRow(ctx, `SELECT patient_a, patient_b, status FROM identity_reviews WHERE id = $1 FOR UPDATE`, id).Scan(&a, &b, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("review %d does not exist", id)
		}
		if err != nil {
			return err
		}
		if status != "open" {
			return fmt.Errorf("review %d: %w (it is %s)", id, ErrReviewClosed, status)
		}
		newStatus := "rejected"
		if accept {
			newStatus = "accepted"
			into, from, err := livePair(ctx, tx, a, b)
			if err != nil {
				return err
			}
			if into != from {
				if err := s.merge(ctx, tx, from, into); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, `UPDATE identity_reviews SET status = $2, decided_at = now(), decided_by = $3 WHERE id = $1`, id, newStatus, by)
		return err
	})
}

// livePair locks both patients and returns the survivor and the one to merge, following earlier
// merges.
func livePair(ctx context.Context, tx pgx.Tx, a, b int64) (into, from int64, err error) {
	follow := func(id int64) (int64, error) {
		for i := 0; i < 100; i++ {
			var next *int64
			if err := tx.QueryRow(ctx, `SELECT merged_into FROM patients WHERE id = $1 FOR UPDATE`, id).Scan(&next); err != nil {
				return 0, fmt.Errorf("locking patient: %w", err)
			}
			if next == nil {
				return id, nil
			}
			id = *next
		}
		return 0, errors.New("merge chain too long")
	}
	if a > b {
		a, b = b, a
	}
	if a, err = follow(a); err != nil {
		return 0, 0, err
	}
	if b, err = follow(b); err != nil {
		return 0, 0, err
	}
	if a > b {
		a, b = b, a
	}
	return a, b, nil
}

func (s *Store) merge(ctx context.Context, tx pgx.Tx, from, into int64) error {
	stmts := []string{
		`UPDATE patient_identifiers SET patient_id = $2 WHERE patient_id = $1`,
		`UPDATE patients SET provisional = provisional AND (SELECT provisional FROM patients WHERE id = $1), updated_at = now() WHERE id = $2`,
		`UPDATE patients SET merged_into = $2, updated_at = now() WHERE id = $1`,
		`UPDATE reports SET patient_id = $2, updated_at = now(), seq = nextval('reports_seq') WHERE patient_id = $1`,
		`UPDATE observations SET patient_id = $2 WHERE patient_id = $1`,
		`UPDATE imaging_studies SET patient_id = $2 WHERE patient_id = $1`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q, from, into); err != nil {
			return fmt.Errorf("merging patient: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT id FROM reports WHERE patient_id = $1 AND current ORDER BY id FOR UPDATE`, into)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	_, err = s.writeEvents(ctx, tx, nil, ids)
	return err
}

// PatientsChanged queues, inside tx, a fresh index event ("patient_merge") for every current
// report of patients, whose identifiers changed outside a batch (mrhub refile). The reports are
// locked in id order, as for every other index event.
func (s *Store) PatientsChanged(ctx context.Context, tx pgx.Tx, patients []int64) (int, error) {
	if len(patients) == 0 {
		return 0, nil
	}
	rows, err := tx.Query(ctx, `SELECT id FROM reports WHERE patient_id = ANY($1) AND current ORDER BY id FOR UPDATE`, patients)
	if err != nil {
		return 0, fmt.Errorf("locking reports of re-identified patients: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("locking reports of re-identified patients: %w", err)
	}
	return s.writeEvents(ctx, tx, nil, ids)
}
