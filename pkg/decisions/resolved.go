package decisions

import (
	"context"
	"strconv"
	"time"
)

// NewDecision builds a decision event for a caller that has already identified the patient by
// the hub's own patient id (the CDS Hooks feedback, which knows the card it answers, not the
// patient's identifiers). It is checked and stored by Decide and Submit like a parsed one; its
// patient, in the idempotency content, is "Patient/p<id>". reason is nil for a recognition.
func NewDecision(id, institution, department, clinician string, patientID int64, item, report, outcome string, reason *int, note string, decidedAt time.Time) *Event {
	return &Event{Type: TypeDecision, ID: id, Institution: institution, Department: department, Clinician: clinician,
		Patient: "Patient/p" + strconv.FormatInt(patientID, 10), Item: item, Report: report, Outcome: outcome, Reason: reason,
		Note: note, DecidedAt: decidedAt.Format(time.RFC3339Nano), decidedAt: decidedAt, patientID: patientID}
}

// eventPatients returns the live patients ev names: its patient id when built by NewDecision,
// else the holders of its identifier.
func (s *Store) eventPatients(ctx context.Context, q Querier, ev *Event) ([]int64, error) {
	if ev.patientID != 0 {
		live, err := livePatient(ctx, q, ev.patientID)
		if err != nil {
			return nil, err
		}
		return []int64{live}, nil
	}
	return s.patients(ctx, q, ev.Patient)
}
