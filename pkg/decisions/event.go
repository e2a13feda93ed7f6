package decisions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mrhub/mrhub/schemas"
)

// Event types.
const (
	TypeDecision = "decision"
	TypeRevoke   = "revoke"
)

// Outcomes.
const (
	Recognized = "recognized"
	Declined   = "declined"
)

// Event is one value of schemas/events/decision.schema.json: a decision or a revocation.
type Event struct {
	Type        string `json:"type,omitempty"`
	ID          string `json:"id"`
	Institution string `json:"institution,omitempty"`
	Department  string `json:"department,omitempty"`
	Clinician   string `json:"clinician,omitempty"`
	Patient     string `json:"patient,omitempty"`
	Item        string `json:"item,omitempty"`
	Report      string `json:"report,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
	Reason      *int   `json:"reason,omitempty"`
	Note        string `json:"note,omitempty"`
	DecidedAt   string `json:"decided_at,omitempty"`
	RevokedAt   string `json:"revoked_at,omitempty"`

	decidedAt time.Time
	revokedAt time.Time
	patientID int64 // set by NewDecision: the patient, already identified
}

// Error is a rejected decision or revocation: Code is stable (dead-letter header
// mrhub-error-code, API error code), Field names the offending field, Status is the HTTP status.
type Error struct {
	Code    string
	Field   string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Message }

func reject(status int, code, field, format string, a ...any) *Error {
	msg := fmt.Sprintf(format, a...)
	if field != "" {
		msg = field + ": " + msg
	}
	return &Error{Code: code, Field: field, Message: msg, Status: status}
}

func bad(code, field, format string, a ...any) *Error {
	return reject(http.StatusBadRequest, code, field, format, a...)
}

var (
	schemaOnce sync.Once
	schemaDec  *jsonschema.Schema
	schemaRev  *jsonschema.Schema
	schemaErr  error
)

const schemaURL = "https://mrhub.example/schemas/events/decision.schema.json"

func loadSchemas() (*jsonschema.Schema, *jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		b, err := schemas.Events.ReadFile("events/decision.schema.json")
		if err != nil {
			schemaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			schemaErr = fmt.Errorf("decision schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(schemaURL, doc); err != nil {
			schemaErr = err
			return
		}
		if schemaDec, schemaErr = c.Compile(schemaURL + "#/$defs/decision"); schemaErr != nil {
			return
		}
		schemaRev, schemaErr = c.Compile(schemaURL + "#/$defs/revoke")
	})
	return schemaDec, schemaRev, schemaErr
}

// Parse decodes and validates one event against the JSON Schema. want restricts the type
// ("" = either). The returned error names the field.
func Parse(b []byte, want string) (*Event, *Error) {
	dec, rev, err := loadSchemas()
	if err != nil {
		return nil, reject(http.StatusInternalServerError, "internal", "", "decision schema unavailable: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, bad("decision.not_json", "", "the body is not JSON: %v", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil, bad("decision.invalid", "", "a decision is a JSON object")
	}
	typ := TypeDecision
	if t, ok := obj["type"]; ok {
		s, _ := t.(string)
		if s != TypeDecision && s != TypeRevoke {
			return nil, bad("decision.invalid", "type", "must be %q or %q (absent = decision)", TypeDecision, TypeRevoke)
		}
		typ = s
	}
	if want != "" && typ != want {
		return nil, bad("decision.invalid", "type", "this route takes a %s, not a %s", want, typ)
	}
	if typ == TypeDecision {
		_, hasReason := obj["reason"]
		switch obj["outcome"] {
		case Declined:
			if !hasReason {
				return nil, bad("decision.missing_reason", "reason", "required when the outcome is declined (platform decline reason code)")
			}
		case Recognized:
			if hasReason {
				return nil, bad("decision.invalid", "reason", "only a declined decision carries a reason")
			}
		}
	}
	sch := dec
	if typ == TypeRevoke {
		sch = rev
	}
	if err := sch.Validate(inst); err != nil {
		return nil, schemaError(err)
	}
	var ev Event
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&ev); err != nil {
		return nil, bad("decision.invalid", "", "%v", err)
	}
	ev.Type = typ
	if typ == TypeDecision {
		t, err := time.Parse(time.RFC3339Nano, ev.DecidedAt)
		if err != nil {
			return nil, bad("decision.invalid", "decided_at", "not an RFC 3339 time with a zone: %v", err)
		}
		ev.decidedAt = t
	} else if ev.RevokedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, ev.RevokedAt)
		if err != nil {
			return nil, bad("decision.invalid", "revoked_at", "not an RFC 3339 time with a zone: %v", err)
		}
		ev.revokedAt = t
	}
	return &ev, nil
}

// schemaError turns a schema violation into an Error naming the deepest failing field.
func schemaError(err error) *Error {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return bad("decision.invalid", "", "%v", err)
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	field := strings.Join(leaf.InstanceLocation, ".")
	lines := strings.Split(strings.TrimSpace(leaf.Error()), "\n")
	msg := strings.TrimPrefix(strings.TrimSpace(lines[len(lines)-1]), "- ")
	if i := strings.Index(msg, "': "); strings.HasPrefix(msg, "at '") && i > 0 {
		msg = msg[i+3:]
	}
	// required: name the missing property as the field.
	if strings.HasPrefix(msg, "missing propert") {
		if a, b := strings.Index(msg, "'"), strings.LastIndex(msg, "'"); a >= 0 && b > a && !strings.Contains(msg[a+1:b], "'") {
			if field != "" {
				field += "."
			}
			field += msg[a+1 : b]
		}
	}
	e := bad("decision.invalid", field, "%s", msg)
	if field == "" {
		e.Message = msg
	}
	return e
}
