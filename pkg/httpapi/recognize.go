package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/index"
)

// Reasons a result is not recognisable.
const (
	ReasonWithdrawn    = "withdrawn"
	ReasonPreliminary  = "preliminary"
	ReasonExpired      = "expired"
	ReasonNotQualified = "not_qualified"
	ReasonOutOfScope   = "out_of_scope"
	ReasonUnmapped     = "unmapped"
	ReasonNoResult     = "no_result"
)

// Views of GET /api/v1/recognizable (parameter view).
//
// ViewSummary, the default, answers what the clinician decides on: per item the verdict, the
// recognisable result (or the newest one, with its reason) with its observations, values and
// abnormal flags, and history_count, how many other results the item has. ViewFull adds
// "history" (every other result of the item, judged) and each observation's "trend" (the
// patient's earlier values of the same code); its body is exactly RecognizableResponse, the
// shape every client got before views existed, so a client that reads history or trend asks for
// view=full. Both views read the same rows and record the same reminders.
const (
	ViewSummary = "summary"
	ViewFull    = "full"
)

// RecognizableResponse is the body of GET /api/v1/recognizable?view=full.
type RecognizableResponse struct {
	At        time.Time    `json:"at"`
	Requester InstJSON     `json:"requester"`
	Patient   *PatientJSON `json:"patient"`
	Items     []ItemJSON   `json:"items"`
	Unmapped  []ResultJSON `json:"unmapped,omitempty"` // reports whose local code maps to no catalogue item (never recognisable)
}

// PatientJSON names the patient, masked.
type PatientJSON struct {
	ID          string   `json:"id"` // p<id>, as in FHIR
	Identifiers []string `json:"identifiers"`
}

// ItemJSON is the answer for one catalogue item (view=full).
type ItemJSON struct {
	ItemVerdict
	History []ResultJSON `json:"history"` // every other result of the item, newest first
}

// ItemVerdict is what both views answer for one catalogue item.
type ItemVerdict struct {
	Item         string      `json:"item"`
	Name         string      `json:"name"`
	NameEn       string      `json:"name_en,omitempty"`
	Kind         string      `json:"kind"`
	ValidityDays int         `json:"validity_days"`
	PriceCents   int64       `json:"price_cents"`
	Recognizable bool        `json:"recognizable"`
	Reason       string      `json:"reason,omitempty"` // why not, when not recognizable
	ReasonText   string      `json:"reason_text,omitempty"`
	Result       *ResultJSON `json:"result"`           // the recognisable result, or null
	Latest       *ResultJSON `json:"latest,omitempty"` // when nothing is recognisable: the newest result, with its reason
}

// ResultJSON is one report of the item.
type ResultJSON struct {
	ReportID     string           `json:"report_id"`
	Status       string           `json:"status"`
	Date         time.Time        `json:"date"` // effective, else issued: the validity clock
	Effective    *time.Time       `json:"effective,omitempty"`
	Issued       *time.Time       `json:"issued,omitempty"`
	ExpiresAt    *time.Time       `json:"expires_at,omitempty"`
	HRScope      string           `json:"hr_scope,omitempty"` // scope of the issuing institution's qualification on the date
	HRMark       string           `json:"hr_mark,omitempty"`  // the HR mark the report itself carries
	Institution  InstJSON         `json:"institution"`
	Code         CodeJSON         `json:"code"`
	Recognizable bool             `json:"recognizable"`
	Reason       string           `json:"reason,omitempty"`
	ReasonText   string           `json:"reason_text,omitempty"`
	Observations []Interpretation `json:"observations,omitempty"`
}

// recognizableSummary is the body of GET /api/v1/recognizable (view=summary).
type recognizableSummary struct {
	View      string        `json:"view"`
	At        time.Time     `json:"at"`
	Requester InstJSON      `json:"requester"`
	Patient   *PatientJSON  `json:"patient"`
	Items     []itemSummary `json:"items"`
	Unmapped  []ResultJSON  `json:"unmapped,omitempty"`
}

