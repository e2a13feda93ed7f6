package db

import (
	"context"
	"sync"
)

// Read-your-writes marks
//
// After a write on the primary that someone will read back at once (a recognition decision or
// revocation, whether it came through the HTTP API or the decisions topic), the writer calls
// MarkWrite with the institutions concerned: the router notes the primary's WAL position
// (pg_current_wal_lsn(), one query) as their mark. Reads for an institution pass Mark(code) to
// Pick, so they go to a replica only once the router has observed its replay position at or past
// that mark, and to the primary until then. The check is exact (LSNs only grow), costs a map
// lookup per read and never makes a request wait. The marks live in the process: every API
// server and consumer sharing this router sees them.

// writeMarks holds, per institution, the primary's WAL position after its latest write.
type writeMarks struct {
	mu  sync.Mutex
	lsn map[string]uint64
}

// MarkWrite notes the primary's current WAL position, taken after a commit, as the mark of each
// of institutions. Without replicas it does nothing. When the position cannot be read, their
// reads go to the primary until a later write's position is known and a replica passes it.
func (r *Router) MarkWrite(ctx context.Context, institutions ...string) {
	if !r.HasReplicas() || len(institutions) == 0 {
		return
	}
	lsn, err := r.PrimaryLSN(ctx)
	if err != nil {
		lsn = ^uint64(0) // no replica can be known to have it: Pick reads from the primary
	}
	r.marks.mu.Lock()
	defer r.marks.mu.Unlock()
	if r.marks.lsn == nil {
		r.marks.lsn = map[string]uint64{}
	}
	for _, in := range institutions {
		if cur := r.marks.lsn[in]; lsn > cur || cur == ^uint64(0) {
			r.marks.lsn[in] = lsn
		}
	}
}

// Mark is institution's read-your-writes mark, the minimum replay position to pass to Pick
// (0: none).
func (r *Router) Mark(institution string) uint64 {
	if !r.HasReplicas() {
		return 0
	}
	r.marks.mu.Lock()
	defer r.marks.mu.Unlock()
	return r.marks.lsn[institution]
}
