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
// Config.MeanGap per new report or new version.
package sim
