package fhir

import (
	"encoding/json"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"
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
func BenchmarkCanonical(b *testing.B) { benchCanonical(b, Canonical) }

// BenchmarkCanonicalByClone is BenchmarkCanonical through a normalised copy marshalled by the
// protobuf library (the definition the encoder matches byte for byte).
func BenchmarkCanonicalByClone(b *testing.B) { benchCanonical(b, canonicalByClone) }

func benchCanonical(b *testing.B, canonical func(proto.Message, func(string) string) ([]byte, error)) {
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
		if _, err := canonical(r.Report, nil); err != nil {
			b.Fatal(err)
		}
		for _, o := range r.Results {
			if _, err := canonical(o.Obs, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecoders decodes the bench report (as sent and with sorted keys)
// and the 100 KB Bundle with the library's validating unmarshaller and with
// the one-pass decoder, side by side; the one-pass sub-benchmarks also report
// the ratio of the library's ns/op (measured in the same run) to theirs.
func BenchmarkDecoders(b *testing.B) {
	cbc, err := os.ReadFile("testdata/bench-cbc-bundle.json")
	if err != nil {
		b.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(cbc, &v); err != nil {
		b.Fatal(err)
	}
	sorted, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	big, err := os.ReadFile("testdata/bench-100k-bundle.json")
	if err != nil {
		b.Fatal(err)
	}
	d := NewDecoder(nil)
	for _, in := range []struct {
		name string
		data []byte
	}{{"report", cbc}, {"report-sorted-keys", sorted}, {"bundle-100k", big}} {
		var libNs float64
		b.Run(in.name+"/library", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.library(in.data); err != nil {
					b.Fatal(err)
				}
			}
			libNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(in.name+"/one-pass", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := fastDecode(in.data, d.loc); !ok {
					b.Fatal("the one-pass decoder left the bench message to the library")
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if libNs > 0 {
				b.ReportMetric(libNs/ns, "x_faster_than_library")
			}
		})
	}
}
