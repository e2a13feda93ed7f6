package fhir_test

import (
	"errors"
	"testing"

	"github.com/mrhub/mrhub/pkg/fhir"
)

// FuzzParseMessage: no input panics; every error is an *fhir.Error with a
// known code; every accepted report re-encodes to JSON that decodes again.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(dr + `,"contained":[{"resourceType":"Patient","id":"p"}],"subject":{"reference":"#p"}}`))
	codes := map[string]bool{fhir.CodeNotJSON: true, fhir.CodeNotObject: true, fhir.CodeResourceType: true, fhir.CodeUnknownElement: true,
		fhir.CodeInvalid: true, fhir.CodeRequired: true, fhir.CodeNoReport: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := fhir.ParseMessage(data)
		if err != nil {
			var fe *fhir.Error
			if !errors.As(err, &fe) || !codes[fe.Code] {
				t.Fatalf("bad error %T %v", err, err)
			}
			return
		}
		if len(m.Reports) == 0 {
			t.Fatal("accepted message without reports")
		}
		for _, r := range m.Reports {
			out, err := fhir.Marshal(r.Report)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fhir.Decode(out); err != nil {
				t.Fatalf("re-encoded report does not decode: %v\n%s", err, out)
			}
		}
	})
}
