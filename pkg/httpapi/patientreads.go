package httpapi

import "context"

// ReadPatient runs the database part of recognisable-now for one patient identifier
// (system|value): the identifier lookup and the one round trip that reads the patient's reports,
// observations and identifiers, decoded into the rows Recognize judges. It returns how many
// reports it read. No HTTP, JSON, judging, reminders or audit: `mrhub bench query` times it
// alone, as the floor of what recognizable can reach on a database.
func (s *Server) ReadPatient(ctx context.Context, identifier string) (int, error) {
	pids, err := s.patientsByIdentifier(ctx, identifier)
	if err != nil || len(pids) == 0 {
		return 0, err
	}
	reps, _, _, err := s.loadPatient(ctx, pids)
	return len(reps), err
}
