// Drives mrhub's FHIR API with the stock fhir-kit-client: capability statement, a search by
// patient identifier with paging through `next` links, a read, and an error on a bad parameter.
// Prints one JSON object with what it saw; fhirclient_test.go asserts on it.

import { Client } from 'fhir-kit-client';

const baseUrl = process.env.MRHUB_FHIR_BASE;
const token = process.env.MRHUB_TOKEN;
const patientIdentifier = process.env.MRHUB_PATIENT_IDENTIFIER;

const client = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${token}` } });
const out = { pages: 0, reportIds: [], resourceTypes: [], total: null };

const cap = await client.capabilityStatement();
out.fhirVersion = cap.fhirVersion;

let bundle = await client.search({
  resourceType: 'DiagnosticReport',
  searchParams: { 'patient.identifier': patientIdentifier, _count: 2, _sort: '-date' },
});
while (bundle) {
  out.pages++;
  for (const e of bundle.entry || []) {
    out.resourceTypes.push(e.resource.resourceType);
    if (e.resource.resourceType === 'DiagnosticReport') out.reportIds.push(e.resource.id);
  }
  bundle = await client.nextPage({ bundle });
  if (out.pages > 50) break;
}

const counted = await client.search({
  resourceType: 'DiagnosticReport',
  searchParams: { 'patient.identifier': patientIdentifier, _summary: 'count' },
});
out.total = counted.total;

if (out.reportIds.length > 0) {
  const r = await client.read({ resourceType: 'DiagnosticReport', id: out.reportIds[0] });
  out.readId = r.id;
  out.readStatus = r.status;
}

try {
  await client.search({ resourceType: 'DiagnosticReport', searchParams: { 'no-such-param': 'x' } });
  out.badParam = 'accepted';
} catch (err) {
  out.badParam = err.response ? err.response.status : String(err);
  out.badParamOutcome = err.response && err.response.data ? err.response.data.resourceType : null;
}
console.log(JSON.stringify(out));