// itemSummary is ItemJSON without the history, with its length.
type itemSummary struct {
	ItemVerdict
	HistoryCount int `json:"history_count"` // other results of the item (view=full lists them)
}

// summary is resp in the summary view (resp built with full = false: no trends, history kept
// only as its length).
func summary(resp *RecognizableResponse, historyCount []int) *recognizableSummary {
	out := &recognizableSummary{View: ViewSummary, At: resp.At, Requester: resp.Requester, Patient: resp.Patient,
		Items: make([]itemSummary, len(resp.Items)), Unmapped: resp.Unmapped}
	for i, it := range resp.Items {
		out.Items[i] = itemSummary{ItemVerdict: it.ItemVerdict, HistoryCount: historyCount[i]}
	}
	return out
}

type repRow struct {
	ID                            string
	Item                          *string
	Status                        string
	Current                       bool
	Clock                         time.Time
	Effective, Issued             *time.Time
	Performer, HRMark             string
	CodeSystem, Code, CodeDisplay string
}

// judge decides whether rep is recognisable now for item by requester.
func (s *Server) judge(rep *repRow, it *catalog.Item, now time.Time, requester string) ResultJSON {
	res := ResultJSON{ReportID: rep.ID, Status: rep.Status, Date: rep.Clock, Effective: rep.Effective, Issued: rep.Issued,
		HRMark: rep.HRMark, Institution: s.inst(rep.Performer), Code: CodeJSON{rep.CodeSystem, rep.Code, rep.CodeDisplay}}
	if it == nil {
		res.Reason, res.ReasonText = ReasonUnmapped, "the issuing institution's code is not mapped to a catalogue item"
		return res
	}
	exp := rep.Clock.Add(time.Duration(it.ValidityDays) * 24 * time.Hour)
	res.ExpiresAt = &exp
	q, qualified := s.cat.Qualified(rep.Performer, it.Code, rep.Clock)
	if qualified {
		res.HRScope = q.Scope
	}
	_, known := s.cat.Institution(requester)
	day := rep.Clock.In(s.opt.Location).Format("2006-01-02")
	switch {
	case !rep.Current || index.Withdrawn(rep.Status):
		res.Reason, res.ReasonText = ReasonWithdrawn, "the report was withdrawn ("+rep.Status+")"
	case !index.FinalStatus(rep.Status):
		res.Reason, res.ReasonText = ReasonPreliminary, "the report is "+rep.Status+", not final"
	case !now.Before(exp):
		res.Reason, res.ReasonText = ReasonExpired, fmt.Sprintf("the %d-day validity window ended at %s", it.ValidityDays, exp.In(s.opt.Location).Format(time.RFC3339))
	case !qualified:
		res.Reason, res.ReasonText = ReasonNotQualified, fmt.Sprintf("%s held no HR qualification for %s on %s", res.Institution.Name, it.Code, day)
	case !known:
		// Region, province and national scopes all cover requesters of this region; a requester
		// outside the region's catalogue is not covered.
		res.Reason, res.ReasonText = ReasonOutOfScope, "the requesting institution is not part of the region"
	default:
		res.Recognizable = true
	}
	return res
}

