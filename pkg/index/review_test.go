package index_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// Two patients with the same name, birth date and gender but no shared identifier open a review;
// rejecting keeps them apart, accepting merges them, moves the reports and re-emits their events.
func TestReviewAcceptMergesAndRejectKeepsApart(t *testing.T) {
	h := newHarness(t)
	pool := h.pool
	ctx := context.Background()
	same := func(id string, nid int) testenv.Report {
		return testenv.Report{Performer: testenv.HospitalA, ID: id, NID: testenv.NID(nid), Name: "王小明", Gender: "male", BirthDate: "1970-05-06"}
	}
	h.apply(testenv.HospitalA, same("A1", 901).JSON())
	h.apply(testenv.HospitalA, same("B1", 902).JSON())
	store := h.store
	open, err := store.Reviews(ctx, "open", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || len(open[0].MaskedA) != 1 || len(open[0].MaskedB) != 1 {
		t.Fatalf("open reviews = %+v, want one between two identified patients", open)
	}
	var patients int
	_ = pool.QueryRow(ctx, `SELECT count(DISTINCT patient_id) FROM reports`).Scan(&patients)
	if patients != 2 {
		t.Fatalf("patients before the decision = %d, want 2 (never merged automatically)", patients)
	}
	var outboxBefore int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outboxBefore)

	if err := store.DecideReview(ctx, open[0].ID, true, "admin-test"); err != nil {
		t.Fatal(err)
	}
	_ = pool.QueryRow(ctx, `SELECT count(DISTINCT patient_id) FROM reports`).Scan(&patients)
	if patients != 1 {
		t.Fatalf("patients after accepting = %d, want 1", patients)
	}
	var ids, outboxAfter int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM patient_identifiers i JOIN reports r ON r.patient_id = i.patient_id WHERE r.identifier_value = 'A1'`).Scan(&ids)
	if ids != 2 {
		t.Fatalf("identifiers of the merged person = %d, want 2", ids)
	}
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outboxAfter)
	if outboxAfter-outboxBefore != 2 {
		t.Fatalf("events after the merge = %d, want 2 (one per current report)", outboxAfter-outboxBefore)
	}
	if err := store.DecideReview(ctx, open[0].ID, false, "admin-test"); !errors.Is(err, index.ErrReviewClosed) {
		t.Fatalf("deciding twice: %v, want ErrReviewClosed", err)
	}

	// A second pair, rejected: stays two people.
	h.apply(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: "C1", NID: testenv.NID(903), Name: "李四", Gender: "female", BirthDate: "1980-01-01"}.JSON())
	h.apply(testenv.HospitalA, testenv.Report{Performer: testenv.HospitalA, ID: "D1", NID: testenv.NID(904), Name: "李四", Gender: "female", BirthDate: "1980-01-01"}.JSON())
	open, _ = store.Reviews(ctx, "open", 10)
	if len(open) != 1 {
		t.Fatalf("open reviews = %d, want 1", len(open))
	}
	if err := store.DecideReview(ctx, open[0].ID, false, "admin-test"); err != nil {
		t.Fatal(err)
	}
	_ = pool.QueryRow(ctx, `SELECT count(DISTINCT patient_id) FROM reports WHERE identifier_value IN ('C1','D1')`).Scan(&patients)
	if patients != 2 {
		t.Fatalf("patients after rejecting = %d, want 2", patients)
	}
}
