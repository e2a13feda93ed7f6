package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
)

// What another front end of the same hub (the CDS Hooks service, package cdshooks) uses of the
// server: the same patient lookup, the same "recognisable now" answer and the same reminders,
// behind the same token check and limits.

// Guard applies the server's limits and its bearer-token check (the same token cache) to h;
// requests for which public returns true need no token.
func (s *Server) Guard(public func(*http.Request) bool, h http.Handler) http.Handler {
	return s.protect(s.authn.Middleware(public, h))
}

// PatientsByIdentifier returns the live patients (after merges) holding the identifier
// system|value, reading as the recognizable route reads. An identifier system the hub does not
// know is a bad request (IsBadRequest).
func (s *Server) PatientsByIdentifier(ctx context.Context, system, value string) ([]int64, error) {
	var pids []int64
	err := s.reading(ctx, func(ctx context.Context) (err error) {
		pids, err = s.patientsByIdentifier(ctx, system+"|"+value)
		return err
	})
	return pids, err
}

// Answer is Recognize without recording reminders: the caller records the reminders of what it
// shows with Remind.
func (s *Server) Answer(ctx context.Context, p *auth.Principal, pids []int64, items []*catalog.Item) (*RecognizableResponse, error) {
	resp, _, err := s.answer(ctx, p, pids, items, true)
	return resp, err
}

// Remind records one reminder per item of items shown to p about patient pid, exactly as GET
// /api/v1/recognizable records them (same writer, committed before it returns).
func (s *Server) Remind(ctx context.Context, p *auth.Principal, pid int64, items []ItemJSON) error {
	return s.remind(ctx, p, pid, items)
}

// MarkWrite notes that p's institution has just written (a decision), so that its next reads go
// to a replica only once the replica has that write (see reads.go).
func (s *Server) MarkWrite(ctx context.Context) { s.markWrite(ctx) }

// IsBadRequest reports whether err is a client error of the server (what it says is for the
// caller to fix).
func IsBadRequest(err error) bool {
	var be *badRequest
	return errors.As(err, &be)
}