func (s *Server) recognizable(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	vals := r.URL.Query()
	for k := range vals {
		if k != "patient" && k != "item" && k != "view" {
			s.fail(w, r, badf("parameter %q is not supported (patient, item, view)", k))
			return
		}
	}
	full := false
	switch v := vals["view"]; {
	case len(v) == 0 || len(v) == 1 && v[0] == ViewSummary:
	case len(v) == 1 && v[0] == ViewFull:
		full = true
	default:
		s.fail(w, r, badf("view must be given at most once, as %s (the default: verdicts, results and values) or %s (also history and trends)", ViewSummary, ViewFull))
		return
	}
	pv := vals.Get("patient")
	if pv == "" || len(vals["patient"]) > 1 {
		s.fail(w, r, badf("patient=<system>|<value> (or Patient/p<id>) is required, once"))
		return
	}
	var items []*catalog.Item
	for _, v := range vals["item"] {
		for _, code := range strings.Split(v, ",") {
			it, ok := s.cat.Item(strings.TrimSpace(code))
			if !ok {
				s.fail(w, r, badf("item %q is not in the catalogue", code))
				return
			}
			items = append(items, it)
		}
	}
	var pids []int64
	err := s.reading(ctx, func(ctx context.Context) error {
		if strings.Contains(pv, "|") {
			ids, err := s.patientsByIdentifier(ctx, pv)
			pids = ids
			return err
		}
		id, err := parsePatientRef(pv)
		if err != nil {
			return err
		}
		live, ok, err := s.livePatient(ctx, id)
		if ok {
			pids = []int64{live}
		}
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, hist, err := s.recognize(ctx, p, pids, items, full)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if full {
		writeJSON(w, http.StatusOK, "application/json; charset=utf-8", resp)
		return
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", summary(resp, hist))
}

// Recognize answers "recognisable now" for the patients pids (one person; several ids only when
// an identifier is shared) and items (nil = every item the patient has results for), and records
// one reminder per item shown.
func (s *Server) Recognize(ctx context.Context, p *auth.Principal, pids []int64, items []*catalog.Item) (*RecognizableResponse, error) {
	resp, _, err := s.recognize(ctx, p, pids, items, true)
	return resp, err
}

// recognize is Recognize; with full false it computes no trends and leaves every item's
// history empty, returning the histories' lengths instead (by item, in resp.Items order).
func (s *Server) recognize(ctx context.Context, p *auth.Principal, pids []int64, items []*catalog.Item, full bool) (*RecognizableResponse, []int, error) {
	resp, hist, err := s.answer(ctx, p, pids, items, full)
	if err != nil {
		return nil, nil, err
	}
	if len(pids) > 0 {
		if err := s.remind(ctx, p, pids[0], resp.Items); err != nil {
			return nil, nil, err
		}
	}
	return resp, hist, nil
}

// answer is recognize without recording the reminders.
func (s *Server) answer(ctx context.Context, p *auth.Principal, pids []int64, items []*catalog.Item, full bool) (*RecognizableResponse, []int, error) {
	now := s.opt.Now()
	resp := &RecognizableResponse{At: now.UTC(), Requester: s.inst(p.Org), Items: []ItemJSON{}}
	var hist []int
	if len(pids) == 0 {
		for _, it := range items {
			resp.Items = append(resp.Items, emptyItem(it))
			hist = append(hist, 0)
		}
		return resp, hist, nil
	}
	var itemCodes []string
	for _, it := range items {
		itemCodes = append(itemCodes, it.Code)
	}

	var reps []*repRow
	var obs []*obsRow
	var masked []string
	err := s.reading(ctx, func(ctx context.Context) (err error) {
		reps, obs, masked, err = s.loadPatient(ctx, pids)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	resp.Patient = &PatientJSON{ID: "p" + strconv.FormatInt(pids[0], 10), Identifiers: masked}

	performer := make(map[string]string, len(reps))
	for _, rep := range reps {
		performer[rep.ID] = rep.Performer
	}
	if len(itemCodes) > 0 {
		want := make(map[string]bool, len(itemCodes))
		for _, c := range itemCodes {
			want[c] = true
		}
		kept := reps[:0]
		for _, rep := range reps {
			if rep.Item != nil && want[*rep.Item] {
				kept = append(kept, rep)
			}
		}
		reps = kept
	}
	var byCode map[[2]string][]*obsRow // for trends: view=full only
	if full {
		byCode = map[[2]string][]*obsRow{}
	}
	byReport := map[string][]*obsRow{}
	for _, o := range obs {
		o.Performer = performer[o.ReportID]
		if o.Performer == "" && len(performer) == 5000 {
			// a patient with more than 5,000 reports: look the rest up
			_ = s.pool.QueryRow(ctx, `SELECT performer FROM reports WHERE id = $1`, o.ReportID).Scan(&o.Performer)
			performer[o.ReportID] = o.Performer
		}
		if byCode != nil {
			k := [2]string{o.CodeSystem, o.Code}
			byCode[k] = append(byCode[k], o)
		}
		byReport[o.ReportID] = append(byReport[o.ReportID], o)
	}
	for _, list := range byReport {
		sort.Slice(list, func(i, j int) bool { return list[i].Ordinal < list[j].Ordinal })
	}
	withObs := func(res *ResultJSON) {
		for _, o := range byReport[res.ReportID] {
			res.Observations = append(res.Observations, s.interpret(o, byCode))
		}
	}

	// Group by item, newest first (reports are ordered by clock DESC).
	byItem := map[string][]*repRow{}
	var order []string
	for _, rep := range reps {
		if rep.Item == nil {
			res := s.judge(rep, nil, now, p.Org)
			resp.Unmapped = append(resp.Unmapped, res)
			continue
		}
		if _, ok := byItem[*rep.Item]; !ok {
			order = append(order, *rep.Item)
		}
		byItem[*rep.Item] = append(byItem[*rep.Item], rep)
	}
	if len(items) == 0 {
		sort.Strings(order)
		for _, code := range order {
			if it, ok := s.cat.Item(code); ok {
				items = append(items, it)
			}
		}
	}
	for _, it := range items {
		list := byItem[it.Code]
		if len(list) == 0 {
			resp.Items = append(resp.Items, emptyItem(it))
			hist = append(hist, 0)
			continue
		}
		ij := ItemJSON{ItemVerdict: ItemVerdict{Item: it.Code, Name: it.Name, NameEn: it.NameEn, Kind: it.Kind, ValidityDays: it.ValidityDays, PriceCents: it.PriceCents},
			History: []ResultJSON{}}
		chosen := -1
		judged := make([]ResultJSON, len(list))
		for i, rep := range list {
			judged[i] = s.judge(rep, it, now, p.Org)
			if chosen < 0 && judged[i].Recognizable {
				chosen = i
			}
		}
		if chosen >= 0 {
			res := judged[chosen]
			withObs(&res)
			ij.Recognizable, ij.Result = true, &res
		} else {
			res := judged[0]
			withObs(&res)
			ij.Reason, ij.ReasonText, ij.Latest = res.Reason, res.ReasonText, &res
		}
		hist = append(hist, len(judged)-1)
		if full {
			for i, res := range judged {
				if i == chosen || (chosen < 0 && i == 0) {
					continue
				}
				ij.History = append(ij.History, res)
			}
		}
		resp.Items = append(resp.Items, ij)
	}
	return resp, hist, nil
}

// loadPatient reads what "recognisable now" needs of the patients pids in one round trip: their
// reports newest first, their observations, and the masked identifiers of pids[0].
func (s *Server) loadPatient(ctx context.Context, pids []int64) (reps []*repRow, obs []*obsRow, masked []string, err error) {
	// Reports, observations and identifiers in one round trip. Every report of the patient is
	// read (one range of reports_patient_clock_id; the item filter is applied below), so the
	// observations need no join to reports for their issuing institution.
	// One patient (the rule) is passed as a scalar: `= $1` lets PostgreSQL settle on a generic
	// plan for the prepared statement, where `= ANY($1)` is planned afresh on every execution.
	b := &pgx.Batch{}
	cond, arg := patientCond("patient_id", pids)
	b.Queue(`SELECT id, item, status, current, clock, effective, issued, performer, hr_scope, code_system, code, code_display
		FROM reports WHERE `+cond+` ORDER BY clock DESC, id DESC LIMIT 5000`, arg)
	cond, arg = patientCond("o.patient_id", pids)
	b.Queue(`SELECT o.id, o.report_id, o.ordinal, o.code_system, o.code, o.code_display, o.status, o.effective, o.value_num, o.value_text,
		o.unit, o.ref_low, o.ref_high, o.interpretation
		FROM observations o WHERE `+cond+` ORDER BY o.effective DESC, o.id LIMIT 20000`, arg)
	b.Queue(`SELECT masked FROM patient_identifiers WHERE patient_id = $1 AND kind <> 'mrn' ORDER BY kind DESC, masked`, pids[0])
	br := s.rd(ctx).SendBatch(ctx, b)
	reps, err = collect(br, func(rows pgx.Rows) (*repRow, error) {
		x := &repRow{}
		return x, rows.Scan(&x.ID, &x.Item, &x.Status, &x.Current, &x.Clock, &x.Effective, &x.Issued, &x.Performer, &x.HRMark, &x.CodeSystem, &x.Code, &x.CodeDisplay)
	})
	if err != nil {
		br.Close()
		return nil, nil, nil, fmt.Errorf("loading the patient's reports: %w", err)
	}
	obs, err = collect(br, func(rows pgx.Rows) (*obsRow, error) {
		o := &obsRow{}
		return o, rows.Scan(&o.ID, &o.ReportID, &o.Ordinal, &o.CodeSystem, &o.Code, &o.CodeDisplay, &o.Status, &o.Effective, &o.ValueNum, &o.ValueText,
			&o.Unit, &o.RefLow, &o.RefHigh, &o.Interpretation)
	})
	if err != nil {
		br.Close()
		return nil, nil, nil, fmt.Errorf("loading the patient's observations: %w", err)
	}
	masked, err = collect(br, func(rows pgx.Rows) (string, error) {
		var m string
		return m, rows.Scan(&m)
	})
	if err != nil {
		br.Close()
		return nil, nil, nil, fmt.Errorf("loading the patient's identifiers: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, nil, nil, err
	}
	if masked == nil {
		masked = []string{}
	}
	return reps, obs, masked, nil
}

// patientCond is col = $1 for one patient, col = ANY($1) for several, and the argument.
func patientCond(col string, pids []int64) (string, any) {
	if len(pids) == 1 {
		return col + " = $1", pids[0]
	}
	return col + " = ANY($1)", pids
}

func emptyItem(it *catalog.Item) ItemJSON {
	return ItemJSON{ItemVerdict: ItemVerdict{Item: it.Code, Name: it.Name, NameEn: it.NameEn, Kind: it.Kind, ValidityDays: it.ValidityDays, PriceCents: it.PriceCents,
		Reason: ReasonNoResult, ReasonText: "the patient has no result for this item"}, History: []ResultJSON{}}
}

// remind records one reminder per item shown, committed before the response is sent (through
// the group-commit writer: concurrent requests share one INSERT and one commit).
func (s *Server) remind(ctx context.Context, p *auth.Principal, pid int64, items []ItemJSON) error {
	if len(items) == 0 {
		return nil
	}
	rows := make([]reminderRow, len(items))
	for i, it := range items {
		rows[i] = reminderRow{Institution: p.Org, TokenID: p.TokenID, PatientID: pid, Item: it.Item, Recognizable: it.Recognizable, Reason: it.Reason}
		if it.Result != nil {
			id := it.Result.ReportID
			rows[i].ReportID = &id
		}
	}
	return s.reminders.Write(ctx, rows)
}

func collect[T any](br pgx.BatchResults, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// apiReport serves GET /api/v1/reports/{id}: the report as FHIR with its results, and records
// the retrieval.
func (s *Server) apiReport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var rec *row
	var main, inc []map[string]any
	err := s.reading(ctx, func(ctx context.Context) (err error) {
		if rec, err = s.loadOne(ctx, types["DiagnosticReport"], r.PathValue("id")); err != nil {
			return err
		}
		main, inc, err = s.render(ctx, "DiagnosticReport", []*row{rec}, true, true)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.recordRetrieval(ctx, r, rec, "api"); err != nil {
		s.fail(w, r, err)
		return
	}
	var obs, img []any
	for _, m := range inc {
		if m["resourceType"] == "Observation" {
			obs = append(obs, m)
		} else {
			img = append(img, m)
		}
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"id": rec.ID, "status": rec.Status, "current": rec.Current, "institution": s.inst(rec.Performer),
		"patient": "p" + strconv.FormatInt(rec.PatientID, 10), "report": main[0], "observations": obs, "imaging_studies": img,
	})
}
