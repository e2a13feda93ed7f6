package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/fhir"
)

// query accumulates SQL conditions and arguments.
type query struct {
	where []string
	args  []any
	// rewrite, when set by an identifier parameter, replaces it in paging links by the patients
	// it resolved to, so that links never echo identity numbers.
	rewrite []string
}

func patientList(ids []int64) []string {
	if len(ids) == 0 {
		return []string{"p0"} // matches nothing
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "p" + strconv.FormatInt(id, 10)
	}
	return out
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) add(cond string) { q.where = append(q.where, cond) }

// addIDs adds col = $n for one id (so that the prepared statement gets a generic plan; `= ANY`
// of an array parameter is planned afresh on every execution), col = ANY($n) otherwise.
func (q *query) addIDs(col string, ids []int64) {
	if len(ids) == 1 {
		q.add(col + " = " + q.arg(ids[0]))
		return
	}
	q.add(col + " = ANY(" + q.arg(ids) + ")")
}

// param is one supported search parameter.
type param struct {
	typ   string // FHIR search parameter type
	doc   string
	apply func(ctx context.Context, s *Server, q *query, value string) error
}

// rtype describes how one resource type is searched.
type rtype struct {
	name        string
	from        string
	cols        string // id, sort time, patient id, performer, version, updated, resource, current, status
	sortExpr    string
	idExpr      string
	createdExpr string
	updatedExpr string // meta.lastUpdated as served: _lastUpdated and _sort=_lastUpdated
	sortName    string // the _sort name of sortExpr (date, started); "" = none
	childCols   string // optional: two text[] columns, the ids of the row's observations and imaging studies
	resultOf    string // for a report's results: the table alias whose key is (report_id, ordinal), id = report id + "-" + ordinal
	statusCol   string // column filtered by status; "" = no status param
	defaults    func(q *query, hasStatus bool)
	params      map[string]param
	includes    []include // _include and _revinclude values supported
	versioned   bool      // served with vread and history-instance (DiagnosticReport)
}

// include is an _include (rev false) or _revinclude (rev true) value a type supports, and the
// type of the resources it adds.
type include struct {
	name   string // e.g. DiagnosticReport:result
	rev    bool
	target string
}

// sortKey is one _sort key of a search: the SQL expression it orders by and the value of that
// expression for a row (for the paging cursor).
type sortKey struct {
	expr string
	of   func(*row) time.Time
}

// sortKeys are the _sort names a type accepts (without the leading "-").
func (t *rtype) sortKeys() map[string]sortKey {
	out := map[string]sortKey{"_lastUpdated": {t.updatedExpr, func(r *row) time.Time { return r.Updated }}}
	if t.sortName != "" {
		out[t.sortName] = sortKey{t.sortExpr, func(r *row) time.Time { return r.Sort }}
	}
	return out
}

// findInclude returns the supported _include (rev false) or _revinclude value v; v may name the
// target type as a third part (DiagnosticReport:result:Observation).
func (t *rtype) findInclude(v string, rev bool) (include, bool) {
	for _, inc := range t.includes {
		if inc.rev == rev && (v == inc.name || v == inc.name+":"+inc.target) {
			return inc, true
		}
	}
	return include{}, false
}

var finishedReport = []string{"final", "amended", "corrected", "appended"}

var reportStatuses = []string{"registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled", "entered-in-error", "unknown"}
var obsStatuses = []string{"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}

func sqlList(vals []string) string {
	return "('" + strings.Join(vals, "','") + "')"
}

// splitOr splits a comma-separated value list (FHIR OR), honouring \, escapes.
func splitOr(v string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case v[i] == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(v[i])
		}
	}
	return append(out, b.String())
}

func patientParams(col string) map[string]param {
	ref := param{typ: "reference", doc: "Patient/p<id>", apply: func(ctx context.Context, s *Server, q *query, v string) error {
		var ids []int64
		for _, x := range splitOr(v) {
			id, err := parsePatientRef(x)
			if err != nil {
				return err
			}
			if live, ok, err := s.livePatient(ctx, id); err != nil {
				return err
			} else if ok {
				ids = append(ids, live)
			}
		}
		q.addIDs(col, ids)
		return nil
	}}
	ident := param{typ: "token", doc: "patient identifier system|value (resident ID, insurance number or MRN); the value is matched by its keyed hash", apply: func(ctx context.Context, s *Server, q *query, v string) error {
		var ids []int64
		for _, x := range splitOr(v) {
			got, err := s.patientsByIdentifier(ctx, x)
			if err != nil {
				return err
			}
			ids = append(ids, got...)
		}
		q.addIDs(col, ids)
		q.rewrite = patientList(ids)
		return nil
	}}
	return map[string]param{"patient": ref, "subject": ref, "patient.identifier": ident, "subject:Patient.identifier": ident}
}

