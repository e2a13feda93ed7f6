package testenv_test

import (
	"context"
	"testing"

	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestDanglingReferencesCountsAnOrphan: the check the index tests rely on finds an observation
// whose report does not exist.
func TestDanglingReferencesCountsAnOrphan(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	if n := testenv.DanglingReferences(t, ctx, pool); n != 0 {
		t.Fatalf("empty index: %d dangling references", n)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO observations (id, report_id, ordinal, patient_id, status, resource)
		VALUES ('nosuchreport-1', 'nosuchreport', 1, 1, 'final', '{}')`); err != nil {
		t.Fatal(err)
	}
	if n := testenv.DanglingReferences(t, ctx, pool); n != 1 {
		t.Fatalf("one orphan observation: %d dangling references, want 1", n)
	}
}
