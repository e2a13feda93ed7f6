// Package publish sends FHIR JSON and NDJSON files to mrhub.reports.v1 as one institution, for
// HIS integrators. Each file (or NDJSON line) is checked locally first — valid JSON, a FHIR
// resourceType of Bundle or DiagnosticReport, under the size limit, and (with Options.Decoder)
// decoded by the hub's FHIR decoder — and refused with its reason when it fails; the rest is
// published with kafka-go, keyed by institution code + report identifier, with header
// mrhub-source. The hub's profile (publishing rights, catalogue, identity) runs in the hub, which
// dead-letters what it cannot index.
package publish