// tokenParam builds a code search on (sysCol, codeCol) that also matches the catalogue item
// (itemCol): code=JY001, code=system|code (a catalogue item's standard code matches its item).
func tokenCode(sysCol, codeCol, itemCol string) param {
	return param{typ: "token", doc: "system|code, |code, code, or a catalogue item code (e.g. JY001)", apply: func(_ context.Context, s *Server, q *query, v string) error {
		var ors []string
		for _, t := range splitOr(v) {
			sys, code, hasSys := strings.Cut(t, "|")
			if !hasSys {
				sys, code = "", t
			}
			switch {
			case code == "" && (!hasSys || sys == ""):
				return badf("code: empty token")
			case !hasSys:
				ors = append(ors, "("+codeCol+" = "+q.arg(code)+" OR "+itemCol+" = "+q.arg(code)+")")
			case code == "":
				ors = append(ors, sysCol+" = "+q.arg(sys))
			default:
				c := "(" + sysCol + " = " + q.arg(sys) + " AND " + codeCol + " = " + q.arg(code) + ")"
				if sys != "" {
					if it, ok := s.cat.MapCode("", sys, code); ok {
						c += " OR " + itemCol + " = " + q.arg(it.Code)
					}
				}
				ors = append(ors, "("+c+")")
			}
		}
		q.add("(" + strings.Join(ors, " OR ") + ")")
		return nil
	}}
}

func statusParam(col string, allowed []string) param {
	return param{typ: "token", doc: "status code(s); default: finished only", apply: func(_ context.Context, _ *Server, q *query, v string) error {
		vals := splitOr(v)
		for _, x := range vals {
			ok := false
			for _, a := range allowed {
				ok = ok || a == x
			}
			if !ok {
				return badf("status %q is not one of %s", x, strings.Join(allowed, ", "))
			}
		}
		q.add(col + " = ANY(" + q.arg(vals) + ")")
		return nil
	}}
}

func dateParam(expr string, loc func(*Server) *time.Location) param {
	return param{typ: "date", doc: "eq|ne not supported; prefixes eq, gt, ge, lt, le with a FHIR date or dateTime", apply: func(_ context.Context, s *Server, q *query, v string) error {
		if strings.Contains(v, ",") {
			return badf("date: OR lists are not supported; repeat the parameter for a range")
		}
		prefix := "eq"
		if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
			prefix, v = v[:2], v[2:]
		}
		t, prec, err := fhir.ParseDateTime(v, loc(s))
		if err != nil {
			return badf("date: %q is not a FHIR date or dateTime", v)
		}
		hi := fhir.UpperBound(t, prec)
		switch prefix {
		case "eq":
			q.add(expr + " >= " + q.arg(t) + " AND " + expr + " < " + q.arg(hi))
		case "ge":
			q.add(expr + " >= " + q.arg(t))
		case "gt":
			q.add(expr + " >= " + q.arg(hi))
		case "lt":
			q.add(expr + " < " + q.arg(t))
		case "le":
			q.add(expr + " < " + q.arg(hi))
		default:
			return badf("date: prefix %q is not supported (eq, gt, ge, lt, le)", prefix)
		}
		return nil
	}}
}

func locOf(s *Server) *time.Location { return s.opt.Location }

