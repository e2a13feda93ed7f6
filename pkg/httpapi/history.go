package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/mrhub/mrhub/pkg/index"
)

// A report's versions are every distinct content the hub received for it, numbered 1, 2, … in
// the order received (report_versions). The history lists them newest first in the report's own
// version order, the order that decides which version is current (index.CompareRank: numeric
// meta.versionId, then meta.lastUpdated, issued, status, content hash): its first entry is the
// current version, and a version that arrived late, older by that order, sits where it belongs
// (its response.lastModified is still when it was received). The last entry, the oldest, is the
// report's creation (request POST, 201 Created); the others are updates (PUT, 200 OK).
//
// Each version keeps its DiagnosticReport as received; the results
// (observations, imaging studies) are kept for the current version only. So a version is served
// as the read serves the report, except:
//   - the current version is exactly what the read returns (meta.lastUpdated = the report's last
//     change, result and imagingStudy reference the served Observations and ImagingStudies);
//   - any other version has meta.lastUpdated = when it was received, and its result and
//     imagingStudy references as scrubbed from the message it came in (reduced to their display:
//     the hub does not serve the results of versions that are not current).
//
// A withdrawal (cancelled, entered-in-error) is a version like any other: the report stays
// readable with that status, so its history shows it as an update (PUT) whose resource carries
// the status, not as a deletion.

// reportVersion is one stored version of a report, with the report it belongs to.
type reportVersion struct {
	report   *row // the report as the read serves it (its current version)
	version  int
	rank     string // index.Entry.Rank of the version
	received time.Time
	resource []byte
}

// loadVersions reads the versions of report id, newest first by rank: all of them when vid is
// 0, else that one. It answers notFound when the report, or that version of it, does not exist.
func (s *Server) loadVersions(ctx context.Context, id string, vid int) ([]reportVersion, error) {
	rows, err := s.rd(ctx).Query(ctx, `
		SELECT r.id, r.clock, r.patient_id, r.performer, r.version, r.updated_at, r.current, r.status,
		       v.version, v.version_rank, v.received_at, v.resource
		FROM reports r LEFT JOIN report_versions v ON v.report_id = r.id AND ($2 = 0 OR v.version = $2)
		WHERE r.id = $1`, id, vid)
	if err != nil {
		return nil, fmt.Errorf("reading the history of DiagnosticReport %s: %w", id, err)
	}
	defer rows.Close()
	var out []reportVersion
	found := false
	for rows.Next() {
		found = true
		rep := &row{}
		var v *int
		var rank *string
		var received *time.Time
		var res []byte
		if err := rows.Scan(&rep.ID, &rep.Sort, &rep.PatientID, &rep.Performer, &rep.Version, &rep.Updated, &rep.Current, &rep.Status,
			&v, &rank, &received, &res); err != nil {
			return nil, fmt.Errorf("reading the history of DiagnosticReport %s: %w", id, err)
		}
		if v != nil {
			out = append(out, reportVersion{report: rep, version: *v, rank: *rank, received: *received, resource: res})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the history of DiagnosticReport %s: %w", id, err)
	}
	switch {
	case !found:
		return nil, &notFound{"DiagnosticReport/" + id + " not found"}
	case len(out) == 0 && vid == 0:
		return nil, &notFound{"DiagnosticReport/" + id + " has no stored version"}
	case len(out) == 0:
		return nil, &notFound{fmt.Sprintf("DiagnosticReport/%s has no version %d", id, vid)}
	}
	sort.Slice(out, func(i, j int) bool { return index.CompareRank(out[i].rank, out[j].rank) > 0 })
	return out, nil
}

// versionResource renders one version as served.
func (s *Server) versionResource(ctx context.Context, v reportVersion) (map[string]any, error) {
	cur := *v.report
	cur.Resource = v.resource
	if v.version == v.report.Version {
		main, _, err := s.render(ctx, "DiagnosticReport", []*row{&cur}, false, false)
		if err != nil {
			return nil, err
		}
		return main[0], nil
	}
	cur.Version, cur.Updated = v.version, v.received
	m, err := s.reportBase(&cur)
	if err != nil {
		return nil, fmt.Errorf("rendering version %d of report %s: %w", v.version, cur.ID, err)
	}
	return m, nil
}

// parseVersionID reads a version id of this server: a positive decimal without leading zeros.
func parseVersionID(vid string) (int, error) {
	n, err := strconv.Atoi(vid)
	if err != nil || n < 1 || strconv.Itoa(n) != vid || n > 1<<30 {
		return 0, badf("version id %q is not a version of this server (1, 2, 3, …)", vid)
	}
	return n, nil
}

// history serves GET /fhir/DiagnosticReport/{id}/_history: a Bundle of type history with every
// version of the report, newest first, read like a read (from a replica when one is usable), and
// records a retrieval as a read does.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := interactionParams(r, "DiagnosticReport", "history")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	var vs []reportVersion
	var served []map[string]any
	err = s.reading(ctx, func(ctx context.Context) (err error) {
		if vs, err = s.loadVersions(ctx, id, 0); err != nil {
			return err
		}
		served = make([]map[string]any, len(vs))
		for i, v := range vs {
			if served[i], err = s.versionResource(ctx, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := baseURL(r)
	entries := make([]any, 0, len(vs))
	for i, v := range vs {
		m := served[i]
		g.shape(m, true)
		req := map[string]any{"method": "PUT", "url": "DiagnosticReport/" + id}
		status := "200 OK"
		if len(entries) == len(vs)-1 {
			req = map[string]any{"method": "POST", "url": "DiagnosticReport"}
			status = "201 Created"
		}
		lastModified := m["meta"].(map[string]any)["lastUpdated"]
		entries = append(entries, map[string]any{
			"fullUrl":  base + "/DiagnosticReport/" + id,
			"resource": m,
			"request":  req,
			"response": map[string]any{"status": status, "etag": `W/"` + strconv.Itoa(v.version) + `"`, "lastModified": lastModified},
		})
	}
	if err := s.recordRetrieval(ctx, r, vs[0].report, "fhir"); err != nil {
		s.fail(w, r, err)
		return
	}
	g.write(w, http.StatusOK, map[string]any{
		"resourceType": "Bundle",
		"type":         "history",
		"meta":         map[string]any{"lastUpdated": s.opt.Now().UTC().Format(time.RFC3339Nano)},
		"total":        len(entries),
		"link":         []any{map[string]any{"relation": "self", "url": base + "/DiagnosticReport/" + id + "/_history"}},
		"entry":        entries,
	})
}

// vread serves GET /fhir/DiagnosticReport/{id}/_history/{vid}: that version of the report, with
// ETag W/"vid", and records a retrieval as a read does.
func (s *Server) vread(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := interactionParams(r, "DiagnosticReport", "vread")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vid, err := parseVersionID(r.PathValue("vid"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var vs []reportVersion
	var m map[string]any
	err = s.reading(ctx, func(ctx context.Context) (err error) {
		if vs, err = s.loadVersions(ctx, r.PathValue("id"), vid); err != nil {
			return err
		}
		m, err = s.versionResource(ctx, vs[0])
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.recordRetrieval(ctx, r, vs[0].report, "fhir"); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", `W/"`+strconv.Itoa(vid)+`"`)
	g.shape(m, true)
	g.write(w, http.StatusOK, m)
}
