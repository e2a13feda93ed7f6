package fhir_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
)

// want is the expected outcome of ParseMessage for one example file.
type want struct {
	reports int    // number of DiagnosticReports, when the file is accepted
	code    string // expected error code, when rejected
	lines   string // for .ndjson: expected error code of every line
}

// exampleOutcomes was written from the files themselves (root resourceType,
// DiagnosticReports counted through nested Bundles; see EXAMPLES-NOTES.md:
// 33 HL7 + 18 Synthea reports), not from this package's output.
//
// github.com/google/fhir/go accepts and refuses every file exactly as listed.
// The inputs where it is looser or stricter than R4 JSON are not among these
// files; message_test.go lists them (TestParseErrors, TestLooserThanSchema,
// TestStricterThanR4).
var exampleOutcomes = map[string]want{
	"SOURCES.md":                             {code: fhir.CodeNotJSON},
	"provenance.tsv":                         {code: fhir.CodeNotJSON},
	"hl7-r4-examples/package.json":           {code: fhir.CodeResourceType}, // None
	"hl7-r4-examples/Bundle/Bundle-101.json": {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-72ac8493-52ac-41bd-8d5d-7258c289b5ea.json":                      {reports: 17},
	"hl7-r4-examples/Bundle/Bundle-bundle-example.json":                                            {code: fhir.CodeNoReport}, // Bundle searchset
	"hl7-r4-examples/Bundle/Bundle-bundle-references.json":                                         {code: fhir.CodeNoReport}, // Bundle collection
	"hl7-r4-examples/Bundle/Bundle-bundle-response.json":                                           {code: fhir.CodeNoReport}, // Bundle transaction-response
	"hl7-r4-examples/Bundle/Bundle-bundle-search-warning.json":                                     {code: fhir.CodeNoReport}, // Bundle searchset
	"hl7-r4-examples/Bundle/Bundle-bundle-transaction.json":                                        {code: fhir.CodeNoReport}, // Bundle transaction
	"hl7-r4-examples/Bundle/Bundle-dg2.json":                                                       {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-f001.json":                                                      {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-f202.json":                                                      {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-father.json":                                                    {code: fhir.CodeNoReport}, // Bundle document
	"hl7-r4-examples/Bundle/Bundle-ghp.json":                                                       {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-hla-1.json":                                                     {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-lipids.json":                                                    {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-lri-example.json":                                               {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-micro.json":                                                     {reports: 1},
	"hl7-r4-examples/Bundle/Bundle-report.json":                                                    {reports: 1},
	"hl7-r4-examples/DiagnosticReport/DiagnosticReport-102.json":                                   {reports: 1},
	"hl7-r4-examples/DiagnosticReport/DiagnosticReport-example-pgx.json":                           {reports: 1},
	"hl7-r4-examples/DiagnosticReport/DiagnosticReport-f201.json":                                  {reports: 1},
	"hl7-r4-examples/DiagnosticReport/DiagnosticReport-gingival-mass.json":                         {reports: 1},
	"hl7-r4-examples/DiagnosticReport/DiagnosticReport-pap.json":                                   {reports: 1},
	"hl7-r4-examples/DiagnosticReport/DiagnosticReport-ultrasound.json":                            {reports: 1},
	"hl7-r4-examples/ImagingStudy/ImagingStudy-example-xr.json":                                    {code: fhir.CodeResourceType},  // ImagingStudy
	"hl7-r4-examples/ImagingStudy/ImagingStudy-example.json":                                       {code: fhir.CodeResourceType},  // ImagingStudy
	"hl7-r4-examples/Observation/Observation-656.json":                                             {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-bgpanel.json":                                         {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-blood-pressure-cancel.json":                           {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-blood-pressure.json":                                  {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-bloodgroup.json":                                      {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-bmd.json":                                             {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-decimal.json":                                         {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-example-genetics-1.json":                              {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-example.json":                                         {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f001.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f002.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f003.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f004.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f005.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f202.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f203.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f204.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f205.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-f206.json":                                            {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-heart-rate.json":                                      {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-herd1.json":                                           {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-map-sitting.json":                                     {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-rhstatus.json":                                        {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-unsat.json":                                           {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Observation/Observation-vp-oyster.json":                                       {code: fhir.CodeResourceType},  // Observation
	"hl7-r4-examples/Organization/Organization-1.json":                                             {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-1832473e-2fe0-452d-abe9-3cdb9879522f.json":          {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-2.16.840.1.113883.19.5.json":                        {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-2.json":                                             {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-3.json":                                             {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-f001.json":                                          {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-f002.json":                                          {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-f003.json":                                          {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-f201.json":                                          {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-f203.json":                                          {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-hl7.json":                                           {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-hl7pay.json":                                        {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Organization/Organization-mmanu.json":                                         {code: fhir.CodeResourceType},  // Organization
	"hl7-r4-examples/Patient/Patient-animal.json":                                                  {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-ch-example.json":                                              {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-dicom.json":                                                   {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-example.json":                                                 {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-f001.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-f201.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-genetics-example1.json":                                       {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-glossy.json":                                                  {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-ihe-pcd.json":                                                 {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-infant-fetal.json":                                            {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-infant-mom.json":                                              {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-infant-twin-1.json":                                           {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-infant-twin-2.json":                                           {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-mom.json":                                                     {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-newborn.json":                                                 {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-pat1.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-pat2.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-pat3.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-pat4.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-proband.json":                                                 {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-xcda.json":                                                    {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/Patient/Patient-xds.json":                                                     {code: fhir.CodeResourceType},  // Patient
	"hl7-r4-examples/ServiceRequest/ServiceRequest-ambulation.json":                                {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-appendectomy-narrative.json":                    {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-benchpress.json":                                {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-colon-biopsy.json":                              {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-colonoscopy.json":                               {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-di.json":                                        {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-do-not-turn.json":                               {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-education.json":                                 {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-example-implant.json":                           {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-example-pgx.json":                               {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-example.json":                                   {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-ft4.json":                                       {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-lipid.json":                                     {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-myringotomy.json":                               {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-ob.json":                                        {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-og-example1.json":                               {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-physical-therapy.json":                          {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-physiotherapy.json":                             {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-subrequest.json":                                {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/ServiceRequest/ServiceRequest-vent.json":                                      {code: fhir.CodeResourceType},  // ServiceRequest
	"hl7-r4-examples/Specimen/Specimen-101.json":                                                   {code: fhir.CodeResourceType},  // Specimen
	"hl7-r4-examples/Specimen/Specimen-isolate.json":                                               {code: fhir.CodeResourceType},  // Specimen
	"hl7-r4-examples/Specimen/Specimen-pooled-serum.json":                                          {code: fhir.CodeResourceType},  // Specimen
	"hl7-r4-examples/Specimen/Specimen-sst.json":                                                   {code: fhir.CodeResourceType},  // Specimen
	"hl7-r4-examples/Specimen/Specimen-vma-urine.json":                                             {code: fhir.CodeResourceType},  // Specimen
	"synthea-bulk-10-patients/Organization/Organization-048630ac-ba97-3386-9ac5-d8bf6392db50.json": {code: fhir.CodeResourceType},  // Organization
	"synthea-bulk-10-patients/Organization/Organization-0ffa99cb-e8a7-39b7-af2e-1e022261d022.json": {code: fhir.CodeResourceType},  // Organization
	"synthea-bulk-10-patients/Organization/Organization-10013492-ff81-3e94-ba39-da6cba63cbbd.json": {code: fhir.CodeResourceType},  // Organization
	"synthea-bulk-10-patients/Patient/Patient-129c6ac7-8d06-89de-ad63-0204a93e76c3.json":           {code: fhir.CodeResourceType},  // Patient
	"synthea-bulk-10-patients/Patient/Patient-3af3708d-41f1-cd80-f3dd-ec5ac76072bf.json":           {code: fhir.CodeResourceType},  // Patient
	"synthea-bulk-10-patients/Patient/Patient-63ee2253-bdd5-da55-2ad2-b4984d0ad700.json":           {code: fhir.CodeResourceType},  // Patient
	"synthea-bulk-10-patients/ndjson/Organization.000.ndjson":                                      {lines: fhir.CodeResourceType}, // Organization
	"synthea-bulk-10-patients/ndjson/Patient.000.ndjson":                                           {lines: fhir.CodeResourceType}, // Patient
	"synthea-generated-sample-data/Alberto_Atencio_fc712d1f-5a2e-4407-9c55-a2a2bad623c2.json":      {reports: 1},
	"synthea-generated-sample-data/Chet_Thompson_eda17701-070d-4fae-9f7d-c8cd6263b63a.json":        {reports: 3},
	"synthea-generated-sample-data/Floyd_Connelly_66843218-a9f9-4f16-8347-bdc2a0d14265.json":       {reports: 9},
	"synthea-generated-sample-data/Fredrick_Kris_ec6a5bb6-b412-4bb6-8219-11d66f52ae8b.json":        {reports: 5},
	"synthea-generated-sample-data/LICENSE":                                                        {code: fhir.CodeNotJSON},
	"synthea-generated-sample-data/hospitalInformation1559319163815.json":                          {code: fhir.CodeNoReport}, // Bundle transaction
}

// examplesDir returns ../shared/fhir/examples (from the module root) or
// skips the test.
func examplesDir(t testing.TB) string {
	t.Helper()
	dir, err := fhirschema.SharedDir()
	if err != nil {
		t.Skipf("skipping: shared FHIR examples not available (../shared/fhir from the module root): %v", err)
	}
	return filepath.Join(dir, "examples")
}

func exampleFiles(t *testing.T) (string, []string) {
	dir := examplesDir(t)
	var files []string
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func errCode(err error) string {
	var fe *fhir.Error
	if err == nil {
		return ""
	}
	if !errors.As(err, &fe) {
		return "not *fhir.Error: " + err.Error()
	}
	return fe.Code
}

func TestExamples(t *testing.T) {
	dir, files := exampleFiles(t)
	seen := map[string]bool{}
	total := 0
	for _, rel := range files {
		w, ok := exampleOutcomes[rel]
		if !ok {
			t.Errorf("%s: no expectation in exampleOutcomes", rel)
			continue
		}
		seen[rel] = true
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if w.lines != "" {
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 16<<20)
			n := 0
			for sc.Scan() {
				if len(bytes.TrimSpace(sc.Bytes())) == 0 {
					continue
				}
				n++
				_, err := fhir.ParseMessage(sc.Bytes())
				if got := errCode(err); got != w.lines {
					t.Errorf("%s line %d: got %q (%v), want %s", rel, n, got, err, w.lines)
				}
				// Each line is itself a valid typed resource.
				if _, err := fhir.Decode(sc.Bytes()); err != nil {
					t.Errorf("%s line %d: Decode: %v", rel, n, err)
				}
			}
			if n == 0 {
				t.Errorf("%s: no lines", rel)
			}
			continue
		}
		m, err := fhir.ParseMessage(data)
		if w.code != "" {
			if got := errCode(err); got != w.code {
				t.Errorf("%s: got %q (%v), want %s", rel, got, err, w.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if len(m.Reports) != w.reports {
			t.Errorf("%s: %d reports, want %d", rel, len(m.Reports), w.reports)
		}
		total += len(m.Reports)
		for _, r := range m.Reports {
			if !json.Valid(r.Raw) || !bytes.Contains(r.Raw, []byte(`"DiagnosticReport"`)) {
				t.Errorf("%s %s: Raw is not the report's JSON", rel, r.Path)
			}
			if c, err := fhir.Canonical(r.Report, nil); err != nil || len(c) == 0 {
				t.Errorf("%s %s: canonical form: %v", rel, r.Path, err)
			}
			for _, o := range r.Results {
				if !json.Valid(o.Raw) || o.Obs == nil {
					t.Errorf("%s %s: bad result %s", rel, r.Path, o.Path)
				}
			}
		}
	}
	for rel := range exampleOutcomes {
		if !seen[rel] {
			t.Errorf("%s: expected file not found", rel)
		}
	}
	if total != 51 {
		t.Errorf("%d DiagnosticReports in the examples, want 51 (33 HL7 + 18 Synthea)", total)
	}
}

func TestExamplesNonReportRootMessage(t *testing.T) {
	dir := examplesDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "hl7-r4-examples/Observation/Observation-f001.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fhir.ParseMessage(data)
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Code != fhir.CodeResourceType || fe.Msg != "root must be a Bundle or DiagnosticReport, got Observation" {
		t.Fatalf("got %#v", err)
	}
}

// TestExamplesResolution checks reference resolution on known examples.
func TestExamplesResolution(t *testing.T) {
	dir := examplesDir(t)
	parse := func(rel string) *fhir.Message {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		m, err := fhir.ParseMessage(data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Relative refs against an absolute fullUrl base.
	m := parse("hl7-r4-examples/Bundle/Bundle-101.json")
	r := m.Reports[0]
	if r.FullURL != "https://example.com/base/DiagnosticReport/101" || len(r.Results) != 17 || r.Results[0].Path != "Bundle.entry[1].resource" {
		t.Errorf("Bundle-101: %+v", r)
	}
	if r.Subject != nil || len(r.Unresolved) != 2 || r.Unresolved[0].Path != "Bundle.entry[0].resource.subject" {
		t.Errorf("Bundle-101 unresolved: %+v", r.Unresolved)
	}
	// Nested bundles: each report resolves in its own inner bundle.
	m = parse("hl7-r4-examples/Bundle/Bundle-72ac8493-52ac-41bd-8d5d-7258c289b5ea.json")
	r = m.Reports[1]
	if r.Path != "Bundle.entry[1].resource.entry[0].resource" || len(r.Results) != len(r.Report.GetResult()) ||
		!strings.HasPrefix(r.Results[0].Path, "Bundle.entry[1].resource.entry[") {
		t.Errorf("nested: %s %d/%d", r.Path, len(r.Results), len(r.Report.GetResult()))
	}
	// urn:uuid references; display-only performer.
	m = parse("hl7-r4-examples/Bundle/Bundle-hla-1.json")
	if r := m.Reports[0]; len(r.Results) != 3 {
		t.Errorf("hla-1: %d results", len(r.Results))
	}
	m = parse("hl7-r4-examples/Bundle/Bundle-micro.json")
	if r := m.Reports[0]; len(r.PerformerRefs) != 1 || r.PerformerRefs[0].GetDisplay().GetValue() != "Todd Ashby" || len(r.Performers) != 0 || len(r.BasedOn) != 1 {
		t.Errorf("micro: %+v", r)
	}
	// Synthea: urn:uuid subject resolves to the Patient.
	m = parse("synthea-generated-sample-data/Floyd_Connelly_66843218-a9f9-4f16-8347-bdc2a0d14265.json")
	for _, r := range m.Reports {
		if r.Subject == nil || len(r.Results) != len(r.Report.GetResult()) || len(r.Unresolved) != 0 {
			t.Errorf("synthea %s: subject=%v results %d/%d unresolved %v", r.Path, r.Subject != nil, len(r.Results), len(r.Report.GetResult()), r.Unresolved)
		}
	}
}

// jsonEqual reports whether a and b are the same JSON value (numbers
// compared by their text).
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	for _, p := range []struct {
		d []byte
		v *any
	}{{a, &x}, {b, &y}} {
		dec := json.NewDecoder(bytes.NewReader(p.d))
		dec.UseNumber()
		if err := dec.Decode(p.v); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
	}
	return reflect.DeepEqual(x, y)
}

// TestExamplesRoundTrip: every example resource decodes strictly (all
// resource types of this package, Bundles included), Marshal(Decode(x)) is
// JSON-equivalent to x, and what we would serve passes the R4 schema.
func TestExamplesRoundTrip(t *testing.T) {
	dir, files := exampleFiles(t)
	v := fhirschema.Require(t)
	for _, rel := range files {
		if !strings.HasSuffix(rel, ".json") || strings.HasSuffix(rel, "package.json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Decode(data)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		out, err := fhir.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, data, out) {
			t.Errorf("%s: Marshal(Decode(x)) differs from x", rel)
			continue
		}
		if len(data) > 200_000 {
			continue // the big bundles: validated per report below
		}
		if err := v.Validate(out); err != nil {
			t.Errorf("%s: marshalled resource fails the schema: %v", rel, err)
		}
	}
	// Reports and their results, as the hub serves them.
	for rel, w := range exampleOutcomes {
		if w.reports == 0 {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(dir, rel))
		m, err := fhir.ParseMessage(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range m.Reports {
			out, _ := fhir.Marshal(r.Report)
			if err := v.Validate(out); err != nil {
				t.Errorf("%s %s: %v", rel, r.Path, err)
			}
			for _, o := range r.Results {
				out, _ := fhir.Marshal(o.Obs)
				if err := v.Validate(out); err != nil {
					t.Errorf("%s %s: %v", rel, o.Path, err)
				}
			}
		}
	}
}
