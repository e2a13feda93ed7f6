package fhirschema_test

import (
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
)

func TestSchemaBasics(t *testing.T) {
	v := fhirschema.Require(t)
	ok := []byte(`{"resourceType":"Patient","id":"p1","gender":"male"}`)
	if err := v.Validate(ok); err != nil {
		t.Fatalf("valid patient rejected: %v", err)
	}
	for _, bad := range []string{
		`{"resourceType":"Patient","foo":1}`,
		`{"resourceType":"Patient","gender":"m"}`,
		`{"resourceType":"Patient","birthDate":null}`,
		`{"resourceType":"NoSuchThing"}`,
	} {
		if err := v.Validate([]byte(bad)); err == nil {
			t.Errorf("schema accepted %s", bad)
		}
	}
	// The 4.0.1 patch: CapabilityStatement.fhirVersion.
	cs := []byte(`{"resourceType":"CapabilityStatement","status":"active","date":"2024-01-01","kind":"instance","fhirVersion":"4.0.1","format":["json"]}`)
	if err := fhirschema.Validate(cs); err != nil {
		t.Fatalf("fhirVersion 4.0.1 rejected: %v", err)
	}
}
