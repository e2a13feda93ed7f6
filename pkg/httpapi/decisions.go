package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

// mountDecisions adds the decision and statistics routes to mux.
func (s *Server) mountDecisions(mux routeMux) {
	s.dec = &decisions.Store{Pool: s.pool, Catalog: s.cat, Hasher: s.hasher, Now: s.opt.Now}
	writers := func(h http.HandlerFunc) http.Handler { return auth.Require(h, auth.RoleHIS, auth.RoleClinician) }
	mux.Handle("POST /api/v1/decisions", writers(s.postDecision))
	mux.Handle("POST /api/v1/decisions/{id}/revoke", writers(s.revokeDecision))
	mux.Handle("GET /api/v1/decisions/{id}", auth.Require(http.HandlerFunc(s.getDecision), auth.RoleHIS, auth.RoleClinician, auth.RoleAdmin))
	mux.Handle("GET /api/v1/stats/recognition", auth.Require(http.HandlerFunc(s.recognitionStats), auth.RoleBureau, auth.RoleAdmin))
}

// DecisionResponse is the body answering a decision or a revocation.
type DecisionResponse struct {
	Result   decisions.Result    `json:"result"`
	Decision *decisions.Decision `json:"decision"`
}

func (s *Server) decisionError(w http.ResponseWriter, r *http.Request, err error) {
	var e *decisions.Error
	if errors.As(err, &e) {
		telemetry.DecisionMetricsFrom(r.Context()).Decision("api", "rejected")
		auth.WriteError(w, r, e.Status, e.Code, e.Message)
		return
	}
	s.fail(w, r, err)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			auth.WriteError(w, r, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
		} else {
			auth.WriteError(w, r, http.StatusBadRequest, "bad_request", "reading the request body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

// postDecision serves POST /api/v1/decisions: 201 with the decision when new, 200 when the same
// decision was recorded before, 409 when its id carries different content.
func (s *Server) postDecision(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	ev, perr := decisions.Parse(body, decisions.TypeDecision)
	if perr != nil {
		s.decisionError(w, r, perr)
		return
	}
	d, res, err := s.dec.Submit(r.Context(), ev, p.Org, p.Role == auth.RoleHIS, "api")
	if err != nil {
		s.decisionError(w, r, err)
		return
	}
	s.markWrite(r.Context()) // read-your-writes: see reads.go
	result := string(res)
	if res == decisions.Created {
		result = d.Outcome
	}
	telemetry.DecisionMetricsFrom(r.Context()).Decision("api", result)
	status := http.StatusOK
	if res == decisions.Created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/decisions/"+d.ID)
	}
	writeJSON(w, status, "application/json; charset=utf-8", DecisionResponse{res, d})
}

// revokeDecision serves POST /api/v1/decisions/{id}/revoke with an empty body or
// {"revoked_at": RFC 3339}.
func (s *Server) revokeDecision(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	m := map[string]any{}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			s.decisionError(w, r, &decisions.Error{Code: "decision.not_json", Message: "the body must be empty or a JSON object {\"revoked_at\": …}", Status: http.StatusBadRequest})
			return
		}
	}
	id := r.PathValue("id")
	if v, ok := m["id"]; ok && v != id {
		s.decisionError(w, r, &decisions.Error{Code: "decision.invalid", Field: "id", Message: "id: the body names another decision than the path", Status: http.StatusBadRequest})
		return
	}
	m["id"], m["type"] = id, decisions.TypeRevoke
	b, _ := json.Marshal(m)
	ev, perr := decisions.Parse(b, decisions.TypeRevoke)
	if perr != nil {
		s.decisionError(w, r, perr)
		return
	}
	d, res, err := s.dec.Submit(r.Context(), ev, p.Org, p.Role == auth.RoleHIS, "api")
	if err != nil {
		s.decisionError(w, r, err)
		return
	}
	s.markWrite(r.Context()) // read-your-writes: see reads.go
	telemetry.DecisionMetricsFrom(r.Context()).Decision("api", string(res))
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", DecisionResponse{res, d})
}

// getDecision serves GET /api/v1/decisions/{id} to the deciding institution (or its medical
// community, for HIS tokens) and admins.
func (s *Server) getDecision(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	var d *decisions.Decision
	err := s.reading(r.Context(), func(ctx context.Context) (err error) {
		d, err = s.dec.GetFrom(ctx, s.rd(ctx), r.PathValue("id"))
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d != nil && p.Role != auth.RoleAdmin {
		if _, e := s.dec.Authorize(d.Institution, p.Org, p.Role == auth.RoleHIS); e != nil {
			d = nil // do not reveal other institutions' decisions
		}
	}
	if d == nil {
		auth.WriteError(w, r, http.StatusNotFound, "not_found", "no decision "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", d)
}

// recognitionStats serves GET /api/v1/stats/recognition?from=&to=&by=[&format=csv]. A bureau
// sees its district (the district its token names, or the district of the institution it
// names); an admin sees the region.
func (s *Server) recognitionStats(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	vals, asCSV, ok := s.statsParams(w, r)
	if !ok {
		return
	}
	q, err := stats.ParseQuery(vals.Get("from"), vals.Get("to"), vals["by"])
	if err != nil {
		s.fail(w, r, badf("%s", strings.TrimPrefix(err.Error(), stats.ErrInvalid.Error()+": ")))
		return
	}
	if p.Role == auth.RoleBureau {
		q.Institutions = s.districtOf(p.Org)
	}
	// Count every reminder committed before this request (they reach the rollup in folds).
	if _, err := stats.FoldReminders(r.Context(), s.pool); err != nil {
		s.fail(w, r, err)
		return
	}
	// On a replica only once it has replayed the fold (see reads.go).
	var folded uint64
	if s.reads.HasReplicas() {
		var err error
		if folded, err = s.reads.PrimaryLSN(r.Context()); err != nil {
			folded = ^uint64(0) // unknown: read from the primary
		}
	}
	var rep *stats.Report
	err = s.readingAfter(r.Context(), folded, statsReplicaWait, func(ctx context.Context) (err error) {
		rep, err = stats.Run(ctx, s.rd(ctx), s.cat, q)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="recognition_`+rep.From+`_`+rep.To+`.csv"`)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(stats.CSV(rep, s.cat))
		return
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", rep)
}

// acceptsCSV reports whether an Accept header prefers text/csv over JSON.
func acceptsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			return true
		case "application/json", "*/*":
			return false
		}
	}
	return false
}
