package profile

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ptpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

// RefileStats counts what Refile did.
type RefileStats struct {
	Versions int // stored report versions read
	// NoSubject counts versions whose stored report holds no subject identifiers: the Patient
	// was another entry of the message, which the hub does not store, so the stored data cannot
	// tell who issued its MRNs. `mrhub reindex` from the topic files them by the rule.
	NoSubject int
	Moved     int // MRN identifiers re-filed under their issuer
	Dropped   int // MRNs whose assigner is no institution of the region: no longer filed
	Linked    int // patients merged: a re-filed MRN was already another patient's
	Conflicts int // review items opened: a re-filed MRN belongs to a person with another resident ID or insurance number
	// Ambiguous counts MRNs that the old rule filed under one key for numbers of different
	// issuers (two people may share that record): left as they are; rebuilding the index into a
	// new database with `mrhub reindex` separates them.
	Ambiguous int
}

// Refile re-files the MRN identifiers that a hub filed under the performing institution
// whatever the MRN's assigner or system said (the rule before docs/rules.md "Who issued an
// identifier"). It reads the subject identifiers of every stored report version (a contained
// Patient, subject.identifier or a conditional reference: MRNs are stored as received), applies
// the rule, and moves each identifier whose issuer differs: under its key of the right issuer,
// merging the two patients when that key already named another one (as a report naming both
// would), or opening a conflict review when both have different strong identifiers. The index
// events of every patient it changes are queued again. It is idempotent and may run beside live
// hubs (each identifier is moved in its own transaction with the rows locked).
func Refile(ctx context.Context, pool *pgxpool.Pool, dec *fhir.Decoder, p *Profiler, store *index.Store, progress func(RefileStats)) (RefileStats, error) {
	var st RefileStats
	type claim struct {
		performer string
		oldHash   []byte
		targets   map[string][]byte // issuer ("" = not filed) -> hash under it
	}
	claims := map[string]*claim{}
	var order []string
	afterID, afterVer := "", 0
	for {
		rows, err := pool.Query(ctx, `SELECT v.report_id, v.version, r.performer, v.resource::text
			FROM report_versions v JOIN reports r ON r.id = v.report_id
			WHERE (v.report_id, v.version) > ($1, $2) ORDER BY v.report_id, v.version LIMIT 500`, afterID, afterVer)
		if err != nil {
			return st, fmt.Errorf("reading report versions: %w", err)
		}
		n := 0
		for rows.Next() {
			var performer, res string
			if err := rows.Scan(&afterID, &afterVer, &performer, &res); err != nil {
				rows.Close()
				return st, err
			}
			n++
			st.Versions++
			m, err := dec.Decode([]byte(res))
			if err != nil {
				rows.Close()
				return st, fmt.Errorf("report %s version %d: stored report does not decode: %w", afterID, afterVer, err)
			}
			dr, ok := m.(*drpb.DiagnosticReport)
			if !ok {
				continue
			}
			ids, resolve := storedSubject(dr)
			if len(ids) == 0 {
				st.NoSubject++
				continue
			}
			for _, id := range ids {
				value := id.GetValue().GetValue()
				if value == "" || contains(ResidentIDSystems, id.GetSystem().GetValue()) || contains(InsuranceSystems, id.GetSystem().GetValue()) || !IsMRN(p.Catalog, id) {
					continue
				}
				old := p.Hasher.Hash(identity.KindMRN, performer, value)
				k := performer + "\x00" + string(old)
				c := claims[k]
				if c == nil {
					c = &claim{performer: performer, oldHash: old, targets: map[string][]byte{}}
					claims[k] = c
					order = append(order, k)
				}
				issuer, ok := MRNIssuer(p.Catalog, id, resolve, performer)
				if !ok {
					c.targets[""] = nil
				} else if _, seen := c.targets[issuer]; !seen {
					c.targets[issuer] = p.Hasher.Hash(identity.KindMRN, issuer, value)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, err
		}
		if progress != nil {
			progress(st)
		}
		if n == 0 {
			break
		}
	}

	var pairs [][2]int64
	for _, k := range order {
		c := claims[k]
		if _, own := c.targets[c.performer]; own && len(c.targets) == 1 {
			continue // filed right
		}
		if len(c.targets) > 1 {
			st.Ambiguous++
			continue
		}
		var issuer string // the one target
		for k := range c.targets {
			issuer = k
		}
		hash := c.targets[issuer]
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var x int64
			err := tx.QueryRow(ctx, `SELECT patient_id FROM patient_identifiers WHERE kind = 'mrn' AND issuer = $1 AND value_hash = $2 FOR UPDATE`,
				c.performer, c.oldHash).Scan(&x)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // re-filed already, or never stored
			}
			if err != nil {
				return fmt.Errorf("locking identifier: %w", err)
			}
			del := func() error {
				_, err := tx.Exec(ctx, `DELETE FROM patient_identifiers WHERE kind = 'mrn' AND issuer = $1 AND value_hash = $2`, c.performer, c.oldHash)
				return err
			}
			if issuer == "" {
				if err := del(); err != nil {
					return fmt.Errorf("dropping identifier: %w", err)
				}
				st.Dropped++
			} else {
				var y int64
				err := tx.QueryRow(ctx, `SELECT patient_id FROM patient_identifiers WHERE kind = 'mrn' AND issuer = $1 AND value_hash = $2 FOR UPDATE`,
					issuer, hash).Scan(&y)
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					if _, err := tx.Exec(ctx, `UPDATE patient_identifiers SET issuer = $3, value_hash = $4
						WHERE kind = 'mrn' AND issuer = $1 AND value_hash = $2`, c.performer, c.oldHash, issuer, hash); err != nil {
						return fmt.Errorf("re-filing identifier: %w", err)
					}
				case err != nil:
					return fmt.Errorf("locking identifier: %w", err)
				default:
					if err := del(); err != nil {
						return fmt.Errorf("re-filing identifier: %w", err)
					}
					if y != x {
						pairs = append(pairs, [2]int64{x, y})
					}
				}
				st.Moved++
			}
			if _, err := tx.Exec(ctx, `UPDATE patients SET updated_at = now() WHERE id = $1`, x); err != nil {
				return err
			}
			_, err = store.PatientsChanged(ctx, tx, []int64{x})
			return err
		})
		if err != nil {
			return st, err
		}
	}

	// The same (issuer, MRN) is one person: link the patients a re-filed key brought together.
	for _, pr := range pairs {
		linked, conflict, err := link(ctx, pool, store, pr[0], pr[1])
		if err != nil {
			return st, err
		}
		if linked {
			st.Linked++
		}
		if conflict {
			st.Conflicts++
		}
	}
	if progress != nil {
		progress(st)
	}
	return st, nil
}

