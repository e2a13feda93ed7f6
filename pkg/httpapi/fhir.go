package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/auth"
)

func scanRow(rows pgx.Rows) (*row, time.Time, error) {
	r := &row{}
	var snap time.Time
	err := rows.Scan(&r.ID, &r.Sort, &r.PatientID, &r.Performer, &r.Version, &r.Updated, &r.Resource, &r.Current, &r.Status, &snap)
	return r, snap, err
}

// scanRowChildren is scanRow for a query that also selects the type's childCols.
func scanRowChildren(rows pgx.Rows) (*row, time.Time, error) {
	r := &row{}
	var snap time.Time
	err := rows.Scan(&r.ID, &r.Sort, &r.PatientID, &r.Performer, &r.Version, &r.Updated, &r.Resource, &r.Current, &r.Status, &snap, &r.ObsIDs, &r.ImgIDs)
	if r.ObsIDs == nil {
		r.ObsIDs = []string{}
	}
	r.HasChildIDs = true
	return r, snap, err
}

// run executes a search and returns the page of rows (in the requested order), whether there
// are more in the paging direction, and the snapshot time.
func (s *Server) run(ctx context.Context, sr *searchRequest) ([]*row, bool, time.Time, error) {
	t := sr.t
	q := sr.q
	q.where = slices.Clone(q.where)
	desc := !sr.asc
	backward := sr.page != nil && sr.page.Prev
	if backward {
		desc = !desc
	}
	if sr.page != nil {
		op := "<"
		if !desc {
			op = ">"
		}
		q.add("(" + t.sortExpr + ", " + t.idExpr + ") " + op + " (" + q.arg(sr.page.T) + ", " + q.arg(sr.page.ID) + ")")
		q.add(t.createdExpr + " <= " + q.arg(sr.page.Snap))
	}
	dir := " DESC"
	if !desc {
		dir = " ASC"
	}
	where := ""
	if len(q.where) > 0 {
		where = " WHERE " + strings.Join(q.where, " AND ")
	}
	cols, scan := t.cols+", statement_timestamp()", scanRow
	if t.childCols != "" && len(sr.includes) == 0 {
		// the children's ids in the same statement (the references of each report)
		cols, scan = cols+", "+t.childCols, scanRowChildren
	}
	sql := "SELECT " + cols + " FROM " + t.from + where +
		" ORDER BY " + t.sortExpr + dir + ", " + t.idExpr + dir + " LIMIT " + strconv.Itoa(sr.count+1)
	rows, err := s.rd(ctx).Query(ctx, sql, q.args...)
	if err != nil {
		return nil, false, time.Time{}, fmt.Errorf("searching %s: %w", t.name, err)
	}
	defer rows.Close()
	var out []*row
	var snap time.Time
	for rows.Next() {
		r, sn, err := scan(rows)
		if err != nil {
			return nil, false, time.Time{}, err
		}
		snap = sn
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, time.Time{}, fmt.Errorf("searching %s: %w", t.name, err)
	}
	more := len(out) > sr.count
	if more {
		out = out[:sr.count]
	}
	if backward {
		slices.Reverse(out)
	}
	if sr.page != nil {
		snap = sr.page.Snap
	}
	return out, more, snap, nil
}

func (s *Server) count(ctx context.Context, sr *searchRequest) (int, error) {
	where := ""
	if len(sr.q.where) > 0 {
		where = " WHERE " + strings.Join(sr.q.where, " AND ")
	}
	var n int
	err := s.rd(ctx).QueryRow(ctx, "SELECT count(*) FROM "+sr.t.from+where, sr.q.args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting %s: %w", sr.t.name, err)
	}
	return n, nil
}

