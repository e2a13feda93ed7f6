package cdshooks

import "encoding/json"

// The bodies of CDS Hooks 2.0 (https://cds-hooks.hl7.org), with the specification's field names.
// Optional fields are omitted when empty: the specification forbids null and empty values.

// Discovery is the body of GET /cds-services.
type Discovery struct {
	Services []ServiceDef `json:"services"`
}

// ServiceDef describes one CDS service.
type ServiceDef struct {
	Hook              string            `json:"hook"`
	Title             string            `json:"title,omitempty"`
	Description       string            `json:"description"`
	ID                string            `json:"id"`
	Prefetch          map[string]string `json:"prefetch,omitempty"`
	UsageRequirements string            `json:"usageRequirements,omitempty"`
}

// Request is the body of POST /cds-services/{id}.
type Request struct {
	Hook              string                     `json:"hook"`
	HookInstance      string                     `json:"hookInstance"`
	FHIRServer        string                     `json:"fhirServer,omitempty"`
	FHIRAuthorization *FHIRAuthorization         `json:"fhirAuthorization,omitempty"`
	Context           json.RawMessage            `json:"context"`
	Prefetch          map[string]json.RawMessage `json:"prefetch,omitempty"`
	Extension         json.RawMessage            `json:"extension,omitempty"`
}

// FHIRAuthorization is the bearer token an EHR may pass for its FHIR server.
type FHIRAuthorization struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Subject     string `json:"subject"`
	Patient     string `json:"patient,omitempty"`
}

// OrderContext is the context of order-select and order-sign.
type OrderContext struct {
	UserID      string          `json:"userId"`
	PatientID   string          `json:"patientId"`
	EncounterID string          `json:"encounterId,omitempty"`
	Selections  []string        `json:"selections,omitempty"` // order-select only
	DraftOrders json.RawMessage `json:"draftOrders"`
}

// Response is the body answering a service call. The hub proposes no systemActions.
type Response struct {
	Cards         []Card   `json:"cards"`
	SystemActions []Action `json:"systemActions,omitempty"`
}

// Card is one card.
type Card struct {
	UUID              string       `json:"uuid,omitempty"`
	Summary           string       `json:"summary"`
	Detail            string       `json:"detail,omitempty"`
	Indicator         string       `json:"indicator"`
	Source            Source       `json:"source"`
	Suggestions       []Suggestion `json:"suggestions,omitempty"`
	SelectionBehavior string       `json:"selectionBehavior,omitempty"`
	OverrideReasons   []Coding     `json:"overrideReasons,omitempty"`
	Links             []Link       `json:"links,omitempty"`
}

// Card indicators, in order of increasing urgency.
const (
	IndicatorInfo     = "info"
	IndicatorWarning  = "warning"
	IndicatorCritical = "critical"
)

// Source is where a card's guidance comes from.
type Source struct {
	Label string  `json:"label"`
	URL   string  `json:"url,omitempty"`
	Icon  string  `json:"icon,omitempty"`
	Topic *Coding `json:"topic,omitempty"`
}

// Suggestion is a set of actions the user may accept.
type Suggestion struct {
	Label         string   `json:"label"`
	UUID          string   `json:"uuid,omitempty"`
	IsRecommended bool     `json:"isRecommended,omitempty"`
	Actions       []Action `json:"actions,omitempty"`
}

// Action is one suggested change: create, update or delete.
type Action struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Resource    json.RawMessage `json:"resource,omitempty"`
	ResourceID  string          `json:"resourceId,omitempty"`
}

// Coding is the CDS Hooks Coding (code, system, display).
type Coding struct {
	Code    string `json:"code"`
	System  string `json:"system"`
	Display string `json:"display,omitempty"`
}

// Link is a link to show on a card. The hub's links are absolute; AppContext and Autolaunchable
// are there to read other services' cards (smart links).
type Link struct {
	Label          string `json:"label"`
	URL            string `json:"url"`
	Type           string `json:"type"`
	AppContext     string `json:"appContext,omitempty"`
	Autolaunchable bool   `json:"autolaunchable,omitempty"`
}

// FeedbackRequest is the body of POST /cds-services/{id}/feedback.
type FeedbackRequest struct {
	Feedback []Feedback `json:"feedback"`
}

// Feedback is what the user did with one card.
type Feedback struct {
	Card                string               `json:"card"`
	Outcome             string               `json:"outcome"`
	AcceptedSuggestions []AcceptedSuggestion `json:"acceptedSuggestions,omitempty"`
	OverrideReason      *OverrideReason      `json:"overrideReason,omitempty"`
	OutcomeTimestamp    string               `json:"outcomeTimestamp"`
}

// Feedback outcomes.
const (
	OutcomeAccepted   = "accepted"
	OutcomeOverridden = "overridden"
)

// AcceptedSuggestion names an accepted suggestion by its uuid.
type AcceptedSuggestion struct {
	ID string `json:"id"`
}

// OverrideReason is why the user overrode a card.
type OverrideReason struct {
	Reason      *Coding `json:"reason,omitempty"`
	UserComment string  `json:"userComment,omitempty"`
}

// FeedbackResponse is the hub's answer to feedback: what each item did (the specification
// defines no body; this one is for the EHR's logs).
type FeedbackResponse struct {
	Feedback []FeedbackResult `json:"feedback"`
}

// FeedbackResult is what one feedback item did.
type FeedbackResult struct {
	Card    string `json:"card"`
	Outcome string `json:"outcome"`
	// Result: created (a new decision), duplicate (this card and outcome were received before:
	// nothing changed), dismissed (an override without a reason: no decision).
	Result   string `json:"result"`
	Decision string `json:"decision,omitempty"` // the decision id
}

// Feedback results.
const (
	ResultCreated   = "created"
	ResultDuplicate = "duplicate"
	ResultDismissed = "dismissed"
)
