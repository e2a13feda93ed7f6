package testenv

import (
	"context"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PatientIdentitySets returns the live (unmerged) patients of the database, each as its sorted
// identifiers (kind|issuer|hex hash, comma separated), sorted: a view of identity resolution
// that does not depend on serial ids or arrival order.
func PatientIdentitySets(t testing.TB, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT string_agg(i.kind || '|' || i.issuer || '|' || encode(i.value_hash, 'hex'), ',' ORDER BY i.kind || '|' || i.issuer || '|' || encode(i.value_hash, 'hex'))
		FROM patient_identifiers i JOIN patients p ON p.id = i.patient_id WHERE p.merged_into IS NULL GROUP BY i.patient_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// DanglingReferences counts the index rows that reference what is not there: observations,
// imaging studies and versions without their report, reports of an unknown institution or
// item. No foreign key guards these (schemas/migrations/0004_ingest_fks.sql); the store must
// never leave one, so tests that check an index expect 0.
func DanglingReferences(t testing.TB, ctx context.Context, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM observations c WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = c.report_id)) +
		(SELECT count(*) FROM imaging_studies c WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = c.report_id)) +
		(SELECT count(*) FROM report_versions c WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = c.report_id)) +
		(SELECT count(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM institutions i WHERE i.code = r.performer)
		                                   OR (r.item IS NOT NULL AND NOT EXISTS (SELECT 1 FROM items i WHERE i.code = r.item)))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
