package fhir

import (
	"reflect"
	"strconv"
	"strings"
)

// Error codes of *Error. They are stable: the hub puts them in dead-letter
// headers and metrics labels.
const (
	CodeNotJSON        = "fhir.not_json"        // not valid JSON
	CodeNotObject      = "fhir.not_object"      // valid JSON whose top-level value is not an object
	CodeResourceType   = "fhir.resource_type"   // missing/unknown resourceType (at the root: not Bundle or DiagnosticReport)
	CodeUnknownElement = "fhir.unknown_element" // element not defined in R4
	CodeInvalid        = "fhir.invalid"         // wrong JSON type, null, bad format (id, date, uri, code…), bad value-set code, wrong reference type, duplicate key, too deep
	CodeRequired       = "fhir.required"        // a required element (min cardinality 1) is missing
	CodeNoReport       = "fhir.no_report"       // a valid message that holds no DiagnosticReport
)

// Error is a decoding/validation failure. Code is one of the Code constants,
// Path the FHIR path of the offending element (e.g.
// "Bundle.entry[3].resource.status"; empty when the input is not JSON at all).
// Msg never repeats a value of the message, only element names and rules.
type Error struct{ Code, Path, Msg string }

// Error returns "Path: Msg" (or Msg when Path is empty).
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// libIssue is one error of the library, read from its (internal) error type:
// a path such as "Bundle.entry[0].resource.DiagnosticReport.status", a fixed
// description ("unknown field", "expected date", "missing required field
// \"status\""…) and diagnostics that may quote the offending value.
type libIssue struct{ path, details, diagnostics string }

// libIssues flattens an error of github.com/google/fhir/go/jsonformat. Its
// error types live in an internal package, so their exported fields (Path,
// Details, Diagnostics) are read by reflection; an error of another shape
// gives one issue holding its text.
func libIssues(err error) []libIssue {
	v := reflect.ValueOf(err)
	one := func(e reflect.Value) (libIssue, bool) {
		for e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface {
			if e.IsNil() {
				return libIssue{}, false
			}
			e = e.Elem()
		}
		if e.Kind() != reflect.Struct {
			return libIssue{}, false
		}
		get := func(name string) string {
			f := e.FieldByName(name)
			if f.IsValid() && f.Kind() == reflect.String {
				return f.String()
			}
			return ""
		}
		if !e.FieldByName("Details").IsValid() {
			return libIssue{}, false
		}
		return libIssue{path: get("Path"), details: get("Details"), diagnostics: get("Diagnostics")}, true
	}
	var out []libIssue
	if v.Kind() == reflect.Slice {
		for i := 0; i < v.Len(); i++ {
			if is, ok := one(v.Index(i)); ok {
				out = append(out, is)
			}
		}
	} else if is, ok := one(v); ok {
		out = append(out, is)
	}
	if len(out) == 0 {
		out = append(out, libIssue{details: err.Error()})
	}
	return out
}

// fromIssue maps one library issue onto a code, a path in the hub's style
// ("Bundle.entry[0].resource.status": the library's ".DiagnosticReport" type
// step after "resource" and "contained[i]" is dropped) and a message. Values
// are never copied into the message: diagnostics are used only where they
// name an element or a resource type.
func fromIssue(is libIssue) *Error {
	path := hubPath(is.path)
	d := is.details
	switch {
	case d == "unknown field":
		name, _ := strconv.Unquote(is.diagnostics)
		if name == "" {
			name = is.diagnostics
		}
		return &Error{Code: CodeUnknownElement, Path: joinPath(path, name), Msg: "element " + quoteName(name) + " is not defined in FHIR R4 for this resource"}
	case d == "unknown resource type":
		return &Error{Code: CodeResourceType, Path: parentPath(path), Msg: "unknown resourceType " + quoteName(unquote(is.diagnostics)) + ": not an R4 resource type"}
	case d == "invalid resource type":
		return &Error{Code: CodeResourceType, Path: path, Msg: "resourceType must be a string naming an R4 resource type"}
	case d == `missing required field "resourceType"`:
		return &Error{Code: CodeResourceType, Path: path, Msg: "missing resourceType"}
	case strings.HasPrefix(d, "missing required field "):
		name := unquote(strings.TrimPrefix(d, "missing required field "))
		return &Error{Code: CodeRequired, Path: joinPath(path, name), Msg: "required element " + quoteName(name) + " is missing (minimum cardinality 1 in R4)"}
	case d == "invalid JSON":
		return &Error{Code: CodeInvalid, Path: path, Msg: "a value the FHIR decoder cannot read (for example a number beyond the range of a decimal)"}
	case strings.HasPrefix(d, "cannot accept multiple values for "):
		name := strings.TrimSuffix(strings.TrimPrefix(d, "cannot accept multiple values for "), " field")
		return &Error{Code: CodeInvalid, Path: joinPath(path, name+"[x]"), Msg: "more than one type given for the choice element " + name + "[x]: give exactly one"}
	case strings.HasPrefix(d, "invalid reference to a "):
		got, want, _ := strings.Cut(strings.TrimPrefix(d, "invalid reference to a "), ", want ")
		return &Error{Code: CodeInvalid, Path: path, Msg: "reference to a " + got + " where R4 allows only " + want}
	case d == "code type mismatch":
		return &Error{Code: CodeInvalid, Path: path, Msg: "code is not in the value set R4 binds to this element (required binding)"}
	case strings.HasPrefix(d, "expected "):
		return &Error{Code: CodeInvalid, Path: path, Msg: "invalid value: " + d + " (wrong JSON type, null, or a format R4 does not allow)"}
	case strings.HasPrefix(d, "field exceeded the maximum nesting depth"):
		return &Error{Code: CodeInvalid, Path: path, Msg: "elements nested deeper than " + strconv.Itoa(maxDepth) + " levels"}
	}
	return &Error{Code: CodeInvalid, Path: path, Msg: d}
}

// hubPath rewrites a library path into the hub's: the type step the library
// inserts after a resource position ("….resource.Observation.status",
// "….contained[0].Patient.birthDate") is dropped.
func hubPath(p string) string {
	if p == "" {
		return ""
	}
	parts := strings.Split(p, ".")
	out := parts[:1]
	for i := 1; i < len(parts); i++ {
		prev := parts[i-1]
		if (prev == "resource" || strings.HasPrefix(prev, "contained[")) && isResourceType(upperFirst(parts[i])) {
			continue
		}
		out = append(out, parts[i])
	}
	return strings.Join(out, ".")
}

func isTypeName(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	if name == "" {
		return path
	}
	return path + "." + name
}

// parentPath drops a trailing resource type step ("Bundle.entry[0].resource.Foo" → "…resource").
func parentPath(p string) string {
	if i := strings.LastIndexByte(p, '.'); i > 0 && isTypeName(p[i+1:]) {
		return p[:i]
	}
	if isTypeName(p) {
		return ""
	}
	return p
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// quoteName quotes an element or type name for a message, cut to 64 bytes so
// that a hostile name cannot flood the dead-letter headers.
func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
