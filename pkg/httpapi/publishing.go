package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/stats"
)

// mountPublishing adds GET /api/v1/stats/publishing: the publishing figures, with the roles
// and the district scoping of the recognition statistics.
func (s *Server) mountPublishing(mux routeMux) {
	mux.Handle("GET /api/v1/stats/publishing", auth.Require(http.HandlerFunc(s.publishingStats), auth.RoleBureau, auth.RoleAdmin))
}

// publishingStats serves GET /api/v1/stats/publishing?from=&to=&by=[&format=csv]. A bureau
// sees the institutions of its district; an admin sees the region, and also messages whose
// publisher is missing or unknown (their institution is what the header said, or "").
func (s *Server) publishingStats(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	vals, asCSV, ok := s.statsParams(w, r)
	if !ok {
		return
	}
	q, err := stats.ParsePublishingQuery(vals.Get("from"), vals.Get("to"), vals.Get("by"))
	if err != nil {
		s.fail(w, r, badf("%s", strings.TrimPrefix(err.Error(), stats.ErrInvalid.Error()+": ")))
		return
	}
	if p.Role == auth.RoleBureau {
		q.Institutions = s.districtOf(p.Org)
	}
	var rep *stats.PublishingReport
	err = s.reading(r.Context(), func(ctx context.Context) (err error) {
		rep, err = stats.Publishing(ctx, s.rd(ctx), s.cat, q)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="publishing_`+rep.From+`_`+rep.To+`.csv"`)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(stats.PublishingCSV(rep))
		return
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", rep)
}

// districtOf lists the institutions of the district a bureau token names (a district code, or
// an institution of the district).
// statsParams reads the parameters the statistics routes share: only from, to, by and format
// are accepted; format (or, without it, the Accept header) chooses CSV. It answers 400 itself.
func (s *Server) statsParams(w http.ResponseWriter, r *http.Request) (vals url.Values, asCSV, ok bool) {
	vals = r.URL.Query()
	for k := range vals {
		switch k {
		case "from", "to", "by", "format":
		default:
			s.fail(w, r, badf("parameter %q is not supported (from, to, by, format)", k))
			return nil, false, false
		}
	}
	switch vals.Get("format") {
	case "csv":
		asCSV = true
	case "json":
	case "":
		asCSV = acceptsCSV(r.Header.Get("Accept"))
	default:
		s.fail(w, r, badf("format=%q: want json or csv", vals.Get("format")))
		return nil, false, false
	}
	return vals, asCSV, true
}

// districtOf lists the institutions of org's district (a bureau's scope).
func (s *Server) districtOf(org string) []string {
	district := org
	if in, ok := s.cat.Institution(org); ok {
		district = in.District
	}
	out := []string{}
	for _, in := range s.cat.Region().Institutions {
		if in.District == district {
			out = append(out, in.Code)
		}
	}
	return out
}
