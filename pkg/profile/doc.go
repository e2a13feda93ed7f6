// Package profile is mrhub's indexing profile: what a FHIR R4 DiagnosticReport needs to enter
// the shared index, and how it is turned into an index.Entry.
//
// A report is indexed when it has
//   - a status and a code (checked by pkg/fhir);
//   - a subject that resolves to a patient identity: a resident ID (valid GB 11643 check digit),
//     a medical-insurance number, or an MRN (an identifier of type MR, whose system ends in
//     "/mrn", is urn:mrhub:mrn:<code> or an MRN system the catalogue registers), taken from the
//     Patient resource in the message, the subject reference's identifier or a conditional
//     reference Patient?identifier=system|value. An MRN is filed under the institution that
//     issued it (MRNIssuer: its assigner, else the institution whose MRN system it is, else the
//     performer); LookupIdentifier places a searched system by the same rule;
//   - an issuing institution known to the region: the performer Organization's identifier (or a
//     performer reference's identifier) names an institution code of the catalogue; a report with
//     no performer at all is issued by its publisher (header mrhub-source);
//   - a publisher (mrhub-source) that is the performer or belongs to the performer's medical
//     community;
//   - an effective[x] or issued time (validity is counted from effective, else issued).
//
// The natural key is performer|identifier-system|identifier-value (identifier chosen: use
// "official", else a filler "FILL" typed one, else the first with a system and value). Without an
// identifier it falls back to performer|patient|code-system|code|effective, where patient is the
// hex HMAC of the strongest patient identifier (never plaintext). The canonical id is the first
// 32 hex digits of SHA-256 of the natural key.
//
// Identity numbers are hashed (identity.Hasher) and masked here and never leave this package in
// plaintext: rejections name the FHIR path and the rule, not the value. The stored resources are
// masked on their decoded string values, so a number in any JSON spelling is masked.
//
// Refile and Rehash bring a database written under earlier rules up to the current ones.
package profile
