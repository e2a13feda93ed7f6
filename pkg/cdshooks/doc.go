// Package cdshooks is the hub's CDS Hooks 2.0 service (https://cds-hooks.hl7.org): recognition at
// the moment of ordering. An EHR (a hospital's HIS) calls it when lab tests or examinations are
// selected (order-select) or signed (order-sign); it answers one card per ordered item for which
// the patient has a result recognisable now for the ordering institution, and takes the
// clinician's answer as the recognition decision.
//
// Contract:
//
//   - GET /cds-services (no token) lists two services, ServiceSelect (hook order-select) and
//     ServiceSign (order-sign), each with the prefetch templates patient
//     (Patient/{{context.patientId}}), user (PractitionerRole?_id={{userPractitionerRoleId}}) and
//     encounter (Encounter/{{context.encounterId}}).
//   - POST /cds-services/{id} needs a hub token of role his or clinician; the ordering
//     institution is the token's. The draft orders are context.draftOrders (a Bundle): every
//     ServiceRequest (for order-select, only the selected ones) whose code maps to a catalogue
//     item as ingest maps a report's code (profile.MapItem: the institution's code map, a
//     standard code, or the catalogue item system profile.ItemSystem); other resources
//     (MedicationRequest, …) and unmapped codes are passed over. The patient is identified by
//     the identifiers of prefetch.patient, strongest first (resident ID, insurance number, MRN);
//     when prefetch.patient is absent, null or an OperationOutcome, it is read from fhirServer
//     with fhirAuthorization if that server is one of Options.FHIRServers, else the answer is
//     412. Malformed requests are 400 with what is wrong.
//   - The answer is the hub's "recognisable now" (httpapi.Server.Answer, the same judgement as
//     GET /api/v1/recognizable, with values, abnormal flags and trends): one card per ordered
//     item with a recognisable result, none for the others. A card carries a summary under 140
//     characters (Chinese, English when Accept-Language prefers it), a Markdown detail, an
//     indicator (critical for a critical value, warning for an abnormal one, else info), the
//     source, one recommended suggestion whose delete actions cancel the item's draft orders,
//     selectionBehavior at-most-one, the region's decline reasons as overrideReasons
//     (DeclineReasonSystem) and a link to the report's FHIR read. Every card shown is a reminder,
//     written by the API's reminder writer before the answer; the card (who was shown which
//     report, for which patient, item and orders) is kept in cds_cards for its feedback.
//   - POST /cds-services/{id}/feedback: accepted (naming the card's suggestion) records a
//     recognised decision, overridden with an overrideReason from the card a declined decision
//     with that reason and the userComment as its note (identity numbers masked); an override
//     without a reason records none. The decisions go through decisions.Store like those of the
//     API and the topic (same checks, tables, rollups and statistics), with the id
//     DecisionID(card, outcome): feedback is idempotent on card and outcome, and the other
//     outcome for a decided card is 409. Only the card's institution (or, for a his token, its
//     medical community) may answer it.
//   - No identity number is written to a card, a log line or a feedback record: cards name the
//     report and the institution, never the patient; comments are masked.
//   - EHRHandler serves /ehr/, a page that plays an EHR's ordering screen against this service.
package cdshooks
