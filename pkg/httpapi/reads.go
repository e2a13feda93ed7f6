package httpapi

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/auth"
)

// Reads and replicas
//
// The HTTP read paths (FHIR read and search, recognizable with its interpretation, reports,
// decisions, statistics) run their queries through s.rd(ctx) inside s.reading, which picks the
// pool once per read section: a healthy read replica (see db.Router) or the primary. Every write
// (reminders, retrieval audit, decisions, tokens) uses s.pool, the primary. A read section that
// fails because its replica failed (connection lost, replica shutting down, recovery conflict)
// marks the replica down and runs again on the primary, so a replica going away costs its
// in-flight requests one retry, not an error.
//
// Read-your-writes: after this process records or revokes a decision (through the API, or the
// decisions consumer sharing the router), the router notes the primary's WAL position for the
// institutions concerned (db.Router.MarkWrite); their reads go to a replica only once it has
// replayed that position (see pkg/db/marks.go). Within one hub process this holds for every
// token of the institution; behind a load balancer spreading one clinician's requests over
// several hub processes, route an institution to one process (or use no replicas) where this
// matters.
// Statistics fold the reminders on the primary first and then wait up to statsReplicaWait for a
// replica to replay that fold, else read from the primary, so they count every reminder
// committed before the request on either.

type readPoolKey struct{}

// statsReplicaWait bounds how long a statistics request waits for a replica to replay its fold.
const statsReplicaWait = 200 * time.Millisecond

// rd is the pool reads of ctx use: the one s.reading chose, else the primary.
func (s *Server) rd(ctx context.Context) *pgxpool.Pool {
	if p, ok := ctx.Value(readPoolKey{}).(*pgxpool.Pool); ok {
		return p
	}
	return s.pool
}

// reading runs fn, whose queries use s.rd(ctx), on a replica that has every write the
// requesting institution made through this process, else on the primary; see the section
// comment above.
func (s *Server) reading(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.readingAfter(ctx, s.markOf(ctx), 0, fn)
}

// readingAfter is reading with an explicit minimum replay position and how long to wait for a
// replica to reach it.
func (s *Server) readingAfter(ctx context.Context, minLSN uint64, wait time.Duration, fn func(ctx context.Context) error) error {
	if !s.reads.HasReplicas() {
		return fn(ctx)
	}
	pool, rep := s.reads.Pick(ctx, minLSN, wait)
	err := fn(context.WithValue(ctx, readPoolKey{}, pool))
	if err != nil && s.reads.Failed(rep, err) {
		err = fn(context.WithValue(ctx, readPoolKey{}, s.pool))
	}
	return err
}

// markWrite notes the primary's WAL position after a write by the requesting institution (call
// after the commit). Without replicas it does nothing.
func (s *Server) markWrite(ctx context.Context) {
	if p := auth.FromContext(ctx); p != nil {
		s.reads.MarkWrite(ctx, p.Org)
	}
}

func (s *Server) markOf(ctx context.Context) uint64 {
	if p := auth.FromContext(ctx); p != nil {
		return s.reads.Mark(p.Org)
	}
	return 0
}
