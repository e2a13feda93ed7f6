package cdshooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

// maxFeedback bounds the feedback items of one request.
const maxFeedback = 100

// storedCard is a card shown, as cds_cards keeps it.
type storedCard struct {
	uuid, service, institution, clinician, department, item, report, suggestion string
	patient                                                                     int64
}

// DecisionID is the id of the decision that feedback outcome on card records: the idempotency
// key of the feedback.
func DecisionID(card, outcome string) string { return "cds." + strings.ToLower(card) + "." + outcome }

// feedback serves POST /cds-services/{id}/feedback.
func (s *Service) feedback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	var req FeedbackRequest
	def, ok := s.serviceAndBody(w, r, &req, "CDS Hooks feedback")
	if !ok {
		return
	}
	at, err := s.checkFeedback(&req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cards, err := s.loadCards(ctx, def.ID, req.Feedback)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := FeedbackResponse{Feedback: []FeedbackResult{}}
	for i, f := range req.Feedback {
		res, err := s.apply(ctx, p, i, f, at[i], cards[strings.ToLower(f.Card)])
		if err != nil {
			var de *decisions.Error
			if errors.As(err, &de) {
				telemetry.DecisionMetricsFrom(ctx).Decision("cds-hooks", "rejected")
				err = &decisions.Error{Code: de.Code, Field: de.Field, Status: de.Status, Message: fmt.Sprintf("feedback[%d]: %s", i, de.Message)}
			}
			s.fail(w, r, err)
			return
		}
		out.Feedback = append(out.Feedback, res)
	}
	writeJSON(w, http.StatusOK, out)
}

// checkFeedback checks the shape of every item and returns their outcome times.
func (s *Service) checkFeedback(req *FeedbackRequest) ([]time.Time, error) {
	if len(req.Feedback) == 0 {
		return nil, bad("feedback is required: an array of {card, outcome, outcomeTimestamp, acceptedSuggestions | overrideReason}")
	}
	if len(req.Feedback) > maxFeedback {
		return nil, bad("feedback has %d items; send at most %d per request", len(req.Feedback), maxFeedback)
	}
	at := make([]time.Time, len(req.Feedback))
	for i, f := range req.Feedback {
		switch {
		case f.Card == "":
			return nil, bad("feedback[%d].card is required (the card's uuid)", i)
		case !isUUID(f.Card):
			return nil, bad("feedback[%d].card %q is not a card uuid of this hub", i, clip(f.Card, 40))
		case f.Outcome != OutcomeAccepted && f.Outcome != OutcomeOverridden:
			return nil, bad("feedback[%d].outcome must be %q or %q", i, OutcomeAccepted, OutcomeOverridden)
		case f.Outcome == OutcomeAccepted && len(f.AcceptedSuggestions) == 0:
			return nil, bad("feedback[%d].acceptedSuggestions is required when the outcome is accepted (the suggestion's uuid as {\"id\": …})", i)
		case f.Outcome == OutcomeAccepted && f.OverrideReason != nil:
			return nil, bad("feedback[%d].overrideReason: only an overridden card carries one", i)
		case f.Outcome == OutcomeOverridden && len(f.AcceptedSuggestions) > 0:
			return nil, bad("feedback[%d].acceptedSuggestions: only an accepted card carries them", i)
		case f.OutcomeTimestamp == "":
			return nil, bad("feedback[%d].outcomeTimestamp is required (RFC 3339, e.g. 2026-12-04T10:05:31Z)", i)
		}
		t, err := time.Parse(time.RFC3339Nano, f.OutcomeTimestamp)
		if err != nil {
			return nil, bad("feedback[%d].outcomeTimestamp %q is not an RFC 3339 time (e.g. 2026-12-04T10:05:31Z)", i, clip(f.OutcomeTimestamp, 40))
		}
		at[i] = t
		if or := f.OverrideReason; or != nil && or.Reason != nil {
			if or.Reason.System != DeclineReasonSystem {
				return nil, bad("feedback[%d].overrideReason.reason.system must be %s (one of the card's overrideReasons)", i, DeclineReasonSystem)
			}
			code, err := strconv.Atoi(or.Reason.Code)
			if _, known := s.cat.Reason(code); err != nil || !known {
				return nil, bad("feedback[%d].overrideReason.reason.code %q is not one of the region's decline reasons (%s)", i, clip(or.Reason.Code, 20), s.reasonCodes())
			}
		}
		if or := f.OverrideReason; or != nil && utf8.RuneCountInString(or.UserComment) > 1000 {
			return nil, bad("feedback[%d].overrideReason.userComment is longer than 1000 characters", i)
		}
	}
	return at, nil
}

func (s *Service) reasonCodes() string {
	var codes []string
	for _, c := range s.reasons[langZH] {
		codes = append(codes, c.Code)
	}
	return strings.Join(codes, ", ")
}

