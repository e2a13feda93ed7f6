package fhir

// Error codes of *Error. They are stable: the hub puts them in dead-letter
// headers and metrics labels.
const (
	CodeNotJSON        = "fhir.not_json"        // not valid JSON / not a JSON object
	CodeResourceType   = "fhir.resource_type"   // missing/unknown/unsupported resourceType (at the root: not Bundle or DiagnosticReport)
	CodeUnknownElement = "fhir.unknown_element" // element not defined in R4
	CodeInvalid        = "fhir.invalid"         // wrong JSON type, null, empty, bad format (id, date, uri, code), bad value-set code
	CodeRequired       = "fhir.required"        // a required element (min cardinality 1) is missing
	CodeNoReport       = "fhir.no_report"       // a valid message that holds no DiagnosticReport
)

// Error is a decoding/validation failure. Code is one of the Code constants,
// Path the FHIR path of the offending element (e.g.
// "Bundle.entry[3].resource.status"; empty when the input is not JSON at all).
type Error struct{ Code, Path, Msg string }

// Error returns "Path: Msg" (or Msg when Path is empty).
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}
