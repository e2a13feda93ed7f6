package profile

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/fhir"
)

// RehashStats counts what Rehash did.
type RehashStats struct {
	Reports   int // current versions read
	Rehashed  int // whose hash (and stored form) changed
	Unchanged int
	Skipped   int // withdrawn reports: their results are not stored, so their hash cannot be recomputed
}

// Rehash recomputes, in the database, the content hash of every report's current version
// under the hub's content rule (ContentHash over the canonical form of the stored report,
// results and imaging studies). A database filled by a hub that hashed other bytes (the
// publisher's own serialisation, or another version of the R4 protos) then treats a resend of
// the same content, in any serialisation, as the same version, and nothing new is published or
// versioned.
//
// It works page by page, each page in its own transaction with the reports locked, so it
// may run while the hub runs. What it cannot recompute keeps its hash: older versions
// (report_versions holds their report but not their results) and withdrawn reports (their
// results are dropped). progress, if not nil, is called after each page.
func Rehash(ctx context.Context, pool *pgxpool.Pool, dec *fhir.Decoder, progress func(RehashStats)) (RehashStats, error) {
	var st RehashStats
	after := ""
	for {
		var n int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			n, after, err = rehashPage(ctx, tx, dec, after, &st)
			return err
		})
		if err != nil {
			return st, err
		}
		if progress != nil {
			progress(st)
		}
		if n == 0 {
			return st, nil
		}
	}
}

const rehashPageSize = 500

type stored struct {
	id      string
	patient int64
	version int
	hash    []byte
	report  []byte
	results [][]byte
	imaging [][]byte
}

func rehashPage(ctx context.Context, tx pgx.Tx, dec *fhir.Decoder, after string, st *RehashStats) (int, string, error) {
	rows, err := tx.Query(ctx, `SELECT r.id, r.current, r.patient_id, r.version, r.content_hash, v.resource::text
		FROM reports r JOIN report_versions v ON v.report_id = r.id AND v.version = r.version
		WHERE r.id > $1 ORDER BY r.id LIMIT $2 FOR UPDATE OF r`, after, rehashPageSize)
	if err != nil {
		return 0, after, fmt.Errorf("reading reports: %w", err)
	}
	read := 0
	var page []*stored
	byID := map[string]*stored{}
	var ids []string
	var patients []int64
	for rows.Next() {
		s := &stored{}
		var current bool
		var res string
		if err := rows.Scan(&s.id, &current, &s.patient, &s.version, &s.hash, &res); err != nil {
			rows.Close()
			return 0, after, err
		}
		s.report = []byte(res)
		after = s.id
		read++
		st.Reports++
		if !current {
			st.Skipped++
			continue
		}
		page = append(page, s)
		byID[s.id] = s
		ids = append(ids, s.id)
		patients = append(patients, s.patient)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, after, err
	}
	if len(page) == 0 {
		return read, after, nil // none left, or only withdrawn reports
	}
	for _, q := range []struct {
		sql string
		dst func(*stored) *[][]byte
	}{
		{`SELECT report_id, resource::text FROM observations WHERE report_id = ANY($1) ORDER BY report_id, ordinal`, func(s *stored) *[][]byte { return &s.results }},
		{`SELECT report_id, resource::text FROM imaging_studies WHERE report_id = ANY($1) ORDER BY report_id, ordinal`, func(s *stored) *[][]byte { return &s.imaging }},
	} {
		rows, err := tx.Query(ctx, q.sql, ids)
		if err != nil {
			return 0, after, fmt.Errorf("reading results: %w", err)
		}
		for rows.Next() {
			var id, res string
			if err := rows.Scan(&id, &res); err != nil {
				rows.Close()
				return 0, after, err
			}
			d := q.dst(byID[id])
			*d = append(*d, []byte(res))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, after, err
		}
	}
	// The keyed hashes of the resident-ID and insurance numbers of each patient, by masked form:
	// a masked form found in the stored bytes stands for the number that was masked there.
	keys := map[int64][][2][]byte{}
	rows, err = tx.Query(ctx, `SELECT patient_id, masked, value_hash FROM patient_identifiers WHERE patient_id = ANY($1) AND kind IN ('nid', 'ins')`, patients)
	if err != nil {
		return 0, after, fmt.Errorf("reading identifiers: %w", err)
	}
	for rows.Next() {
		var pid int64
		var masked string
		var h []byte
		if err := rows.Scan(&pid, &masked, &h); err != nil {
			rows.Close()
			return 0, after, err
		}
		keys[pid] = append(keys[pid], [2][]byte{[]byte(masked), h})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, after, err
	}

	for _, s := range page {
		canon := func(b []byte, what string) ([]byte, error) {
			res, err := dec.Decode(b)
			if err != nil {
				return nil, fmt.Errorf("report %s: stored %s does not decode: %w", s.id, what, err)
			}
			return fhir.Canonical(res, nil) // stored resources are masked already
		}
		rep, err := canon(s.report, "report")
		if err != nil {
			return 0, after, err
		}
		results := make([][]byte, len(s.results))
		for i, r := range s.results {
			if results[i], err = canon(r, "result"); err != nil {
				return 0, after, err
			}
		}
		imaging := make([][]byte, len(s.imaging))
		for i, r := range s.imaging {
			if imaging[i], err = canon(r, "imaging study"); err != nil {
				return 0, after, err
			}
		}
		var masked [][]byte
		for _, k := range keys[s.patient] {
			if bytes.Contains(s.report, k[0]) || anyContains(s.results, k[0]) || anyContains(s.imaging, k[0]) {
				masked = append(masked, k[1])
			}
		}
		h := ContentHash(rep, results, imaging, masked)
		if bytes.Equal(h, s.hash) {
			st.Unchanged++
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE reports SET content_hash = $2 WHERE id = $1`, s.id, h); err != nil {
			return 0, after, fmt.Errorf("report %s: %w", s.id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE report_versions SET content_hash = $3 WHERE report_id = $1 AND version = $2`, s.id, s.version, h); err != nil {
			return 0, after, fmt.Errorf("report %s version %d: %w", s.id, s.version, err)
		}
		st.Rehashed++
	}
	return read, after, nil
}

func anyContains(bs [][]byte, sub []byte) bool {
	for _, b := range bs {
		if bytes.Contains(b, sub) {
			return true
		}
	}
	return false
}
