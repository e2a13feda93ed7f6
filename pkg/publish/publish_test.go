package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/publish"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// Every example file is either sent or refused with a reason that matches what it is, and what
// was sent arrives on the topic.
func TestPublishExamplesReportsPerFile(t *testing.T) {
	shared := testenv.MustShared(t, "publishing ../shared/fhir/examples")
	dir := filepath.Join(shared, "fhir", "examples")
	extra := t.TempDir()
	must := func(name, body string) {
		if err := os.WriteFile(filepath.Join(extra, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	must("broken.json", `{"resourceType": "Bundle", "entry": [`)
	must("notfhir.json", `{"hello": "world"}`)
	must("invalid.json", `{"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "x"}, "effectiveDateTime": "2024-13-01"}`)
	must("big.json", `{"resourceType":"DiagnosticReport","conclusion":"`+strings.Repeat("x", 2<<20)+`"}`)

	opts := publish.Options{Source: testenv.HospitalA, MaxBytes: 1 << 20, Decoder: fhir.NewDecoder(nil)}
	items, err := publish.Collect([]string{dir, extra}, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantAccepted := 0
	for _, it := range items {
		// Independent oracle: what the document's root is.
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		jsonErr := json.Unmarshal(it.Value, &head)
		base := filepath.Base(strings.SplitN(it.Name, ":", 2)[0])
		switch {
		case base == "invalid.json":
			if !strings.HasPrefix(it.Reason, "the hub would dead-letter it: fhir.invalid: DiagnosticReport.effectiveDateTime") {
				t.Errorf("%s: reason %q, want the hub's fhir.invalid at effectiveDateTime", it.Name, it.Reason)
			}
		case base == "big.json":
			if !strings.HasPrefix(it.Reason, "too big") {
				t.Errorf("%s: reason %q, want too big", it.Name, it.Reason)
			}
		case jsonErr != nil:
			if !strings.HasPrefix(it.Reason, "not JSON") {
				t.Errorf("%s: reason %q, want not JSON", it.Name, it.Reason)
			}
		case head.ResourceType == "":
			if !strings.HasPrefix(it.Reason, "not FHIR") {
				t.Errorf("%s: reason %q, want not FHIR", it.Name, it.Reason)
			}
		case (head.ResourceType == "Bundle" || head.ResourceType == "DiagnosticReport") && !holdsReport(it.Value):
			// Every example is valid R4 (pkg/fhir's example test); one without a report is what
			// the hub dead-letters as fhir.no_report, and the local check says so.
			if !strings.HasPrefix(it.Reason, "the hub would dead-letter it: fhir.no_report") {
				t.Errorf("%s: reason %q, want the hub's fhir.no_report", it.Name, it.Reason)
			}
		case head.ResourceType == "Bundle" || head.ResourceType == "DiagnosticReport":
			if it.Reason != "" {
				t.Errorf("%s: refused (%s), want sent", it.Name, it.Reason)
			}
			if !strings.HasPrefix(it.Key, testenv.HospitalA+"|") {
				t.Errorf("%s: key %q does not start with the source", it.Name, it.Key)
			}
			wantAccepted++
		default:
			if !strings.Contains(it.Reason, "resourceType "+head.ResourceType) {
				t.Errorf("%s: reason %q, want it to name resourceType %s", it.Name, it.Reason, head.ResourceType)
			}
		}
	}
	if wantAccepted < 20 {
		t.Fatalf("only %d example documents are Bundles or DiagnosticReports; the examples changed?", wantAccepted)
	}

	b := testenv.Broker(t, 3)
	w := bus.NewWriter(b.Addrs(), config.TopicReports, nil)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress bytes.Buffer
	opts.Progress = &progress
	sum, err := publish.Send(ctx, w, items, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != wantAccepted || sum.Sent+sum.Refused != len(items) {
		t.Fatalf("summary sent %d refused %d of %d; want sent %d", sum.Sent, sum.Refused, len(items), wantAccepted)
	}
	var out bytes.Buffer
	sum.Print(&out)
	for _, r := range sum.Refusals {
		if !strings.Contains(out.String(), "refused "+r.Name+": ") {
			t.Errorf("summary does not list %s", r.Name)
		}
	}
	got := testenv.ReadAll(t, b.Addrs(), config.TopicReports, wantAccepted, 20*time.Second)
	if len(got) != wantAccepted {
		t.Fatalf("topic holds %d messages, want %d", len(got), wantAccepted)
	}
	for _, m := range got {
		if bus.Header(m, bus.HeaderSource) != testenv.HospitalA {
			t.Fatalf("message without mrhub-source header")
		}
	}
}

// holdsReport reports whether a JSON document holds a DiagnosticReport anywhere (read with
// encoding/json, independently of the FHIR decoder).
func holdsReport(b []byte) bool {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			if x["resourceType"] == "DiagnosticReport" {
				return true
			}
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
