// Package verdict says what the hub would do with a message before it is published: the
// verdict behind POST /fhir/$validate and `mrhub check`.
//
// A Checker runs exactly the step ingest runs on a message of mrhub.reports.v1
// (profile.Evaluate: the size limit, the FHIR decoder, the indexing profile with publishing
// rights, catalogue mapping, identity and times), reads the stored versions of the reports it
// names (read-only), and writes nothing. The Verdict holds
//   - an error issue when the message would be dead-lettered, with the dead-letter code and the
//     FHIR path of the fault;
//   - warning issues for what would be indexed but weakens recognition: a local code that maps
//     to no catalogue item, an issuer without a qualification (HR mark) for the item on the
//     report's date, numeric results without a reference range, a result already past the
//     item's validity window;
//   - information issues saying what the hub would do with each report (a new report, the same
//     version as stored, a new version, an older version kept as history, a withdrawal), its
//     catalogue item and the patient keys by kind, masked.
//
// No identity number appears in a verdict except in its masked form.
package verdict
