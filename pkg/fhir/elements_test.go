package fhir_test

import (
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir"
)

func TestResourceElements(t *testing.T) {
	for _, c := range []struct {
		typ, mandatory string
		keys           map[string]string // JSON property → base element ("" = none)
		summary        []string
		notSummary     []string
	}{
		{"DiagnosticReport", "code,status",
			map[string]string{"effectiveDateTime": "effective", "effectivePeriod": "effective", "_status": "status", "imagingStudy": "imagingStudy",
				"resourceType": "", "effectiveInstant": "", "valueQuantity": ""},
			[]string{"id", "meta", "status", "code", "subject", "effective", "issued", "performer", "category"},
			[]string{"result", "imagingStudy", "conclusion", "presentedForm", "text", "contained", "basedOn"}},
		{"Observation", "code,status",
			map[string]string{"valueQuantity": "value", "valueString": "value", "valueCodeableConcept": "value", "_valueString": "value", "component": "component"},
			[]string{"value", "component", "hasMember", "derivedFrom"},
			[]string{"category", "interpretation", "referenceRange", "note"}},
		{"ImagingStudy", "status,subject",
			map[string]string{"started": "started", "numberOfSeries": "numberOfSeries", "series": "series"},
			[]string{"modality", "series", "started"},
			[]string{"text"}},
		{"Patient", "",
			map[string]string{"deceasedBoolean": "deceased", "deceasedDateTime": "deceased", "multipleBirthInteger": "multipleBirth", "birthDate": "birthDate"},
			[]string{"identifier", "name", "gender", "birthDate", "deceased", "link"},
			[]string{"contact", "photo", "multipleBirth"}},
	} {
		e, ok := fhir.ResourceElements(c.typ)
		if !ok {
			t.Fatalf("%s: no elements", c.typ)
		}
		if got := strings.Join(e.Mandatory(), ","); got != c.mandatory {
			t.Errorf("%s mandatory = %q, want %q", c.typ, got, c.mandatory)
		}
		for k, want := range c.keys {
			got, ok := e.Base(k)
			if got != want || ok != (want != "") {
				t.Errorf("%s.Base(%q) = %q, %v; want %q", c.typ, k, got, ok, want)
			}
		}
		for _, n := range c.summary {
			if !e.IsSummary(n) {
				t.Errorf("%s.%s is a summary element", c.typ, n)
			}
		}
		for _, n := range c.notSummary {
			if e.IsSummary(n) {
				t.Errorf("%s.%s is not a summary element", c.typ, n)
			}
		}
	}
	if _, ok := fhir.ResourceElements("Encounter"); ok {
		t.Errorf("Encounter is not a type the hub serves")
	}
	e, _ := fhir.ResourceElements("ImagingStudy")
	if kids := e.NestedSummary("series"); kids == nil || kids["instance"] || !kids["uid"] {
		t.Errorf("ImagingStudy.series summary children: %v", kids)
	}
}
