// Package fhir holds the FHIR R4 types of the resources mrhub ingests and
// serves, a strict decoder for them, in-message reference resolution, and
// validation beyond the R4 JSON schema.
//
// # Types
//
// Bundle, DiagnosticReport, Observation, ImagingStudy, Specimen,
// ServiceRequest, Patient, Organization, Practitioner and PractitionerRole,
// with every datatype and backbone element they use, are generated from the
// official R4 JSON schema (../shared/fhir/fhir-r4.schema.json; see
// internal/gen) and carry every R4 element:
//   - choice elements are separate fields (EffectiveDateTime, EffectivePeriod…);
//   - primitive extensions ("_status", "_given") are kept in XxxExt fields
//     (*Element, or []*Element with nil for JSON null);
//   - string-like primitives (string, code, uri, id, date, dateTime, instant,
//     base64Binary…) are Go strings holding the original text, decimals are
//     json.Number (precision kept), integers *int, booleans *bool;
//   - Extension keeps url, nested extensions and its value[x] as the key
//     (ValueKey) plus the raw JSON value (Value), validated against its type.
//
// Other resource types (Condition, Encounter, Claim, …) found in a Bundle or
// in contained are kept as *RawResource (type, id, bytes), syntax-checked
// only. Every resource implements Resource (ResourceType()).
//
// # Decoding
//
// ParseMessage and Decode reject, with an *Error carrying a Code and a FHIR
// path such as "Bundle.entry[3].resource.foo": invalid JSON (CodeNotJSON),
// missing/unknown resourceType or a root that is not a Bundle or
// DiagnosticReport (CodeResourceType), elements not defined in R4
// (CodeUnknownElement), nulls, empty strings/arrays/objects, wrong JSON
// types, duplicate keys, bad primitive formats (id, date, dateTime,
// instant, uri, code…), codes outside required value sets and broken
// invariants (more than one type for a choice, Period start after end,
// Reference without reference/identifier/display, extension with both value
// and extensions, nested contained) (CodeInvalid), and missing required
// elements (CodeRequired). A Bundle that holds no DiagnosticReport gives
// CodeNoReport. The decoder is a single-pass, generated, reflection-free
// parser; decoded values alias nothing but their Raw bytes, which are
// sub-slices of the input: do not modify the input while a Message is used.
//
// # References
//
// For each DiagnosticReport, ParseMessage resolves subject, performer
// (directly or through PractitionerRole.organization), result,
// imagingStudy, specimen and basedOn inside the message:
//   - "#id" to the containing resource's contained resources;
//   - absolute URLs, urn:uuid: and urn:oid: to the entry with that fullUrl;
//   - "Type/id" against the base of the referring entry's RESTful fullUrl,
//     then (pragmatically) to the one entry of that Type with that id;
//   - versioned "…/_history/n" also match meta.versionId when present;
//   - "Type?identifier=[system|]value" when exactly one resource of the
//     message matches.
//
// Lookups search the innermost Bundle first, then the enclosing ones.
// Display- or identifier-only references are kept (ReportView.PerformerRefs,
// Report.Subject) but not resolved nor listed as unresolved; literal
// references that do not resolve, or resolve to an unexpected type, are
// listed in ReportView.Unresolved with a reason.
//
// # Encoding
//
// Marshal (and the MarshalJSON methods) writes FHIR JSON: resourceType
// first, empty elements omitted, decimals and raw extension values as
// received, so Marshal(Decode(x)) is JSON-equivalent to x.
//
// ParseDateTime converts date/dateTime/instant strings to time.Time (lowest
// instant, with precision); the caller chooses the zone of partial dates.
package fhir

//go:generate go run ./internal/gen -schema ../../../shared/fhir/fhir-r4.schema.json -out .
