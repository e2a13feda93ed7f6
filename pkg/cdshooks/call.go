package cdshooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/profile"
)

// order is one draft ServiceRequest mapped to a catalogue item.
type order struct {
	ref  string // ServiceRequest/<id>
	item *catalog.Item
}

// call serves POST /cds-services/{id}.
func (s *Service) call(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	var req Request
	def, ok := s.serviceAndBody(w, r, &req, "CDS Hooks request")
	if !ok {
		return
	}
	oc, err := s.checkRequest(def, &req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	orders, err := s.orders(def, oc, p.Org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(orders) == 0 { // nothing ordered that the catalogue knows: no card, no lookup
		writeJSON(w, http.StatusOK, Response{Cards: []Card{}})
		return
	}
	pids, err := s.patient(ctx, &req, oc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(pids) == 0 { // the hub holds no result of this patient
		writeJSON(w, http.StatusOK, Response{Cards: []Card{}})
		return
	}
	var items []*catalog.Item
	for _, o := range orders {
		if !slices.Contains(items, o.item) {
			items = append(items, o.item)
		}
	}
	ans, err := s.hub.Answer(ctx, p, pids, items)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lang := language(r.Header.Get("Accept-Language"))
	base := baseURL(r)
	now := s.opt.Now()
	dept := s.department(&req)
	var shown []httpapi.ItemJSON
	var rows []cardRow
	cards := []Card{}
	for _, it := range ans.Items {
		if !it.Recognizable || it.Result == nil {
			continue
		}
		var refs []string
		for _, o := range orders {
			if o.item.Code == it.Item {
				refs = append(refs, o.ref)
			}
		}
		c := s.card(lang, it, refs, base, now)
		cards = append(cards, c)
		shown = append(shown, it)
		rows = append(rows, cardRow{uuid: c.UUID, suggestion: c.Suggestions[0].UUID, item: it.Item, report: it.Result.ReportID, orders: refs})
	}
	if len(cards) > 0 {
		// The reminders (through the API's group-commit writer) and the card rows, side by side;
		// both are committed before the answer.
		pid := pids[0]
		if len(pids) > 1 { // an identifier several patients hold: each card is for its report's
			if err := s.reportPatients(ctx, rows); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		saved := make(chan error, 1)
		go func() {
			saved <- s.saveCards(ctx, def.ID, req.HookInstance, p, strings.TrimSpace(oc.UserID), dept, pid, rows)
		}()
		err := s.hub.Remind(ctx, p, pid, shown)
		if serr := <-saved; err == nil {
			err = serr
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, Response{Cards: cards})
}

// checkRequest checks the request against the service's hook and returns its context.
func (s *Service) checkRequest(def ServiceDef, req *Request) (*OrderContext, error) {
	switch {
	case req.Hook == "":
		return nil, bad("hook is required (this service answers %s)", def.Hook)
	case req.Hook != def.Hook:
		return nil, bad("hook is %q, but service %s answers %s", req.Hook, def.ID, def.Hook)
	case strings.TrimSpace(req.HookInstance) == "":
		return nil, bad("hookInstance is required (a UUID for this hook call)")
	case len(req.HookInstance) > 128:
		return nil, bad("hookInstance is longer than 128 characters")
	case req.FHIRAuthorization != nil && req.FHIRServer == "":
		return nil, bad("fhirServer is required when fhirAuthorization is given")
	case len(req.Context) == 0 || string(req.Context) == "null":
		return nil, bad("context is required: {userId, patientId, draftOrders%s}", map[bool]string{true: ", selections", false: ""}[def.Hook == HookOrderSelect])
	}
	var oc OrderContext
	if err := json.Unmarshal(req.Context, &oc); err != nil {
		return nil, bad("context: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	switch {
	case strings.TrimSpace(oc.UserID) == "":
		return nil, bad("context.userId is required (the ordering user, e.g. Practitioner/123 or PractitionerRole/123)")
	case utf8.RuneCountInString(strings.TrimSpace(oc.UserID)) > 64:
		return nil, bad("context.userId is longer than 64 characters")
	case strings.TrimSpace(oc.PatientID) == "":
		return nil, bad("context.patientId is required (the FHIR Patient.id of the patient in context)")
	case len(oc.DraftOrders) == 0 || string(oc.DraftOrders) == "null":
		return nil, bad("context.draftOrders is required (a Bundle of the draft orders)")
	case def.Hook == HookOrderSelect && len(oc.Selections) == 0:
		return nil, bad("context.selections is required for order-select (the ids of the newly selected orders, e.g. ServiceRequest/abc)")
	}
	return &oc, nil
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type serviceRequest struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Code         *struct {
		Coding []struct {
			System string `json:"system"`
			Code   string `json:"code"`
		} `json:"coding"`
	} `json:"code"`
}

// orders reads the draft orders: every ServiceRequest (order-select: every selected one) whose
// code maps to a catalogue item for institution. Other request resources (MedicationRequest,
// NutritionOrder, …) and codes outside the catalogue are passed over.
func (s *Service) orders(def ServiceDef, oc *OrderContext, institution string) ([]order, error) {
	var b bundle
	if err := json.Unmarshal(oc.DraftOrders, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, bad("context.draftOrders must be a FHIR Bundle (resourceType Bundle) of the draft orders")
	}
	present := map[string]bool{}
	var srs []serviceRequest
	for i, e := range b.Entry {
		var sr serviceRequest
		if err := json.Unmarshal(e.Resource, &sr); err != nil || sr.ResourceType == "" {
			return nil, bad("context.draftOrders.entry[%d].resource must be a FHIR resource", i)
		}
		present[sr.ResourceType+"/"+sr.ID] = true
		if sr.ResourceType != "ServiceRequest" {
			continue
		}
		if strings.TrimSpace(sr.ID) == "" {
			return nil, bad("context.draftOrders.entry[%d].resource (ServiceRequest) has no id: the card's suggestion deletes the order by its id", i)
		}
		srs = append(srs, sr)
	}
	selected := map[string]bool{}
	for i, sel := range oc.Selections {
		if !present[sel] {
			return nil, bad("context.selections[%d] %q names no resource of context.draftOrders (want ResourceType/id)", i, sel)
		}
		selected[sel] = true
	}
	var out []order
	for _, sr := range srs {
		ref := "ServiceRequest/" + sr.ID
		if def.Hook == HookOrderSelect && !selected[ref] {
			continue
		}
		if sr.Code == nil {
			continue
		}
		codings := make([]profile.Coding, len(sr.Code.Coding))
		for i, c := range sr.Code.Coding {
			codings[i] = profile.Coding{System: c.System, Code: c.Code}
		}
		if it, _ := profile.MapItem(s.cat, institution, codings); it != nil {
			out = append(out, order{ref: ref, item: it})
		}
	}
	return out, nil
}

// cardRow is what cds_cards keeps of one card.
type cardRow struct {
	uuid, suggestion, item, report string
	orders                         []string
	patient                        int64 // 0: the call's patient
}

// reportPatients sets each row's patient to its report's (live) patient.
func (s *Service) reportPatients(ctx context.Context, rows []cardRow) error {
	for i := range rows {
		err := s.pool.QueryRow(ctx, `WITH RECURSIVE p(id) AS (SELECT patient_id FROM reports WHERE id = $1
				UNION SELECT pt.merged_into FROM patients pt JOIN p ON pt.id = p.id WHERE pt.merged_into IS NOT NULL)
			SELECT p.id FROM p JOIN patients x ON x.id = p.id WHERE x.merged_into IS NULL`, rows[i].report).Scan(&rows[i].patient)
		if err != nil {
			return fmt.Errorf("looking up the patient of report %s: %w", rows[i].report, err)
		}
	}
	return nil
}

// saveCards records the cards shown, for their feedback, in one statement (one commit).
func (s *Service) saveCards(ctx context.Context, service, hookInstance string, p *auth.Principal, clinician, dept string, pid int64, rows []cardRow) error {
	var sql strings.Builder
	sql.WriteString(`INSERT INTO cds_cards(uuid, service, hook_instance, institution, token_id, clinician, department, patient_id, item, report_id, suggestion, orders)
		VALUES `)
	args := []any{service, hookInstance, p.Org, p.TokenID, clinician, dept}
	for i, c := range rows {
		if i > 0 {
			sql.WriteString(", ")
		}
		patient := c.patient
		if patient == 0 {
			patient = pid
		}
		n := len(args)
		fmt.Fprintf(&sql, "($%d::uuid, $1, $2, $3, $4, $5, $6, $%d, $%d, $%d, $%d::uuid, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, c.uuid, patient, c.item, c.report, c.suggestion, c.orders)
	}
	if _, err := s.pool.Exec(ctx, sql.String(), args...); err != nil {
		return fmt.Errorf("recording the cards shown: %w", err)
	}
	return nil
}
