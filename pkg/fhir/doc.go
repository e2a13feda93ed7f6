// Package fhir is mrhub's FHIR layer on github.com/google/fhir/go: the
// library's R4 protos carry the FHIR model and its validating jsonformat
// unmarshaller and marshaller read and write FHIR JSON. What this package
// keeps is the hub's own: the shape of a message, reference resolution
// inside it, the canonical form that identifies a report's content, and the
// mapping of decoding errors onto stable dead-letter codes.
//
// # Decoding
//
// Decoder.ParseMessage (and ParseMessage, in UTC) accepts a Bundle — any
// type, nested Bundles too — or a DiagnosticReport, with resources of every
// R4 type. It runs in two steps:
//
//  1. a one-pass scan of the bytes for what the library does not check:
//     JSON syntax (CodeNotJSON, with the byte offset), a top-level value that
//     is not an object (CodeNotObject), a key repeated in one object, strings
//     that are not UTF-8 and nesting deeper than 64 levels (CodeInvalid), and
//     a root that is not a Bundle or DiagnosticReport (CodeResourceType);
//  2. decoding into the library's R4 protos with everything the library's
//     validating unmarshaller and its validator check (unknown elements,
//     primitive formats, required value sets, reference target types,
//     required elements), times without a zone read in the Decoder's zone.
//
// Step 2 has two paths. The one-pass decoder reads the JSON tokens once and
// fills the protos directly, driven by tables built once from the protos'
// descriptors and the FHIR annotations the library reads itself (JSON names,
// choice types, primitive kinds, value patterns, required elements, valid
// reference types, code enums); it checks as it goes. When it finds any
// problem, or meets a construct it does not read (a lone surrogate escape, a
// "time", upper-case element names the library tolerates…), it gives up and
// the library's jsonformat unmarshaller decodes the message again: the
// library's verdict and error stand, so the one-pass decoder never decides
// that a message is invalid. What it accepts is proto.Equal to the library's
// result; a differential test over the example files and their mutations,
// and a fuzz target, hold it to that. Decoder.Stats counts the two paths.
//
// One rule goes beyond the library: a code bound to a value set sent as ""
// ("status": "") is refused (CodeInvalid). The library decodes it as the
// enum's zero value, which its marshaller leaves out.
//
// Library errors map onto CodeUnknownElement, CodeRequired, CodeResourceType
// and CodeInvalid, with the hub's FHIR path ("Bundle.entry[3].resource.status")
// and a message that names elements and rules but never repeats a value of
// the message, so that no identity number reaches a log or a dead-letter
// header. A valid message without a DiagnosticReport gives CodeNoReport.
// The returned error is always an *Error.
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
// the report's subject) but not resolved nor listed as unresolved; literal
// references that do not resolve, or resolve to an unexpected type, are
// listed in ReportView.Unresolved with a reason.
//
// # Canonical form
//
// Canonical serialises a resource so that equal content gives equal bytes
// whatever the publisher's key order, whitespace, escapes, UTC spelling or
// exponent spelling, without meta.lastUpdated and meta.source; see its doc
// comment for the exact rule. The hub hashes it to tell a resend from a new
// version; ReportView.Raw and the resolved results' Raw are the bytes as
// received, which the hub stores.
//
// ParseDateTime parses date/dateTime/instant strings of search parameters;
// Instant and CalendarDate read the library's time protos.
package fhir
