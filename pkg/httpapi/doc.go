// Package httpapi is the clinician query side of the hub: FHIR R4 REST under /fhir (metadata,
// read and search of DiagnosticReport, Observation, ImagingStudy and Patient; history and vread
// of DiagnosticReport; Patient/{id}/$everything), "recognisable now"
// with cross-hospital interpretation under /api/v1/recognizable, report retrieval under
// /api/v1/reports/{id}, the audit they write (reminders, retrievals), and the protections in
// front of them (bearer tokens from package auth, request size limit, per-request timeout,
// concurrency limit answering 429 with Retry-After).
//
// Contract:
//
//   - Server.Routes returns the handlers to mount on the hub's mux ("/fhir/" and "/api/v1/").
//     Every route needs a bearer token except GET /fhir/metadata; patient routes need the
//     clinician role (403 for others).
//   - Served FHIR validates against the official R4 JSON schema: a report is its stored current
//     version with id = canonical report id, subject = Patient/p<patients.id>, result =
//     Observation/<observation id>, imagingStudy = ImagingStudy/<id>, performer = a logical
//     reference (identifier) to the issuing institution, and every other reference that only
//     made sense inside the publisher's message reduced to its display. Patients are built by the
//     hub: identifiers are masked, never plaintext, and tagged with the v3 MASKED security label.
//   - Search returns current reports only; by default only finished ones (final, amended,
//     corrected, appended); an explicit status filter can return preliminary or withdrawn ones.
//     Paging is keyset paging on (date, id) plus a snapshot of the first page's time: pages do
//     not shift, repeat or pick up new rows while reports keep arriving.
//   - The CapabilityStatement lists exactly the parameters, sort keys, includes and operation that
//     work. The R4 general parameters (_format, _pretty, _summary, _elements) apply to every read
//     and search; anything unlisted is refused with 400 unless the request prefers
//     handling=lenient, when it is ignored and left out of the self link (general.go). Element
//     names, mandatory elements and summary elements come from pkg/fhir (ResourceElements).
//   - A report's history (GET /fhir/DiagnosticReport/{id}/_history) is a history Bundle of every
//     version received, newest first; vread (…/_history/{vid}) serves one. The current version
//     is served as the read serves it; an older one as it was received (scrubbed), its result
//     references reduced to their display (results are kept for the current version only). A
//     withdrawal is a version (request PUT, status cancelled or entered-in-error), not a delete.
//   - Reading a report (FHIR read, history, vread or the API) records a retrieval; each
//     recognizable call records one reminder per item it shows. Both are written before the
//     response is sent. Reminders
//     reach the statistics rollup through folds (stats.FoldReminders): every second while they
//     are written, and before each statistics answer.
package httpapi
