package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/fhir"
)

// everythingDoc describes Patient/{id}/$everything in the CapabilityStatement and is what
// docs/reference.md says of it.
const everythingDoc = "The patient (merges followed: the surviving patient too) with its current, finished DiagnosticReports, " +
	"their Observations and ImagingStudies, in a searchset paged by report, newest first: _count reports a page (default 20, at most 200). " +
	"start and end bound the reports' clinical date, _since their lastUpdated; _type limits the types served " +
	"(Patient, DiagnosticReport, Observation, ImagingStudy). Like a search, it records no retrieval."

// everythingTypes are the resource types $everything serves.
var everythingTypes = []string{"Patient", "DiagnosticReport", "Observation", "ImagingStudy"}

// everything serves GET /fhir/Patient/{id}/$everything: the hub's own resources of a patient,
// paged by report (keyset paging as in searches, so pages stay stable while reports arrive).
func (s *Server) everything(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, rest, err := generalParams(r, "", r.URL.Query(), false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	pid, err := parsePatientRef(id)
	if err != nil || !strings.HasPrefix(id, "p") {
		s.fail(w, r, &notFound{"Patient/" + id + " not found"})
		return
	}
	var sr *searchRequest
	var res *searchResult
	err = s.reading(ctx, func(ctx context.Context) error {
		live, ok, err := s.livePatient(ctx, pid)
		if err != nil {
			return err
		}
		if !ok {
			return &notFound{"Patient/" + id + " not found"}
		}
		var want map[string]bool
		if sr, want, err = s.parseEverything(rest, g, live); err != nil {
			return err
		}
		res, err = s.runEverything(ctx, sr, want, pid, live)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g.write(w, http.StatusOK, s.searchset(r, "/Patient/"+id+"/$everything", sr, res))
}

// parseEverything reads the parameters of $everything into a search of the patient's reports
// and the set of types to serve.
func (s *Server) parseEverything(vals url.Values, g *general, live int64) (*searchRequest, map[string]bool, error) {
	t := types["DiagnosticReport"]
	sr := &searchRequest{t: t, count: defaultCount, includes: map[string]bool{}, params: url.Values{}, gen: g,
		sort: sortKey{t.sortExpr, func(r *row) time.Time { return r.Sort }}}
	for k, v := range g.applied {
		sr.params[k] = v
	}
	sr.q.addIDs("r.patient_id", []int64{live})
	want := map[string]bool{}
	for _, x := range everythingTypes {
		want[x] = true
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range vals[k] {
			applied := true
			switch k {
			case "_count":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return nil, nil, badf("_count must be a positive integer, got %q", v)
				}
				sr.count = min(n, maxCount)
			case "start", "end", "_since":
				t, prec, err := fhir.ParseDateTime(v, s.opt.Location)
				if err != nil {
					return nil, nil, badf("%s: %q is not a FHIR date or dateTime", k, v)
				}
				switch k {
				case "start":
					sr.q.add("r.clock >= " + sr.q.arg(t))
				case "end":
					sr.q.add("r.clock < " + sr.q.arg(fhir.UpperBound(t, prec)))
				default:
					sr.q.add("r.updated_at >= " + sr.q.arg(t))
				}
			case "_type":
				want = map[string]bool{}
				var kept []string
				for _, x := range strings.Split(v, ",") {
					known := false
					for _, e := range everythingTypes {
						known = known || e == x
					}
					if !known {
						if g.lenient {
							continue
						}
						return nil, nil, badf("_type: %q is not one of %s", x, strings.Join(everythingTypes, ", "))
					}
					want[x] = true
					kept = append(kept, x)
				}
				applied = false
				sr.params[k] = append(sr.params[k], strings.Join(kept, ","))
			case "_page":
				c, err := decodeCursor(v)
				if err != nil {
					return nil, nil, err
				}
				sr.page = c
				applied = false
			default:
				if !g.lenient {
					return nil, nil, badf("parameter %q is not supported on $everything (start, end, _since, _type, _count): see /fhir/metadata", k)
				}
				applied = false
			}
			if applied {
				sr.params[k] = append(sr.params[k], v)
			}
		}
	}
	t.defaults(&sr.q, false)
	sr.includes["DiagnosticReport:result"] = want["Observation"]
	sr.includes["DiagnosticReport:imaging-study"] = want["ImagingStudy"]
	return sr, want, nil
}

// runEverything reads one page of $everything: the patient (first page only), the page's
// reports and their results, each kept when its type is wanted.
func (s *Server) runEverything(ctx context.Context, sr *searchRequest, want map[string]bool, asked, live int64) (*searchResult, error) {
	res := &searchResult{}
	var err error
	if res.rows, res.more, res.snap, err = s.run(ctx, sr); err != nil {
		return nil, err
	}
	reports, results, err := s.render(ctx, "DiagnosticReport", res.rows, want["Observation"], want["ImagingStudy"])
	if err != nil {
		return nil, err
	}
	if want["Patient"] && sr.page == nil {
		ids := []int64{live}
		if asked != live {
			ids = append(ids, asked)
		}
		ps, err := s.loadPatients(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if p := ps[id]; p != nil {
				res.main = append(res.main, s.patientResource(p))
			}
		}
	}
	if want["DiagnosticReport"] {
		res.main = append(res.main, reports...)
	}
	res.main = append(res.main, results...)
	return res, nil
}