// children loads the observations and imaging studies of reports, by report id in ordinal order;
// with resources only when withObs / withImg.
func (s *Server) children(ctx context.Context, ids []string, withObs, withImg bool) (obs, img map[string][]*row, err error) {
	obs, img = map[string][]*row{}, map[string][]*row{}
	if len(ids) == 0 {
		return obs, img, nil
	}
	if !withObs && !withImg {
		// Only the ids, for the report's result and imagingStudy references: one statement.
		// (A join with unnest, not = ANY($1): the latter is planned afresh on every execution.)
		rows, err := s.rd(ctx).Query(ctx, `SELECT false, o.report_id, o.id, o.ordinal FROM unnest($1::text[]) k(id) JOIN observations o ON o.report_id = k.id
			UNION ALL SELECT true, i.report_id, i.id, i.ordinal FROM unnest($1::text[]) k(id) JOIN imaging_studies i ON i.report_id = k.id ORDER BY 1, 2, 4`, ids)
		if err != nil {
			return nil, nil, fmt.Errorf("loading results: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var isImg bool
			var rid string
			var ord int
			r := &row{Current: true}
			if err := rows.Scan(&isImg, &rid, &r.ID, &ord); err != nil {
				return nil, nil, err
			}
			if isImg {
				img[rid] = append(img[rid], r)
			} else {
				obs[rid] = append(obs[rid], r)
			}
		}
		return obs, img, rows.Err()
	}
	load := func(table, alias, sortExpr string, with bool, dst map[string][]*row) error {
		res := "NULL::json"
		if with {
			res = alias + ".resource"
		}
		rows, err := s.rd(ctx).Query(ctx, `SELECT `+alias+`.report_id, `+alias+`.id, `+sortExpr+`, `+alias+`.patient_id, r.performer, r.updated_at, `+res+`, r.status
			FROM `+table+` `+alias+` JOIN reports r ON r.id = `+alias+`.report_id WHERE `+alias+`.report_id = ANY($1) ORDER BY `+alias+`.report_id, `+alias+`.ordinal`, ids)
		if err != nil {
			return fmt.Errorf("loading %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			var rid string
			r := &row{Current: true}
			if err := rows.Scan(&rid, &r.ID, &r.Sort, &r.PatientID, &r.Performer, &r.Updated, &r.Resource, &r.Status); err != nil {
				return err
			}
			dst[rid] = append(dst[rid], r)
		}
		return rows.Err()
	}
	if err := load("observations", "o", "o.effective", withObs, obs); err != nil {
		return nil, nil, err
	}
	if err := load("imaging_studies", "i", "COALESCE(i.started, r.clock)", withImg, img); err != nil {
		return nil, nil, err
	}
	return obs, img, nil
}

func ids(rs []*row) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// render turns rows of type t into served resources.
func (s *Server) render(ctx context.Context, t string, rows []*row, withObs, withImg bool) (main []map[string]any, inc []map[string]any, err error) {
	switch t {
	case "DiagnosticReport":
		known := !withObs && !withImg
		for _, r := range rows {
			known = known && r.HasChildIDs
		}
		obs, img := map[string][]*row{}, map[string][]*row{}
		if !known {
			obs, img, err = s.children(ctx, ids(rows), withObs, withImg)
			if err != nil {
				return nil, nil, err
			}
		}
		for _, r := range rows {
			obsIDs, imgIDs := ids(obs[r.ID]), ids(img[r.ID])
			if known {
				obsIDs, imgIDs = r.ObsIDs, r.ImgIDs
			}
			m, err := s.reportResource(r, obsIDs, imgIDs)
			if err != nil {
				return nil, nil, fmt.Errorf("rendering report %s: %w", r.ID, err)
			}
			main = append(main, m)
			for _, list := range [][]*row{obs[r.ID], img[r.ID]} {
				for _, c := range list {
					if c.Resource == nil {
						continue
					}
					cm, err := s.childResource(c)
					if err != nil {
						return nil, nil, err
					}
					inc = append(inc, cm)
				}
			}
		}
	case "Observation", "ImagingStudy":
		for _, r := range rows {
			m, err := s.childResource(r)
			if err != nil {
				return nil, nil, fmt.Errorf("rendering %s %s: %w", t, r.ID, err)
			}
			main = append(main, m)
		}
	case "Patient":
		pids := make([]int64, len(rows))
		for i, r := range rows {
			pids[i] = r.PatientID
		}
		ps, err := s.loadPatients(ctx, pids)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			if p := ps[r.PatientID]; p != nil {
				main = append(main, s.patientResource(p))
			}
		}
	}
	return main, inc, nil
}

func (s *Server) search(rt string) http.HandlerFunc {
	t := types[rt]
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var sr *searchRequest
		var total int
		var rows []*row
		var more bool
		var snap time.Time
		var main, inc []map[string]any
		err := s.reading(ctx, func(ctx context.Context) (err error) {
			if sr, err = s.parseSearch(ctx, t, r.URL.Query()); err != nil {
				return err
			}
			if sr.summary {
				total, err = s.count(ctx, sr)
				return err
			}
			if rows, more, snap, err = s.run(ctx, sr); err != nil {
				return err
			}
			main, inc, err = s.render(ctx, rt, rows, sr.includes["DiagnosticReport:result"], sr.includes["DiagnosticReport:imaging-study"])
			return err
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		base := baseURL(r)
		self := base + "/" + rt
		if len(sr.params) > 0 {
			self += "?" + sr.params.Encode()
		}
		bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "meta": map[string]any{"lastUpdated": s.opt.Now().UTC().Format(time.RFC3339Nano)}}
		if sr.summary {
			bundle["total"] = total
			bundle["link"] = []any{map[string]any{"relation": "self", "url": self}}
			writeFHIR(w, http.StatusOK, bundle)
			return
		}
		links := []any{map[string]any{"relation": "self", "url": self}}
		pageURL := func(c cursor) string {
			v := url.Values{}
			for k, vs := range sr.params {
				v[k] = vs
			}
			v.Set("_page", c.encode())
			return base + "/" + rt + "?" + v.Encode()
		}
		backward := sr.page != nil && sr.page.Prev
		if len(rows) > 0 {
			first, last := rows[0], rows[len(rows)-1]
			if (more && !backward) || backward {
				links = append(links, map[string]any{"relation": "next", "url": pageURL(cursor{T: last.Sort, ID: last.ID, Snap: snap})})
			}
			if sr.page != nil && (!backward || more) {
				links = append(links, map[string]any{"relation": "previous", "url": pageURL(cursor{T: first.Sort, ID: first.ID, Prev: true, Snap: snap})})
			}
		}
		bundle["link"] = links
		var entries []any
		for _, m := range main {
			entries = append(entries, map[string]any{"fullUrl": base + "/" + rt + "/" + m["id"].(string), "resource": m, "search": map[string]any{"mode": "match"}})
		}
		for _, m := range inc {
			entries = append(entries, map[string]any{"fullUrl": base + "/" + m["resourceType"].(string) + "/" + m["id"].(string), "resource": m, "search": map[string]any{"mode": "include"}})
		}
		if len(entries) > 0 {
			bundle["entry"] = entries
		}
		writeFHIR(w, http.StatusOK, bundle)
	}
}

// loadOne reads one resource row by id, whatever its status.
func (s *Server) loadOne(ctx context.Context, t *rtype, id string) (*row, error) {
	var cond string
	args := []any{id}
	switch {
	case t.name == "Patient":
		pid, err := parsePatientRef(id)
		if err != nil {
			return nil, &notFound{"Patient/" + id + " not found"}
		}
		cond, args = "p.id = $1", []any{pid}
	case t.resultOf != "":
		// The table's key is (report_id, ordinal); an id that does not have that shape names nothing.
		rep, ord, ok := parseResultID(id)
		if !ok {
			return nil, &notFound{t.name + "/" + id + " not found"}
		}
		cond, args = t.resultOf+".report_id = $1 AND "+t.resultOf+".ordinal = $2", []any{rep, ord}
	default:
		cond = t.idExpr + " = $1"
	}
	rows, err := s.rd(ctx).Query(ctx, "SELECT "+t.cols+", statement_timestamp() FROM "+t.from+" WHERE "+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t.name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, &notFound{t.name + "/" + id + " not found"}
	}
	r, _, err := scanRow(rows)
	return r, err
}

// parseResultID splits the id of an observation or imaging study, report id + "-" + ordinal
// (ordinal ≥ 1, written without leading zeros), into its parts.
func parseResultID(id string) (report string, ordinal int, ok bool) {
	i := strings.LastIndexByte(id, '-')
	digits := id[i+1:]
	if i <= 0 || digits == "" || len(digits) > 9 || digits[0] == '0' {
		return "", 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	n, _ := strconv.Atoi(digits)
	return id[:i], n, true
}

func (s *Server) read(rt string) http.HandlerFunc {
	t := types[rt]
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := onlyFormat(r, "read"); err != nil {
			s.fail(w, r, err)
			return
		}
		id := r.PathValue("id")
		var rec *row
		var main []map[string]any
		err := s.reading(ctx, func(ctx context.Context) (err error) {
			if rec, err = s.loadOne(ctx, t, id); err != nil {
				return err
			}
			main, _, err = s.render(ctx, rt, []*row{rec}, false, false)
			return err
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(main) == 0 {
			s.fail(w, r, &notFound{rt + "/" + id + " not found"})
			return
		}
		if rt == "DiagnosticReport" {
			if err := s.recordRetrieval(ctx, r, rec, "fhir"); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if meta, ok := main[0]["meta"].(map[string]any); ok {
			if v, ok := meta["versionId"].(string); ok {
				w.Header().Set("ETag", `W/"`+v+`"`)
			}
		}
		writeFHIR(w, http.StatusOK, main[0])
	}
}

// onlyFormat refuses every query parameter but _format on interaction (read, vread, history).
func onlyFormat(r *http.Request, interaction string) error {
	for k := range r.URL.Query() {
		if k != "_format" {
			return badf("parameter %q is not supported on %s", k, interaction)
		}
	}
	return nil
}

// recordRetrieval writes the 调阅 audit row for opening report row.
func (s *Server) recordRetrieval(ctx context.Context, r *http.Request, rep *row, via string) error {
	p := auth.FromContext(ctx)
	if p == nil {
		return fmt.Errorf("recording retrieval: no principal")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO retrievals(token_id, institution, patient_id, report_id, performer, remote_addr, via)
		VALUES ($1,$2,$3,$4,$5,$6,$7)`, p.TokenID, p.Org, rep.PatientID, rep.ID, rep.Performer, remoteAddr(r), via)
	if err != nil {
		return fmt.Errorf("recording retrieval: %w", err)
	}
	return nil
}

// metadata serves the CapabilityStatement, built from the same tables the search uses.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	var resources []any
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := types[n]
		var sps []any
		pnames := make([]string, 0, len(t.params))
		for k := range t.params {
			pnames = append(pnames, k)
		}
		sort.Strings(pnames)
		for _, k := range pnames {
			sps = append(sps, map[string]any{"name": k, "type": t.params[k].typ, "documentation": t.params[k].doc})
		}
		sps = append(sps, map[string]any{"name": "_count", "type": "number", "documentation": fmt.Sprintf("page size, default %d, at most %d", defaultCount, maxCount)},
			map[string]any{"name": "_summary", "type": "token", "documentation": "count only"})
		if t.sortName != "" {
			sps = append(sps, map[string]any{"name": "_sort", "type": "special", "documentation": "-" + t.sortName + " (default) or " + t.sortName})
		}
		res := map[string]any{
			"type":        n,
			"interaction": []any{map[string]any{"code": "read"}, map[string]any{"code": "search-type"}},
			"versioning":  "no-version",
			"readHistory": false, "updateCreate": false,
			"searchParam": sps,
		}
		if t.versioned {
			res["interaction"] = []any{map[string]any{"code": "read"}, map[string]any{"code": "vread"},
				map[string]any{"code": "history-instance"}, map[string]any{"code": "search-type"}}
			res["versioning"], res["readHistory"] = "versioned", true
		}
		if len(t.includes) > 0 {
			inc := make([]any, len(t.includes))
			for i, x := range t.includes {
				inc[i] = x
			}
			res["searchInclude"] = inc
		}
		resources = append(resources, res)
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-11-23",
		"publisher":    "mrhub",
		"kind":         "instance",
		"software":     map[string]any{"name": "mrhub"},
		"implementation": map[string]any{"description": "mrhub exam-result mutual recognition hub: read-only FHIR view of the report index",
			"url": baseURL(r)},
		"fhirVersion": "4.0.1",
		"format":      []any{"application/fhir+json", "json"},
		"rest": []any{map[string]any{
			"mode": "server",
			"documentation": "Read-only. Every interaction except this CapabilityStatement needs Authorization: Bearer <token> of role clinician. " +
				"Searches return current, finished reports unless status is given; paging links are stable while reports arrive. " +
				"Patient identifiers are served masked.",
			"security": map[string]any{"cors": false, "description": "Bearer tokens issued with `mrhub token create`; 401 without, 403 for roles other than clinician."},
			"resource": resources,
			"operation": []any{map[string]any{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
				"documentation": "POST /fhir/$validate, /fhir/Bundle/$validate, /fhir/DiagnosticReport/$validate (roles his, admin with source): " +
					"what the hub would do with a message before it is published, as an OperationOutcome; writes nothing"}},
		}},
	}
	writeFHIR(w, http.StatusOK, cs)
}