// loadCards reads the cards the feedback names; a card this service did not show is a bad
// request.
func (s *Service) loadCards(ctx context.Context, service string, fb []Feedback) (map[string]*storedCard, error) {
	var ids []string
	for _, f := range fb {
		ids = append(ids, strings.ToLower(f.Card))
	}
	rows, err := s.pool.Query(ctx, `SELECT uuid::text, service, institution, clinician, department, patient_id, item, report_id, suggestion::text
		FROM cds_cards WHERE uuid = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("loading the cards: %w", err)
	}
	cards, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storedCard, error) {
		c := &storedCard{}
		return c, row.Scan(&c.uuid, &c.service, &c.institution, &c.clinician, &c.department, &c.patient, &c.item, &c.report, &c.suggestion)
	})
	if err != nil {
		return nil, fmt.Errorf("loading the cards: %w", err)
	}
	out := make(map[string]*storedCard, len(cards))
	for _, c := range cards {
		out[c.uuid] = c
	}
	for i, f := range fb {
		c := out[strings.ToLower(f.Card)]
		switch {
		case c == nil:
			return nil, bad("feedback[%d].card %s: no card of this hub has that uuid", i, f.Card)
		case c.service != service:
			return nil, bad("feedback[%d].card %s was shown by service %s: send its feedback to /cds-services/%s/feedback", i, f.Card, c.service, c.service)
		}
	}
	return out, nil
}

// apply records one feedback item: a decision for an accepted card or a card overridden with a
// reason, nothing but the feedback row for an override without one. The same card and outcome
// again changes nothing.
func (s *Service) apply(ctx context.Context, p *auth.Principal, i int, f Feedback, at time.Time, c *storedCard) (FeedbackResult, error) {
	res := FeedbackResult{Card: c.uuid, Outcome: f.Outcome}
	if _, e := s.dec.Authorize(c.institution, p.Org, p.Role == auth.RoleHIS); e != nil {
		return res, &failure{http.StatusForbidden, "forbidden", fmt.Sprintf("feedback[%d]: the card was shown to %s; %s may not answer it", i, c.institution, p.Org)}
	}
	// Received before: the same (card, outcome) is a duplicate; the other outcome is a conflict.
	var prior []struct {
		outcome  string
		decision *string
	}
	rows, err := s.pool.Query(ctx, `SELECT outcome, decision_id FROM cds_feedback WHERE card = $1::uuid`, c.uuid)
	if err != nil {
		return res, fmt.Errorf("loading the card's feedback: %w", err)
	}
	for rows.Next() {
		var x struct {
			outcome  string
			decision *string
		}
		if err := rows.Scan(&x.outcome, &x.decision); err != nil {
			rows.Close()
			return res, err
		}
		prior = append(prior, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	for _, x := range prior {
		if x.outcome == f.Outcome {
			res.Result = ResultDuplicate
			if x.decision != nil {
				res.Decision = *x.decision
			}
			telemetry.DecisionMetricsFrom(ctx).Decision("cds-hooks", string(decisions.Duplicate))
			return res, nil
		}
		if x.decision != nil {
			return res, &failure{http.StatusConflict, "conflict", fmt.Sprintf("feedback[%d]: card %s was already %s (decision %s); revoke that decision (POST /api/v1/decisions/%s/revoke) to change it", i, c.uuid, x.outcome, *x.decision, *x.decision)}
		}
	}

	var ev *decisions.Event
	var reason *int
	switch {
	case f.Outcome == OutcomeAccepted:
		found := false
		for _, a := range f.AcceptedSuggestions {
			found = found || strings.EqualFold(a.ID, c.suggestion)
		}
		if !found {
			return res, bad("feedback[%d].acceptedSuggestions names no suggestion of card %s (its suggestion is %s)", i, c.uuid, c.suggestion)
		}
		ev = decisions.NewDecision(DecisionID(c.uuid, f.Outcome), c.institution, c.department, c.clinician, c.patient, c.item, c.report, decisions.Recognized, nil, "", at)
	case f.OverrideReason != nil && f.OverrideReason.Reason != nil:
		code, _ := strconv.Atoi(f.OverrideReason.Reason.Code)
		reason = &code
		ev = decisions.NewDecision(DecisionID(c.uuid, f.Outcome), c.institution, c.department, c.clinician, c.patient, c.item, c.report, decisions.Declined, reason,
			MaskIdentityNumbers(strings.TrimSpace(f.OverrideReason.UserComment)), at)
	}
	var decisionID *string
	if ev != nil {
		d, r, err := s.dec.Submit(ctx, ev, p.Org, p.Role == auth.RoleHIS, "cds-hooks")
		var de *decisions.Error
		switch {
		case errors.As(err, &de) && de.Code == "decision.conflict":
			// A concurrent or earlier delivery of the same card and outcome (another timestamp or
			// comment) was recorded first: the feedback is idempotent on card and outcome.
			r, d = decisions.Duplicate, &decisions.Decision{ID: ev.ID}
		case err != nil:
			return res, err
		}
		s.hub.MarkWrite(ctx)
		res.Decision = d.ID
		decisionID = &d.ID
		res.Result = ResultCreated
		result := d.Outcome
		if r == decisions.Duplicate {
			res.Result, result = ResultDuplicate, string(r)
		}
		telemetry.DecisionMetricsFrom(ctx).Decision("cds-hooks", result)
	} else {
		res.Result = ResultDismissed
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO cds_feedback(card, outcome, token_id, outcome_at, reason, decision_id) VALUES ($1::uuid, $2, $3, $4, $5, $6)
		ON CONFLICT (card, outcome) DO NOTHING`, c.uuid, f.Outcome, p.TokenID, at, reason, decisionID); err != nil {
		return res, fmt.Errorf("recording the feedback: %w", err)
	}
	return res, nil
}

// idNumber finds what may be a resident ID (18 characters, the last a digit or X) or an older
// 15-digit one, or a long run of digits (insurance or phone numbers), in free text.
var idNumber = regexp.MustCompile(`\d{17}[\dXx]|\d{8,}`)

// MaskIdentityNumbers masks every run of digits in s that may be an identity number (a resident
// ID as identity.Mask shows it, longer digit runs keeping their last 4), so that a clinician's
// comment is never stored with one in clear.
func MaskIdentityNumbers(s string) string {
	return idNumber.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) == 18 && identity.ValidateResidentID(strings.ToUpper(m)) == nil {
			return identity.Mask(identity.KindNationalID, m)
		}
		return identity.Mask(identity.KindInsurance, m)
	})
}
