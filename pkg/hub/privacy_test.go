package hub_test

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mrhub/mrhub/pkg/testenv"
)

// escape writes s as \uXXXX escapes, every character (all) or every other one.
func escape(s string, all bool) string {
	var b strings.Builder
	for i, c := range s {
		if all || i%2 == 0 {
			fmt.Fprintf(&b, `\u%04x`, c)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// TestEscapedIdentityNumbersAreNeverStoredServedLoggedOrPublished publishes through the broker
// reports whose resident ID and insurance number are written with \uXXXX escapes, wholly or in
// part, in a Patient entry, a contained Patient, subject.identifier and a conditional
// reference. They are indexed and found by the plain number, and neither the plain nor any
// escaped spelling is in a pg_dump of the database, the hub's log, the index topic or any HTTP
// answer.
func TestEscapedIdentityNumbersAreNeverStoredServedLoggedOrPublished(t *testing.T) {
	l := startHub(t)
	var nid string
	for seq := 500; ; seq++ {
		if nid = testenv.NID(seq); strings.HasSuffix(nid, "X") {
			break
		}
	}
	const ins = "QXINS20261120"
	whole, part := escape(nid, true), escape(strings.ToLower(nid), false)
	insEsc := escape(ins, true)
	idents := func(n, i string) string {
		return `[{"system":"http://mrhub.example/sid/resident-id","value":"` + n + `"},{"system":"http://mrhub.example/sid/insurance","value":"` + i + `"}]`
	}
	report := func(id, contained, subject, extra string) string {
		return `{"fullUrl":"urn:uuid:` + id + `","resource":{"resourceType":"DiagnosticReport",` + contained + `"status":"final",
			"identifier":[{"system":"http://his.qx001.example/report","value":"` + id + `"}],
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"LAB"}]}],
			"code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}]},"subject":` + subject + `,
			"performer":[{"identifier":{"system":"https://mrhub.example/sid/uscc","value":"` + district + `"}}],
			"effectiveDateTime":"2026-11-20T08:30:00+08:00","issued":"2026-11-20T10:00:00+08:00"` + extra + `}}`
	}
	msgs := [][]byte{
		// A Patient entry, wholly escaped; its Observation names the patient by subject.identifier, partly escaped.
		[]byte(`{"resourceType":"Bundle","type":"collection","entry":[` +
			report("E1", "", `{"reference":"urn:uuid:p1"}`, `,"result":[{"reference":"urn:uuid:o1"}]`) + `,
			{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","identifier":` + idents(whole, insEsc) + `}},
			{"fullUrl":"urn:uuid:o1","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"6690-2"}]},
			 "subject":{"identifier":{"system":"http://mrhub.example/sid/resident-id","value":"` + part + `"}},"valueQuantity":{"value":5.2,"unit":"10*9/L"}}}]}`),
		// A contained Patient, partly escaped, lower-case check letter.
		[]byte(`{"resourceType":"Bundle","type":"collection","entry":[` +
			report("E2", `"contained":[{"resourceType":"Patient","id":"p","identifier":`+idents(part, ins)+`}],`, `{"reference":"#p"}`, "") + `]}`),
		// subject.identifier, wholly escaped, with the number in the display too.
		[]byte(`{"resourceType":"Bundle","type":"collection","entry":[` +
			report("E3", "", `{"identifier":{"system":"http://mrhub.example/sid/resident-id","value":"`+whole+`"},"display":"`+part+`"}`, "") + `]}`),
		// A conditional reference, escaped in part.
		[]byte(`{"resourceType":"Bundle","type":"collection","entry":[` +
			report("E4", "", `{"reference":"Patient?identifier=http://mrhub.example/sid/resident-id|`+part+`"}`, "") + `]}`),
	}
	l.publish(district, msgs...)
	var n int
	if err := l.pool.QueryRow(context.Background(), `SELECT count(DISTINCT patient_id) FROM reports`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d patients for one resident ID in four spellings", n)
	}
	if err := l.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d reports indexed (%v), want 4", n, err)
	}

	spellings := []string{nid, strings.ToLower(nid), whole, part, ins, insEsc,
		strings.ToUpper(whole), strings.ToUpper(part), nid[:17]}
	check := func(where, text string) {
		t.Helper()
		for _, s := range spellings {
			if strings.Contains(text, s) || strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
				t.Errorf("%s holds %q", where, s)
			}
		}
	}

	// HTTP answers, found by the plain number.
	q := url.QueryEscape("http://mrhub.example/sid/resident-id|" + nid)
	st, body := l.get("/fhir/DiagnosticReport?patient.identifier=" + q)
	if st != 200 || len(ids(t, body)) != 4 {
		t.Fatalf("search by the plain number: %d %s", st, body)
	}
	check("GET /fhir/DiagnosticReport?patient.identifier", string(body))
	paths := []string{"/fhir/Observation?patient.identifier=" + q, "/fhir/Patient?identifier=" + q,
		"/fhir/DiagnosticReport?patient.identifier=" + url.QueryEscape("http://mrhub.example/sid/insurance|"+ins),
		"/api/v1/recognizable?view=full&patient=" + q}
	for _, id := range ids(t, body) {
		paths = append(paths, "/fhir/DiagnosticReport/"+id, "/fhir/DiagnosticReport/"+id+"/_history", "/api/v1/reports/"+id)
	}
	for _, p := range paths {
		st, b := l.get(p)
		if st != 200 {
			t.Errorf("GET %s: %d %s", p, st, b)
		}
		check("GET "+p, string(b))
	}

	// The index topic.
	for _, m := range testenv.ReadAll(t, l.cfg.KafkaBrokers, l.cfg.TopicIndex, 4, 10*time.Second) {
		text := string(m.Key) + string(m.Value)
		for _, h := range m.Headers {
			text += h.Key + string(h.Value)
		}
		check("the index topic", text)
	}

	// The database.
	out, err := exec.Command("pg_dump", "--no-owner", "--dbname="+l.cfg.DatabaseURL).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !strings.Contains(string(out), "COPY public.report_versions") {
		t.Fatalf("pg_dump holds no report_versions: %.500s", out)
	}
	// COPY text doubles backslashes: undo it, so that an escaped spelling reads as it was stored.
	check("pg_dump", strings.ReplaceAll(string(out), `\\`, `\`))

	// The hub's log, every entry with its fields.
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	entries := l.logs.All()
	for _, e := range entries {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		check("the log", buf.String())
		buf.Free()
	}
	t.Logf("checked %d log entries, %d HTTP answers, a %d-byte pg_dump", len(entries), len(paths)+1, len(out))
}
