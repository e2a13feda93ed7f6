package verdict

import (
	"fmt"
	"strings"

	"github.com/mrhub/mrhub/pkg/fhir"
)

// OperationOutcome is the FHIR R4 OperationOutcome answering $validate.
type OperationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Issue        []OutcomeIssue `json:"issue"`
}

// OutcomeIssue is one issue of an OperationOutcome.
type OutcomeIssue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"` // FHIR IssueType
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
	Expression  []string         `json:"expression,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept with codings and text.
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

// Coding is a FHIR Coding.
type Coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

// Outcome renders v as an OperationOutcome: errors carry the dead-letter code in details
// (system DeadLetterSystem), warnings and information the verdict code (VerdictCodeSystem).
func (v *Verdict) Outcome() *OperationOutcome {
	oo := &OperationOutcome{ResourceType: "OperationOutcome", Issue: []OutcomeIssue{}}
	for _, is := range v.Issues {
		system, typ := VerdictCodeSystem, "informational"
		switch {
		case is.Severity == Error:
			system, typ = DeadLetterSystem, issueType(is.Code)
		case is.Severity == Warning:
			typ = "business-rule"
		}
		oo.Issue = append(oo.Issue, OutcomeIssue{Severity: is.Severity, Code: typ,
			Details:     &CodeableConcept{Coding: []Coding{{System: system, Code: is.Code}}, Text: is.Code},
			Diagnostics: is.Message, Expression: is.Expression})
	}
	return oo
}

// issueType maps a dead-letter code to a FHIR IssueType.
func issueType(code string) string {
	switch {
	case code == "kafka.too_large":
		return "too-long"
	case code == "internal.panic":
		return "exception"
	case code == "rights.not_permitted":
		return "forbidden"
	case code == fhir.CodeUnknownElement || code == fhir.CodeResourceType || code == fhir.CodeNotJSON || code == fhir.CodeNotObject:
		return "structure"
	case code == fhir.CodeRequired:
		return "required"
	case strings.HasPrefix(code, "fhir."):
		return "invalid"
	}
	return "business-rule"
}

// Line is v on one line, as `mrhub check` prints it after the message's name: ok or refused,
// the dead-letter code and path, the actions, and the warnings' codes.
func (v *Verdict) Line() string {
	var b strings.Builder
	if v.Refused != nil {
		fmt.Fprintf(&b, "REFUSED %s", v.Refused.Code)
		if v.Refused.Path != "" {
			fmt.Fprintf(&b, " at %s", v.Refused.Path)
		}
		fmt.Fprintf(&b, ": %s", v.Refused.Message)
		return b.String()
	}
	b.WriteString("ok")
	for _, r := range v.Reports {
		item := r.Item
		if item == "" {
			item = "unmapped"
		}
		fmt.Fprintf(&b, " %s:%s:%s", r.Action, r.ID, item)
	}
	for _, is := range v.Issues {
		if is.Severity == Warning {
			fmt.Fprintf(&b, " warning=%s", is.Code)
		}
	}
	return b.String()
}
