// Drives mrhub's FHIR API the way lab and imaging viewers do, with two stock clients as they
// are: the SMART on FHIR JavaScript client (npm fhirclient: request with pageLimit 0, flat and
// resolveReferences, and patient-scoped requests, which read the CapabilityStatement to find the
// patient parameter) and fhir-kit-client (search, paging through next links, includes).
// MRHUB_LAB_PATIENT has laboratory reports, MRHUB_IMAGING_PATIENT an imaging report.
// Prints one JSON object with what each client saw; fhirclient_test.go asserts on it (and
// validates every answer the hub sent against the R4 schema).

import smart from 'fhirclient';
import { Client } from 'fhir-kit-client';

const serverUrl = process.env.MRHUB_FHIR_BASE;
const token = process.env.MRHUB_TOKEN;
const labPatient = process.env.MRHUB_LAB_PATIENT;
const imagingPatient = process.env.MRHUB_IMAGING_PATIENT;

// fhirclient's node entry wants the incoming request of a SMART launch; a client made with
// an access token needs none of it.
const req = { headers: { host: 'localhost' }, url: '/', socket: {} };
const session = {};
const sm = smart(req, {}, { get: async (k) => session[k], set: async (k, v) => { session[k] = v; return v; }, unset: async (k) => { delete session[k]; return true; } });
const out = { smart: {}, kit: {} };

const lab = sm.client({ serverUrl, tokenResponse: { access_token: token, patient: labPatient } });
// Every laboratory Observation of the patient, all pages, flattened.
const obs = await lab.request(`Observation?patient=${labPatient}&category=laboratory&_count=7`, { pageLimit: 0, flat: true });
out.smart.labObservations = obs.map((o) => o.id);
out.smart.labCategories = [...new Set(obs.map((o) => o.category?.[0]?.coding?.[0]?.code))];
// The same through the patient context (the client picks the patient parameter from /metadata).
const scoped = await lab.patient.request('Observation?category=laboratory&_count=50', { pageLimit: 0, flat: true });
out.smart.scopedObservations = scoped.length;
// Reports with their results included, the result references resolved by the client.
const reports = await lab.request(`DiagnosticReport?patient=${labPatient}&_include=DiagnosticReport:result&_count=2`,
  { pageLimit: 0, flat: true, resolveReferences: ['result', 'subject'] });
out.smart.reports = reports.filter((r) => r.resourceType === 'DiagnosticReport').map((r) => ({
  id: r.id,
  results: (r.result || []).length,
  resolved: (r.result || []).filter((x) => x && x.resourceType === 'Observation').length,
  subject: r.subject && r.subject.resourceType,
}));
out.smart.included = reports.filter((r) => r.resourceType === 'Observation').length;
const pt = await lab.patient.read();
out.smart.patient = pt.id;

const img = sm.client({ serverUrl, tokenResponse: { access_token: token, patient: imagingPatient } });
const studies = await img.patient.request('ImagingStudy', { pageLimit: 0, flat: true, resolveReferences: ['subject'] });
out.smart.studies = studies.map((s) => ({ id: s.id, modality: s.modality?.[0]?.code, subject: s.subject?.resourceType }));
const imgReports = await img.request(`DiagnosticReport?patient=${imagingPatient}&_include=DiagnosticReport:imaging-study`,
  { pageLimit: 0, flat: true, resolveReferences: ['imagingStudy'] });
out.smart.imagingReports = imgReports.filter((r) => r.resourceType === 'DiagnosticReport')
  .map((r) => (r.imagingStudy || []).filter((x) => x && x.resourceType === 'ImagingStudy').length);
const everything = await img.request(`Patient/${imagingPatient}/$everything`, { pageLimit: 0, flat: true });
out.smart.everything = everything.map((r) => r.resourceType).sort();

const kit = new Client({ baseUrl: serverUrl, customHeaders: { Authorization: `Bearer ${token}` } });
let bundle = await kit.search({ resourceType: 'Observation', searchParams: { patient: labPatient, category: 'laboratory', _count: 10, _total: 'accurate' } });
out.kit.total = bundle.total;
out.kit.labObservations = [];
while (bundle) {
  for (const e of bundle.entry || []) out.kit.labObservations.push(e.resource.id);
  bundle = await kit.nextPage({ bundle });
}
const withResults = await kit.search({ resourceType: 'DiagnosticReport', searchParams: { patient: labPatient, _include: 'DiagnosticReport:result', _count: 50 } });
out.kit.reportEntries = (withResults.entry || []).map((e) => `${e.search.mode} ${e.resource.resourceType}`);
const studyBundle = await kit.search({ resourceType: 'ImagingStudy', searchParams: { patient: imagingPatient, _revinclude: 'DiagnosticReport:imaging-study' } });
out.kit.studyEntries = (studyBundle.entry || []).map((e) => `${e.search.mode} ${e.resource.resourceType}`);
const summary = await kit.search({ resourceType: 'DiagnosticReport', searchParams: { patient: labPatient, _summary: 'true' } });
out.kit.summaryTags = (summary.entry || []).map((e) => (e.resource.meta.tag || []).map((t) => t.code).join(','));

console.log(JSON.stringify(out));