func merge(ms ...map[string]param) map[string]param {
	out := map[string]param{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var types = map[string]*rtype{}

func init() {
	dr := &rtype{
		name:        "DiagnosticReport",
		versioned:   true,
		from:        "reports r JOIN report_versions v ON v.report_id = r.id AND v.version = r.version",
		cols:        "r.id, r.clock, r.patient_id, r.performer, r.version, r.updated_at, v.resource, r.current, r.status, ''",
		sortExpr:    "r.clock",
		idExpr:      "r.id",
		createdExpr: "r.created_at",
		updatedExpr: "r.updated_at",
		sortName:    "date",
		childCols: "ARRAY(SELECT o.id FROM observations o WHERE o.report_id = r.id ORDER BY o.ordinal), " +
			"ARRAY(SELECT i.id FROM imaging_studies i WHERE i.report_id = r.id ORDER BY i.ordinal)",
		statusCol: "r.status",
		defaults: func(q *query, hasStatus bool) {
			if !hasStatus {
				q.add("r.current AND r.status IN " + sqlList(finishedReport))
			}
		},
		includes: []include{{"DiagnosticReport:result", false, "Observation"}, {"DiagnosticReport:imaging-study", false, "ImagingStudy"},
			{"DiagnosticReport:patient", false, "Patient"}, {"DiagnosticReport:subject", false, "Patient"}},
	}
	dr.params = merge(patientParams("r.patient_id"), map[string]param{
		"identifier": {typ: "token", doc: "the issuing institution's report number, system|value or value", apply: func(_ context.Context, _ *Server, q *query, v string) error {
			var ors []string
			for _, t := range splitOr(v) {
				sys, val, ok := strings.Cut(t, "|")
				if !ok {
					ors = append(ors, "r.identifier_value = "+q.arg(t))
				} else {
					ors = append(ors, "(r.identifier_value = "+q.arg(val)+" AND r.identifier_system = "+q.arg(sys)+")")
				}
			}
			q.add("(" + strings.Join(ors, " OR ") + ")")
			return nil
		}},
		"code":   tokenCode("r.code_system", "r.code", "r.item"),
		"date":   dateParam("r.clock", locOf),
		"status": statusParam("r.status", reportStatuses),
		"performer": {typ: "reference", doc: "issuing institution: Organization/<code> or its code (USCC or region code)", apply: func(_ context.Context, s *Server, q *query, v string) error {
			var codes []string
			for _, x := range splitOr(v) {
				x = strings.TrimPrefix(x, "Organization/")
				if _, code, ok := strings.Cut(x, "|"); ok {
					x = code
				}
				in, ok := s.cat.Institution(x)
				if !ok {
					return badf("performer %q is not an institution of the region", x)
				}
				codes = append(codes, in.Code)
			}
			q.add("r.performer = ANY(" + q.arg(codes) + ")")
			return nil
		}},
		"category": {typ: "token", doc: "report category code (LAB, RAD, …), system|code or code", apply: func(_ context.Context, _ *Server, q *query, v string) error {
			var codes []string
			for _, t := range splitOr(v) {
				if _, c, ok := strings.Cut(t, "|"); ok {
					t = c
				}
				codes = append(codes, t)
			}
			q.add("r.category = ANY(" + q.arg(codes) + ")")
			return nil
		}},
	})
	types[dr.name] = dr

	obs := &rtype{
		name:        "Observation",
		from:        "observations o JOIN reports r ON r.id = o.report_id",
		cols:        "o.id, o.effective, o.patient_id, r.performer, 0, r.updated_at, o.resource, r.current, o.status, " + reportCategoryExpr,
		sortExpr:    "o.effective",
		idExpr:      "o.id",
		resultOf:    "o",
		createdExpr: "r.created_at",
		updatedExpr: "r.updated_at",
		sortName:    "date",
		statusCol:   "o.status",
		defaults: func(q *query, hasStatus bool) {
			if !hasStatus {
				q.add("r.current AND r.status IN " + sqlList(finishedReport) + " AND o.status IN ('final','amended','corrected')")
			}
		},
		includes: []include{{"Observation:patient", false, "Patient"}, {"Observation:subject", false, "Patient"},
			{"DiagnosticReport:result", true, "DiagnosticReport"}},
	}
	obs.params = merge(patientParams("o.patient_id"), map[string]param{
		"code":     tokenCode("o.code_system", "o.code", "o.item"),
		"date":     dateParam("o.effective", locOf),
		"status":   statusParam("o.status", obsStatuses),
		"category": obsCategoryParam(),
	})
	types[obs.name] = obs

	img := &rtype{
		name:        "ImagingStudy",
		from:        "imaging_studies i JOIN reports r ON r.id = i.report_id",
		cols:        "i.id, COALESCE(i.started, r.clock), i.patient_id, r.performer, 0, r.updated_at, i.resource, r.current, r.status, ''",
		sortExpr:    "COALESCE(i.started, r.clock)",
		idExpr:      "i.id",
		resultOf:    "i",
		createdExpr: "r.created_at",
		updatedExpr: "r.updated_at",
		sortName:    "started",
		defaults: func(q *query, _ bool) {
			q.add("r.current AND r.status IN " + sqlList(finishedReport))
		},
		includes: []include{{"ImagingStudy:patient", false, "Patient"}, {"ImagingStudy:subject", false, "Patient"},
			{"DiagnosticReport:imaging-study", true, "DiagnosticReport"}},
	}
	img.params = merge(patientParams("i.patient_id"), map[string]param{
		"identifier": {typ: "token", doc: "study instance UID (urn:dicom:uid|<uid>) or accession number", apply: func(_ context.Context, _ *Server, q *query, v string) error {
			var ors []string
			for _, t := range splitOr(v) {
				_, val, ok := strings.Cut(t, "|")
				if !ok {
					val = t
				}
				val = strings.TrimPrefix(val, "urn:oid:")
				a := q.arg(val)
				ors = append(ors, "(i.study_uid = "+a+" OR i.accession = "+a+")")
			}
			q.add("(" + strings.Join(ors, " OR ") + ")")
			return nil
		}},
		"started": dateParam("COALESCE(i.started, r.clock)", locOf),
	})
	types[img.name] = img

	pt := &rtype{
		name:        "Patient",
		from:        "patients p",
		cols:        "'p' || p.id, p.created_at, p.id, '', 0, p.updated_at, NULL::json, p.merged_into IS NULL, '', ''",
		sortExpr:    "p.created_at",
		idExpr:      "('p' || p.id)",
		createdExpr: "p.created_at",
		updatedExpr: "p.updated_at",
		defaults:    func(q *query, _ bool) { q.add("p.merged_into IS NULL") },
		params: map[string]param{
			"identifier": {typ: "token", doc: "system|value (resident ID, insurance number or MRN); required unless _id is given", apply: func(ctx context.Context, s *Server, q *query, v string) error {
				var ids []int64
				for _, x := range splitOr(v) {
					got, err := s.patientsByIdentifier(ctx, x)
					if err != nil {
						return err
					}
					ids = append(ids, got...)
				}
				q.add("p.id = ANY(" + q.arg(ids) + ")")
				q.rewrite = patientList(ids)
				return nil
			}},
			"_id": {typ: "token", doc: "p<id>", apply: func(_ context.Context, _ *Server, q *query, v string) error {
				var ids []int64
				for _, x := range splitOr(v) {
					id, err := parsePatientRef(x)
					if err != nil {
						return err
					}
					ids = append(ids, id)
				}
				q.add("p.id = ANY(" + q.arg(ids) + ")")
				return nil
			}},
		},
	}
	types[pt.name] = pt

	for _, t := range types {
		t.params["_lastUpdated"] = param{typ: "date", doc: "when the hub last changed the resource (meta.lastUpdated); prefixes eq, gt, ge, lt, le; repeat for a range",
			apply: dateParam(t.updatedExpr, locOf).apply}
	}
}

// reportCategoryExpr is the Observation category of report r: laboratory for a laboratory
// report (catalogue kind lab or report category LAB), imaging for an imaging one (kind imaging or
// category RAD), else the empty string. The hub serves it on the report's Observations that carry
// no category of their own (childResource), so selecting it costs no look into the resource.
const reportCategoryExpr = "CASE WHEN r.kind = 'lab' OR r.category = 'LAB' THEN 'laboratory' " +
	"WHEN r.kind = 'imaging' OR r.category = 'RAD' THEN 'imaging' ELSE '' END"

// obsCategoryExpr is the category the hub serves on Observation o when it carries none of its
// own, the empty string when it does (for the category search).
const obsCategoryExpr = "CASE WHEN (o.resource->'category') IS NOT NULL THEN '' ELSE " + reportCategoryExpr + " END"

// obsCategorySystem is the R4 code system of Observation categories.
const obsCategorySystem = "http://terminology.hl7.org/CodeSystem/observation-category"

// obsCategoryParam searches Observation.category as served: the Observation's own categories, or
// for one that carries none, the category derived from its report (obsCategoryExpr).
func obsCategoryParam() param {
	return param{typ: "token", doc: "Observation category, system|code or code (laboratory, imaging, …); an Observation without a category of its own has its report's (laboratory for a laboratory report, imaging for an imaging one)",
		apply: func(_ context.Context, _ *Server, q *query, v string) error {
			var ors []string
			for _, t := range splitOr(v) {
				sys, code, hasSys := strings.Cut(t, "|")
				if !hasSys {
					sys, code = "", t
				}
				if code == "" {
					return badf("category: give a code (laboratory, imaging, …), got %q", t)
				}
				coding := map[string]string{"code": code}
				if sys != "" {
					coding["system"] = sys
				}
				b, _ := json.Marshal([]any{map[string]any{"coding": []any{coding}}})
				c := "((o.resource->'category') IS NOT NULL AND (o.resource->'category')::jsonb @> " + q.arg(string(b)) + "::jsonb)"
				if sys == "" || sys == obsCategorySystem {
					c += " OR (" + obsCategoryExpr + ") = " + q.arg(code)
				}
				ors = append(ors, c)
			}
			q.add("(" + strings.Join(ors, " OR ") + ")")
			return nil
		}}
}

// cursor is the opaque _page value: the keyset position and the snapshot time of the first page.
type cursor struct {
	T    time.Time `json:"t"`
	ID   string    `json:"i"`
	Prev bool      `json:"p,omitempty"`
	Snap time.Time `json:"s"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, badf("_page is not a page token from a previous response")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || c.Snap.IsZero() {
		return nil, badf("_page is not a page token from a previous response")
	}
	return &c, nil
}

// searchRequest is a parsed search.
type searchRequest struct {
	t        *rtype
	q        query
	count    int
	asc      bool
	sort     sortKey
	summary  bool            // _summary=count
	total    bool            // _total=accurate or estimate
	includes map[string]bool // "DiagnosticReport:result", and "rev:" + the name of a _revinclude
	page     *cursor
	gen      *general
	params   url.Values // the parameters applied, without _page, for links
}

const (
	defaultCount = 20
	maxCount     = 200
)

// parseSearch reads the search parameters of vals (the general parameters already taken out by
// generalParams into g). Under lenient handling, parameters it does not support are skipped and
// left out of sr.params.
func (s *Server) parseSearch(ctx context.Context, t *rtype, vals url.Values, g *general) (*searchRequest, error) {
	sr := &searchRequest{t: t, count: defaultCount, includes: map[string]bool{}, params: url.Values{}, gen: g,
		sort: sortKey{t.sortExpr, func(r *row) time.Time { return r.Sort }}, summary: g.summary == "count"}
	for k, v := range g.applied {
		sr.params[k] = v
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	unsupported := func(format string, a ...any) error {
		if g.lenient {
			return nil
		}
		return badf(format+" (send Prefer: handling=lenient to have it ignored)", a...)
	}
	hasStatus, hasPatientFilter := false, false
	for _, k := range keys {
		for _, v := range vals[k] {
			applied := true
			switch k {
			case "_count":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return nil, badf("_count must be a positive integer, got %q", v)
				}
				sr.count = min(n, maxCount)
			case "_sort":
				name, desc := strings.CutPrefix(v, "-")
				key, ok := t.sortKeys()[name]
				if !ok {
					if err := unsupported("_sort %q is not supported for %s (supported: %s)", v, t.name, strings.Join(t.sortNames(), ", ")); err != nil {
						return nil, err
					}
					applied = false
					break
				}
				sr.sort, sr.asc = key, !desc
			case "_total":
				switch v {
				case "accurate", "estimate":
					sr.total = true
				case "none":
					sr.total = false
				default:
					return nil, badf("_total must be none, estimate or accurate, got %q", v)
				}
			case "_include", "_revinclude":
				inc, ok := t.findInclude(v, k == "_revinclude")
				if !ok {
					if err := unsupported("%s=%s is not supported for %s: see searchInclude and searchRevInclude in /fhir/metadata", k, v, t.name); err != nil {
						return nil, err
					}
					applied = false
					break
				}
				if inc.rev {
					sr.includes["rev:"+inc.name] = true
				} else {
					sr.includes[inc.name] = true
				}
			case "_page":
				c, err := decodeCursor(v)
				if err != nil {
					return nil, err
				}
				sr.page = c
				applied = false
			default:
				p, ok := t.params[k]
				if !ok {
					if err := unsupported("search parameter %q is not supported for %s: see /fhir/metadata", k, t.name); err != nil {
						return nil, err
					}
					applied = false
					break
				}
				if v == "" {
					if g.lenient {
						applied = false
						break
					}
					return nil, badf("search parameter %q has an empty value", k)
				}
				sr.q.rewrite = nil
				if err := p.apply(ctx, s, &sr.q, v); err != nil {
					return nil, err
				}
				if sr.q.rewrite != nil {
					// never echo an identity number: link by the resolved patients instead
					name := "patient"
					if t.name == "Patient" {
						name = "_id"
					}
					sr.params[name] = append(sr.params[name], strings.Join(sr.q.rewrite, ","))
					applied = false
				}
				if k == "status" {
					hasStatus = true
				}
				if k == "identifier" || k == "_id" {
					hasPatientFilter = true
				}
			}
			if applied {
				sr.params[k] = append(sr.params[k], v)
			}
		}
	}
	if t.name == "Patient" && !hasPatientFilter {
		return nil, badf("Patient search needs identifier=system|value or _id")
	}
	if t.defaults != nil {
		t.defaults(&sr.q, hasStatus)
	}
	return sr, nil
}

// sortNames lists the _sort values a type accepts.
func (t *rtype) sortNames() []string {
	var out []string
	for name := range t.sortKeys() {
		out = append(out, "-"+name, name)
	}
	sort.Strings(out)
	return out
}