// link merges patients a and b (following earlier merges) through an accepted review item, as
// the MPI merges a provisional patient into a person, unless each has a resident ID or
// insurance number the other lacks: then the review item stays open as a conflict. A review
// item an operator rejected is respected.
func link(ctx context.Context, pool *pgxpool.Pool, store *index.Store, a, b int64) (linked, conflict bool, err error) {
	var id int64
	var status string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		live := func(p int64) (int64, error) {
			err := tx.QueryRow(ctx, `WITH RECURSIVE c(id, next) AS (
					SELECT id, merged_into FROM patients WHERE id = $1
					UNION ALL SELECT p.id, p.merged_into FROM patients p JOIN c ON p.id = c.next)
				SELECT id FROM c WHERE next IS NULL`, p).Scan(&p)
			return p, err
		}
		var err error
		if a, err = live(a); err != nil {
			return err
		}
		if b, err = live(b); err != nil {
			return err
		}
		if a == b {
			return nil
		}
		if a > b {
			a, b = b, a
		}
		var clash bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patient_identifiers x WHERE x.patient_id = $1 AND x.kind IN ('nid','ins'))
				AND EXISTS (SELECT 1 FROM patient_identifiers y WHERE y.patient_id = $2 AND y.kind IN ('nid','ins'))`, a, b).Scan(&clash); err != nil {
			return err
		}
		reason := "refile: same MRN of one issuer"
		if clash {
			reason = "conflict: mrn identifier belongs to another person"
		}
		if err := tx.QueryRow(ctx, `INSERT INTO identity_reviews(patient_a, patient_b, reason) VALUES ($1, $2, $3)
			ON CONFLICT (patient_a, patient_b) DO UPDATE SET reason = identity_reviews.reason
			RETURNING id, status`, a, b, reason).Scan(&id, &status); err != nil {
			return fmt.Errorf("opening identity review: %w", err)
		}
		conflict = clash && status == "open"
		return nil
	})
	if err != nil || id == 0 || conflict || status != "open" {
		return false, conflict, err
	}
	if err := store.DecideReview(ctx, id, true, "auto: MRN re-filed"); err != nil {
		return false, false, err
	}
	return true, false, nil
}

// storedSubject returns the subject identifiers a stored report holds (its contained Patient,
// subject.identifier or a conditional reference) and the resolver of their assigner references
// (Organizations contained in the report).
func storedSubject(dr *drpb.DiagnosticReport) ([]*dtpb.Identifier, OrgResolver) {
	orgs := &messageOrgs{byRef: map[string]*orgpb.Organization{}}
	containers := []proto.Message{dr}
	var ids []*dtpb.Identifier
	ref := fhir.RefString(dr.GetSubject())
	if len(ref) > 1 && ref[0] == '#' {
		for _, r := range fhir.Contained(dr) {
			if pt, ok := r.(*ptpb.Patient); ok && fhir.ID(pt) == ref[1:] {
				ids = append(ids, pt.GetIdentifier()...)
				containers = append([]proto.Message{pt}, containers...)
			}
		}
	}
	if id := dr.GetSubject().GetIdentifier(); id != nil {
		ids = append(ids, id)
	}
	if id := conditionalIdentifier(ref); id != nil {
		ids = append(ids, id)
	}
	return ids, orgs.resolver(containers...)
}
