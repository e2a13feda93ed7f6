// Package sim generates a synthetic, deterministic workload of FHIR R4 report messages for a
// region (see package seeds): what the hospitals of a medical-community district would publish
// to mrhub.reports.v1, with the mess real feeds have.
//
// Contract:
//
//   - New(cfg, region) then Next() forever. The same Seed, Config and Region give a
//     byte-identical stream; nothing reads the wall clock or global randomness. A Generator is
//     not safe for concurrent use. Messages returned by Next may share backing arrays with
//     earlier ones (redeliveries): do not modify Key or Value.
//   - Message.Key is the publishing institution's code (USCC) + "|" + the report number;
//     Message.Source is that institution (header mrhub-source). Cross-published copies are keyed
//     and sourced by the re-publisher, so the same report can arrive on two partitions.
//   - Every message except Kind "malformed" is valid FHIR R4 JSON (only R4 elements; checked
//     against pkg/fhir's strict decoder in the tests). Malformed ones are truncated JSON, a wrong
//     resourceType ("DiagnosticRequest"), an unknown element ("reportNumber" on the
//     DiagnosticReport), or a report without subject (valid FHIR, rejected by the hub's profile).
//
// Population: Config.Patients synthetic patients with Chinese names, resident IDs from
// identity.NewResidentID (address codes of the region's districts, 15% from elsewhere; the
// 17th digit's parity gives the gender written), birth dates, medical-insurance numbers (90%) and
// mobile phones (85%). Each patient belongs to a medical community and a home centre; a visit goes
// to the home centre (50%), the community's lead (30%), its other hospital (8%) or any institution
// (12%), picks patients half uniformly and half Zipf-like (frequent attenders), and orders 1–5
// items from what the institution maps, weighted by how common they are. A patient gets an MRN
// per institution at the first visit; with probability Config.MRNOnly the first one or two
// reports there carry only the MRN, later ones the resident ID and insurance number too.
//
// Identifier systems written (<host> is the institution's region code in lower case, e.g. qx001):
//
//	resident ID         http://mrhub.example/sid/resident-id        (use official)
//	insurance number    http://mrhub.example/sid/insurance
//	MRN                 http://his.<host>.example/sid/mrn           (type v2-0203 MR, use usual)
//	institution         https://mrhub.example/sid/uscc              (Organization.identifier, or
//	                                                                 a logical performer reference)
//	report number       http://his.<host>.example/sid/report        (type FILL, use official)
//	accession number    http://his.<host>.example/sid/accession     (type ACSN, ImagingStudy)
//	study instance UID  urn:dicom:uid, value urn:oid:2.25.<128-bit decimal>
//	report codes        the institution's code-map system and code (seeds: .../lab-codes,
//	                    .../exam-codes, or http://loinc.org); ~10% of local-coded reports add a
//	                    LOINC coding second; ~3% are local tests outside the catalogue (codes
//	                    Z901–Z904 in .../lab-codes), never mappable
//	analyte codes       http://loinc.org where known, else http://his.<host>.example/analyte-codes
//	HR mark             DiagnosticReport.extension url
//	                    http://mrhub.example/fhir/StructureDefinition/hr-mark, valueString 全国HR /
//	                    本省HR / <city>HR (city from the region name before 市), present when the
//	                    performer held a qualification for the item on the sample date
//
// Lab reports: category LAB (v2-0074), 1–10 Observations (panels 4–10, single analytes 1) with
// valueQuantity in UCUM, a reference range and an H/L/N interpretation (about 15% abnormal).
// Imaging reports: category RAD, a conclusion, and an ImagingStudy (modality DX/CT/MR/US/MG in
// the DICOM DCM system, series and instance counts, started). Sample time (effective) is the
// visit time in +08:00; issued is 40 min–4 h later for labs, 30 min–20 h for imaging.
//
// Shapes, per institution habit with 25% variation: a collection Bundle with urn:uuid fullUrls
// and references; a transaction Bundle (urn:uuid, request POST); a batch Bundle (request PUT,
// relative references Type/id, absolute fullUrls, performer as a logical reference by USCC); a
// lone DiagnosticReport with contained Patient/Organization/Observations/ImagingStudy ("#id"
// references); a collection with relative references and absolute fullUrls
// http://his.<host>.example/fhir/Type/id.
//
// Mess, per Next call with the Config rates: exact redelivery of one of the last 64 messages;
// amended/corrected versions of one of the last 256 reports (meta.versionId incremented,
// meta.lastUpdated and issued later, one or two values changed or a new conclusion);
// withdrawal (entered-in-error, or cancelled 30%); out-of-order (two new versions, the newer
// sent first, the older right after as Kind "late"); cross-publishing (the current version,
// byte-identical, re-published by the lead or another member of the performer's community);
// malformed messages.
//
// The simulated clock starts at Config.Start and advances by an exponential gap with mean
// Config.MeanGap per new report or new version. With Config.Now set (the demo and `mrhub simulate`
// pass time.Now) it never runs past real time: once caught up it follows the wall clock, so no
// report and no decision is dated in the future. Without it nothing reads the wall clock.
//
// Decisions (Config.Decisions > 0; the default 0 keeps the stream to reports only, with exactly
// the draws it had before decisions existed). With probability Config.Decisions a Next call
// emits a clinician's recognition decision instead of a report message: Message.Topic
// mrhub.decisions.v1 (reports carry mrhub.reports.v1), Kind "decision", Key the decision id
// ("sim<seed in base 36>-<n>", unique per seed), Source the deciding institution (header
// mrhub-source), Value a decision of schemas/events/decision.schema.json.
//
//   - The prior report is one the hub will find recognisable: a report leaves the window of the
//     last 256 reports (the only ones later amended, withdrawn or cross-published) and becomes a
//     candidate if it is mapped to a catalogue item, of status final/amended/corrected, not
//     withdrawn, and its performer held an HR qualification for the item on the sample date
//     (catalog.Qualified). A decision picks a candidate still inside its validity window
//     (effective + the item's validity_days, less a minute) at decided_at = the simulated clock.
//     So a decision refers to a report published at least 256 reports earlier (the hub has
//     indexed it when the decision arrives, unless its report consumer lags by that much), and
//     decided_at is after the report's time and, with Config.Now, not after real time.
//   - Report is the hub's canonical id (first 32 hex digits of SHA-256 of performer|identifier
//     system|identifier value), item the report's item, patient the resident ID (or insurance
//     number, 20%) when the report carried it, else the performer's MRN
//     (http://his.<host>.example/sid/mrn|M…), so it resolves to the report's patient even before
//     the hub has linked the MRN to a person.
//   - Deciding institution: the patient's home centre (35%), their community's lead (30%), the
//     performer (10%), any institution (25%); a department and a clinician id (D0001–D0060).
//   - Outcome: 4% declined with a reason that does not count (98 prior report unobtainable, 99
//     continuous monitoring); the others are recognised with probability Config.TargetRate, plus
//     a fixed per-institution offset (±8 points, so institutions differ), plus a correction of
//     the running error of the region's non-revoked decisions (so the regional rate converges on
//     the target for any seed: within a decision or two, not a binomial ±2σ), else declined
//     with a counting reason 1–6 (weights 30/20/15/15/5/15). Reason 6 always carries a note.
//   - With probability Config.Revoke a decision is revoked 20–200 Next calls later: Kind
//     "revoke", same key (same partition, so after the decision), Value {"type":"revoke","id",
//     "revoked_at"}. Revoked decisions are left out of the rate correction, as the hub leaves
//     them out of the rate.
package sim
