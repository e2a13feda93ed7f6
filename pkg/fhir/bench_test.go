package fhir

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkParseMessage parses a ~4 KB collection Bundle: one
// DiagnosticReport with 8 Observations, a Patient and an Organization —
// the hub's typical message. The msgs/s metric is per core.
func BenchmarkParseMessage(b *testing.B) {
	data, err := os.ReadFile("testdata/bench-cbc-bundle.json")
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, data)
}

func benchParse(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseMessage(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Reports) != 1 || len(m.Reports[0].Results) != 8 {
			b.Fatal("unexpected message view")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkParseMessageSortedKeys parses the same Bundle with every object's keys sorted, as
// publishers that marshal maps send it (and as `mrhub bench ingest` does): resourceType comes
// late, so each resource's type is looked up ahead before it is decoded.
func BenchmarkParseMessageSortedKeys(b *testing.B) {
	data, err := os.ReadFile("testdata/bench-cbc-bundle.json")
	if err != nil {
		b.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		b.Fatal(err)
	}
	if data, err = json.Marshal(v); err != nil {
		b.Fatal(err)
	}
	benchParse(b, data)
}

// BenchmarkParseMessage100K parses a ~100 KB collection Bundle: one DiagnosticReport with 88
// Observations.
func BenchmarkParseMessage100K(b *testing.B) {
	data, err := os.ReadFile("testdata/bench-100k-bundle.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanonical writes the canonical form of the bench report and its 8 results, as the
// profile does for every report it indexes.
func BenchmarkCanonical(b *testing.B) {
	data, err := os.ReadFile("testdata/bench-cbc-bundle.json")
	if err != nil {
		b.Fatal(err)
	}
	m, err := ParseMessage(data)
	if err != nil {
		b.Fatal(err)
	}
	r := m.Reports[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonical(r.Report, nil); err != nil {
			b.Fatal(err)
		}
		for _, o := range r.Results {
			if _, err := Canonical(o.Obs, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
