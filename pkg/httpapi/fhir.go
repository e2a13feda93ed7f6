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
	err := rows.Scan(&r.ID, &r.Sort, &r.PatientID, &r.Performer, &r.Version, &r.Updated, &r.Resource, &r.Current, &r.Status, &r.Category, &snap)
	return r, snap, err
}

// scanRowChildren is scanRow for a query that also selects the type's childCols.
func scanRowChildren(rows pgx.Rows) (*row, time.Time, error) {
	r := &row{}
	var snap time.Time
	err := rows.Scan(&r.ID, &r.Sort, &r.PatientID, &r.Performer, &r.Version, &r.Updated, &r.Resource, &r.Current, &r.Status, &r.Category, &snap, &r.ObsIDs, &r.ImgIDs)
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
		q.add("(" + sr.sort.expr + ", " + t.idExpr + ") " + op + " (" + q.arg(sr.page.T) + ", " + q.arg(sr.page.ID) + ")")
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
	noRefs := false
	if t.childCols != "" && !sr.includes["DiagnosticReport:result"] && !sr.includes["DiagnosticReport:imaging-study"] {
		if sr.gen.keeps(t.name, "result") || sr.gen.keeps(t.name, "imagingStudy") {
			// the children's ids in the same statement (the references of each report)
			cols, scan = cols+", "+t.childCols, scanRowChildren
		} else {
			noRefs = true // _summary or _elements leave the references out: no need to look them up
		}
	}
	sql := "SELECT " + cols + " FROM " + t.from + where +
		" ORDER BY " + sr.sort.expr + dir + ", " + t.idExpr + dir + " LIMIT " + strconv.Itoa(sr.count+1)
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
		r.HasChildIDs = r.HasChildIDs || noRefs
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
	load := func(table, alias, sortExpr, catExpr string, with bool, dst map[string][]*row) error {
		res := "NULL::json"
		if with {
			res = alias + ".resource"
		}
		rows, err := s.rd(ctx).Query(ctx, `SELECT `+alias+`.report_id, `+alias+`.id, `+sortExpr+`, `+alias+`.patient_id, r.performer, r.updated_at, `+res+`, r.status, `+catExpr+`
			FROM `+table+` `+alias+` JOIN reports r ON r.id = `+alias+`.report_id WHERE `+alias+`.report_id = ANY($1) ORDER BY `+alias+`.report_id, `+alias+`.ordinal`, ids)
		if err != nil {
			return fmt.Errorf("loading %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			var rid string
			r := &row{Current: true}
			if err := rows.Scan(&rid, &r.ID, &r.Sort, &r.PatientID, &r.Performer, &r.Updated, &r.Resource, &r.Status, &r.Category); err != nil {
				return err
			}
			dst[rid] = append(dst[rid], r)
		}
		return rows.Err()
	}
	if err := load("observations", "o", "o.effective", reportCategoryExpr, withObs, obs); err != nil {
		return nil, nil, err
	}
	if err := load("imaging_studies", "i", "COALESCE(i.started, r.clock)", "''", withImg, img); err != nil {
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
		g, rest, err := generalParams(r, rt, r.URL.Query(), true)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var sr *searchRequest
		var res *searchResult
		err = s.reading(ctx, func(ctx context.Context) (err error) {
			if sr, err = s.parseSearch(ctx, t, rest, g); err != nil {
				return err
			}
			res, err = s.execute(ctx, sr)
			return err
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		g.write(w, http.StatusOK, s.searchset(r, "/"+rt, sr, res))
	}
}

// searchResult is what a search found: the page of rows and the served resources.
type searchResult struct {
	total     *int
	rows      []*row
	more      bool
	snap      time.Time
	main, inc []map[string]any
}

// execute runs a parsed search: the count (_summary=count, _total), the page, its resources
// and those _include and _revinclude add.
func (s *Server) execute(ctx context.Context, sr *searchRequest) (*searchResult, error) {
	res := &searchResult{}
	if sr.summary || sr.total {
		n, err := s.count(ctx, sr)
		if err != nil {
			return nil, err
		}
		res.total = &n
	}
	if sr.summary {
		return res, nil
	}
	var err error
	if res.rows, res.more, res.snap, err = s.run(ctx, sr); err != nil {
		return nil, err
	}
	if res.main, res.inc, err = s.render(ctx, sr.t.name, res.rows, sr.includes["DiagnosticReport:result"], sr.includes["DiagnosticReport:imaging-study"]); err != nil {
		return nil, err
	}
	for _, inc := range sr.t.includes {
		switch {
		case inc.target == "Patient" && sr.includes[inc.name]:
			ps, err := s.includePatients(ctx, res.rows)
			if err != nil {
				return nil, err
			}
			res.inc = appendNew(res.inc, ps...)
		case inc.rev && sr.includes["rev:"+inc.name]:
			reps, err := s.includeReports(ctx, res.rows)
			if err != nil {
				return nil, err
			}
			res.inc = appendNew(res.inc, reps...)
		}
	}
	return res, nil
}

// appendNew appends the resources of add that list does not hold yet (by type and id).
func appendNew(list []map[string]any, add ...map[string]any) []map[string]any {
	seen := map[string]bool{}
	for _, m := range list {
		seen[fmt.Sprint(m["resourceType"], "/", m["id"])] = true
	}
	for _, m := range add {
		k := fmt.Sprint(m["resourceType"], "/", m["id"])
		if !seen[k] {
			seen[k] = true
			list = append(list, m)
		}
	}
	return list
}

// includePatients serves the Patients rows belong to (_include=…:patient, …:subject).
func (s *Server) includePatients(ctx context.Context, rows []*row) ([]map[string]any, error) {
	var ids []int64
	seen := map[int64]bool{}
	for _, r := range rows {
		if !seen[r.PatientID] {
			seen[r.PatientID] = true
			ids = append(ids, r.PatientID)
		}
	}
	ps, err := s.loadPatients(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, id := range ids {
		if p := ps[id]; p != nil {
			out = append(out, s.patientResource(p))
		}
	}
	return out, nil
}

// includeReports serves the DiagnosticReports whose result or imagingStudy references rows
// (Observations or ImagingStudies: _revinclude=DiagnosticReport:result, …:imaging-study).
func (s *Server) includeReports(ctx context.Context, rows []*row) ([]map[string]any, error) {
	var ids []string
	seen := map[string]bool{}
	for _, r := range rows {
		if rep, _, ok := parseResultID(r.ID); ok && !seen[rep] {
			seen[rep] = true
			ids = append(ids, rep)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	dr := types["DiagnosticReport"]
	q, err := s.rd(ctx).Query(ctx, "SELECT "+dr.cols+", statement_timestamp(), "+dr.childCols+" FROM "+dr.from+" WHERE r.id = ANY($1) ORDER BY r.id", ids)
	if err != nil {
		return nil, fmt.Errorf("loading the reports of results: %w", err)
	}
	var reps []*row
	for q.Next() {
		r, _, err := scanRowChildren(q)
		if err != nil {
			q.Close()
			return nil, err
		}
		reps = append(reps, r)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("loading the reports of results: %w", err)
	}
	out, _, err := s.render(ctx, "DiagnosticReport", reps, false, false)
	return out, err
}

// searchset builds the Bundle of a search (or $everything) at path under the FHIR base: links
// (self with the applied parameters, next and previous), total, and the entries shaped by the
// general parameters.
func (s *Server) searchset(r *http.Request, path string, sr *searchRequest, res *searchResult) map[string]any {
	base := baseURL(r)
	self := base + path
	if len(sr.params) > 0 {
		self += "?" + sr.params.Encode()
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "meta": map[string]any{"lastUpdated": s.opt.Now().UTC().Format(time.RFC3339Nano)}}
	if res.total != nil {
		bundle["total"] = *res.total
	}
	links := []any{map[string]any{"relation": "self", "url": self}}
	pageURL := func(c cursor) string {
		v := url.Values{}
		for k, vs := range sr.params {
			v[k] = vs
		}
		v.Set("_page", c.encode())
		return base + path + "?" + v.Encode()
	}
	backward := sr.page != nil && sr.page.Prev
	if rows := res.rows; len(rows) > 0 {
		first, last := rows[0], rows[len(rows)-1]
		if (res.more && !backward) || backward {
			links = append(links, map[string]any{"relation": "next", "url": pageURL(cursor{T: sr.sort.of(last), ID: last.ID, Snap: res.snap})})
		}
		if sr.page != nil && (!backward || res.more) {
			links = append(links, map[string]any{"relation": "previous", "url": pageURL(cursor{T: sr.sort.of(first), ID: first.ID, Prev: true, Snap: res.snap})})
		}
	}
	bundle["link"] = links
	var entries []any
	for _, m := range res.main {
		sr.gen.shape(m, true)
		entries = append(entries, map[string]any{"fullUrl": base + "/" + m["resourceType"].(string) + "/" + m["id"].(string), "resource": m, "search": map[string]any{"mode": "match"}})
	}
	for _, m := range res.inc {
		sr.gen.shape(m, false)
		entries = append(entries, map[string]any{"fullUrl": base + "/" + m["resourceType"].(string) + "/" + m["id"].(string), "resource": m, "search": map[string]any{"mode": "include"}})
	}
	if len(entries) > 0 {
		bundle["entry"] = entries
	}
	return bundle
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
		g, rest, err := generalParams(r, rt, r.URL.Query(), false)
		if err == nil {
			err = g.leftovers(rest, "read")
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		id := r.PathValue("id")
		var rec *row
		var main []map[string]any
		err = s.reading(ctx, func(ctx context.Context) (err error) {
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
		g.shape(main[0], true)
		g.write(w, http.StatusOK, main[0])
	}
}

// interactionParams reads the general parameters of a read-like interaction (vread, history)
// on resources of type rt and refuses (strict) or drops (lenient) any other.
func interactionParams(r *http.Request, rt, interaction string) (*general, error) {
	g, rest, err := generalParams(r, rt, r.URL.Query(), false)
	if err != nil {
		return nil, err
	}
	return g, g.leftovers(rest, interaction)
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

// Parameters every resource type takes besides its own (rest.searchParam of the
// CapabilityStatement lists the general ones, each resource the search result ones).
var (
	generalParamDocs = [][3]string{
		{"_format", "token", "json, application/json, application/fhir+json or application/json+fhir; XML and other formats are answered 406"},
		{"_pretty", "token", "true: indented JSON; false (default): compact"},
		{"_summary", "token", "true (summary elements and mandatory ones), text (text, id, meta, mandatory elements), data (all but text), false (everything); count on searches: the total only. Subsetted resources are tagged SUBSETTED"},
		{"_elements", "special", "comma-separated top-level elements to serve (mandatory elements, id and meta always kept; included resources are served whole); tagged SUBSETTED"},
	}
)

// metadata serves the CapabilityStatement, built from the same tables the search uses.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	g, rest, err := generalParams(r, "", r.URL.Query(), false)
	if err == nil && !g.lenient && (g.summary != "" || g.elements != nil) {
		err = badf("_summary and _elements do not apply to the CapabilityStatement")
	}
	if err == nil {
		err = g.leftovers(rest, "metadata")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g.summary, g.elements = "", nil
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
		sps = append(sps,
			map[string]any{"name": "_count", "type": "number", "documentation": fmt.Sprintf("page size, default %d, at most %d", defaultCount, maxCount)},
			map[string]any{"name": "_sort", "type": "special", "documentation": strings.Join(t.sortNames(), ", ") + "; default " + t.defaultSort()},
			map[string]any{"name": "_total", "type": "token", "documentation": "accurate or estimate: the Bundle carries total (counted exactly); none (default): it does not"})
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
		var inc, rev []any
		for _, x := range t.includes {
			if x.rev {
				rev = append(rev, x.name)
			} else {
				inc = append(inc, x.name)
			}
		}
		if len(inc) > 0 {
			res["searchInclude"] = inc
		}
		if len(rev) > 0 {
			res["searchRevInclude"] = rev
		}
		if n == "Patient" {
			res["operation"] = []any{map[string]any{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
				"documentation": everythingDoc}}
		}
		resources = append(resources, res)
	}
	var general []any
	for _, p := range generalParamDocs {
		general = append(general, map[string]any{"name": p[0], "type": p[1], "documentation": p[2]})
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-12-04",
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
				"Searches return current, finished reports unless status is given; paging links are stable while reports arrive (with _sort=_lastUpdated, a resource that changes moves to its new place). " +
				"Patient identifiers are served masked. " +
				"Parameters, modifiers, _sort keys and _include/_revinclude values not listed here are refused with 400 (Prefer: handling=strict, the default); " +
				"with Prefer: handling=lenient they are ignored, the answer says Preference-Applied: handling=lenient, and a searchset's self link shows only the parameters applied. " +
				"A listed parameter with a value it cannot take is refused under both. " +
				"The general parameters (rest.searchParam) apply to every read, vread, history, search and $everything.",
			"security":    map[string]any{"cors": false, "description": "Bearer tokens issued with `mrhub token create`; 401 without, 403 for roles other than clinician."},
			"resource":    resources,
			"searchParam": general,
			"operation": []any{map[string]any{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
				"documentation": "POST /fhir/$validate, /fhir/Bundle/$validate, /fhir/DiagnosticReport/$validate (roles his, admin with source): " +
					"what the hub would do with a message before it is published, as an OperationOutcome; writes nothing"}},
		}},
	}
	g.write(w, http.StatusOK, cs)
}

// defaultSort is the order of a search without _sort.
func (t *rtype) defaultSort() string {
	if t.sortName == "" {
		return "the order the hub first saw the resources, newest first"
	}
	return "-" + t.sortName
}
