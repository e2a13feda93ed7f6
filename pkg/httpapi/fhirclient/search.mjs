// Drives mrhub's FHIR API with the stock fhir-kit-client: capability statement, a search by
// patient identifier with paging through `next` links, a read, an error on a bad parameter, and
// the history and vread of a report with several versions (MRHUB_VERSIONED_REPORT).
// Prints one JSON object with what it saw; fhirclient_test.go asserts on it.

import { Client, CapabilityTool } from 'fhir-kit-client';

const baseUrl = process.env.MRHUB_FHIR_BASE;
const token = process.env.MRHUB_TOKEN;
const patientIdentifier = process.env.MRHUB_PATIENT_IDENTIFIER;
const versionedReport = process.env.MRHUB_VERSIONED_REPORT;

const client = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${token}` } });
const out = { pages: 0, reportIds: [], resourceTypes: [], total: null };

const cap = await client.capabilityStatement();
out.fhirVersion = cap.fhirVersion;
const tool = new CapabilityTool(cap);
out.canVread = tool.resourceCan('DiagnosticReport', 'vread');
out.canHistory = tool.resourceCan('DiagnosticReport', 'history-instance');

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
if (versionedReport) {
  const history = await client.history({ resourceType: 'DiagnosticReport', id: versionedReport });
  out.historyType = history.type;
  out.historyTotal = history.total;
  out.history = (history.entry || []).map((e) => ({
    method: e.request.method,
    status: e.response.status,
    etag: e.response.etag,
    versionId: e.resource.meta.versionId,
    resourceStatus: e.resource.status,
  }));
  out.vreads = [];
  for (const h of out.history) {
    const r = await client.vread({ resourceType: 'DiagnosticReport', id: versionedReport, version: h.versionId });
    out.vreads.push({ id: r.id, versionId: r.meta.versionId, status: r.status });
  }
  try {
    await client.vread({ resourceType: 'DiagnosticReport', id: versionedReport, version: '999' });
    out.unknownVersion = 'found';
  } catch (err) {
    out.unknownVersion = err.response ? err.response.status : String(err);
    out.unknownVersionOutcome = err.response && err.response.data ? err.response.data.resourceType : null;
  }
}

console.log(JSON.stringify(out));
