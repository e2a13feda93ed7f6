package reports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

const (
	sysResidentID = "http://mrhub.example/sid/resident-id"
	sysInsurance  = "http://mrhub.example/sid/insurance"
	sysUSCC       = "https://mrhub.example/sid/uscc"
)

// containedReport is a root DiagnosticReport whose Patient (and performer) are contained
// resources: the identity numbers travel inside the report itself.
func containedReport(id, nid, ins string) []byte {
	pid := []any{map[string]any{"system": sysResidentID, "value": nid}}
	if ins != "" {
		pid = append(pid, map[string]any{"system": sysInsurance, "value": ins})
	}
	return mustJSON(map[string]any{
		"resourceType": "DiagnosticReport", "status": "final",
		"contained": []any{
			map[string]any{"resourceType": "Patient", "id": "pat", "identifier": pid, "name": []any{map[string]any{"text": "李四"}}},
			map[string]any{"resourceType": "Organization", "id": "org", "identifier": []any{map[string]any{"system": sysUSCC, "value": testenv.HospitalA}}},
		},
		"identifier":        []any{map[string]any{"system": "http://his.a.example/report-id", "value": id}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": testenv.LabCodeSystem, "code": testenv.LabCodeCBC}}},
		"subject":           map[string]any{"reference": "#pat", "display": "李四"},
		"performer":         []any{map[string]any{"reference": "#org"}},
		"effectiveDateTime": "2026-10-20T08:30:00+08:00", "issued": "2026-10-20T10:30:00+08:00",
	})
}

// logicalReport is a root DiagnosticReport naming its patient by identifier only.
func logicalReport(id, nid string) []byte {
	return mustJSON(map[string]any{
		"resourceType": "DiagnosticReport", "status": "final",
		"identifier":        []any{map[string]any{"system": "http://his.a.example/report-id", "value": id}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": testenv.LabCodeSystem, "code": testenv.LabCodeCBC}}},
		"subject":           map[string]any{"identifier": map[string]any{"system": sysResidentID, "value": nid}},
		"performer":         []any{map[string]any{"identifier": map[string]any{"system": sysUSCC, "value": testenv.HospitalA}}},
		"effectiveDateTime": "2026-10-20T08:30:00+08:00",
	})
}

// conditionalBundle is a Bundle whose report and observations reference the Patient by a
// conditional reference that spells out the resident ID.
func conditionalBundle(id, nid string) []byte {
	cond := "Patient?identifier=" + sysResidentID + "|" + nid
	return mustJSON(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": []any{
		map[string]any{"fullUrl": "urn:uuid:6f1c0a52-0000-4000-8000-000000000001", "resource": map[string]any{
			"resourceType": "DiagnosticReport", "status": "final",
			"identifier":        []any{map[string]any{"system": "http://his.a.example/report-id", "value": id}},
			"code":              map[string]any{"coding": []any{map[string]any{"system": testenv.LabCodeSystem, "code": testenv.LabCodeCBC}}},
			"subject":           map[string]any{"reference": cond},
			"performer":         []any{map[string]any{"reference": "urn:uuid:6f1c0a52-0000-4000-8000-000000000003"}},
			"result":            []any{map[string]any{"reference": "urn:uuid:6f1c0a52-0000-4000-8000-000000000004"}},
			"effectiveDateTime": "2026-10-20T08:30:00+08:00"}},
		map[string]any{"fullUrl": "urn:uuid:6f1c0a52-0000-4000-8000-000000000002", "resource": map[string]any{
			"resourceType": "Patient", "identifier": []any{map[string]any{"system": sysResidentID, "value": nid}}}},
		map[string]any{"fullUrl": "urn:uuid:6f1c0a52-0000-4000-8000-000000000003", "resource": map[string]any{
			"resourceType": "Organization", "identifier": []any{map[string]any{"system": sysUSCC, "value": testenv.HospitalA}}}},
		map[string]any{"fullUrl": "urn:uuid:6f1c0a52-0000-4000-8000-000000000004", "resource": map[string]any{
			"resourceType": "Observation", "status": "final",
			"code":          map[string]any{"coding": []any{map[string]any{"system": testenv.LOINC, "code": "6690-2"}}},
			"subject":       map[string]any{"reference": cond, "identifier": map[string]any{"system": sysResidentID, "value": nid}},
			"valueQuantity": map[string]any{"value": 5.5, "unit": "10*9/L"}}},
	}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// secretForms are the spellings of an identity number that must not appear anywhere: the whole
// number in both cases and the part that masking hides.
func secretForms(id string) []string {
	forms := []string{id, strings.ToLower(id), strings.ToUpper(id)}
	if len(id) == 18 {
		forms = append(forms, id[4:14]) // the masked-away middle (area tail + birth date)
	} else if len(id) > 8 {
		forms = append(forms, id[:len(id)-4])
	}
	return forms
}

// TestNoPlaintextIdentityNumberLeaves publishes reports carrying resident IDs and insurance
// numbers in every reference style the profile accepts, plus reports that are dead-lettered
// (an invalid resident ID, a publisher without rights), and then searches every column of every
// table, every log entry at debug level, and every index and dead-letter record (values and
// headers) for the numbers.
func TestNoPlaintextIdentityNumberLeaves(t *testing.T) {
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 2)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions, cfg.Consumers = 2, 1
	cfg.LogLevel = "debug"

	core, logs := observer.New(zapcore.DebugLevel)
	h, err := hub.Open(context.Background(), cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := h.Serve(ctx, nil); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	nidX := ""
	for seq := 500; nidX == ""; seq++ {
		if id := testenv.NID(seq); strings.HasSuffix(id, "X") {
			nidX = id
		}
	}
	nids := []string{testenv.NID(301), testenv.NID(302), testenv.NID(303), testenv.NID(304), nidX, testenv.NID(306)}
	ins := "33ZJ99887766554"
	badNID := testenv.NID(307)[:17] + string("0123456789"[(int(testenv.NID(307)[17]-'0')+1)%10])
	if testenv.NID(307)[17] == 'X' {
		badNID = testenv.NID(307)[:17] + "0"
	}
	indexed := [][]byte{
		testenv.Report{Performer: testenv.HospitalA, ID: "PT-1", NID: nids[0], MRN: "M-301", Name: "张三", Gender: "male", BirthDate: "1970-01-01"}.JSON(),
		containedReport("PT-2", nids[1], ins),
		logicalReport("PT-3", nids[2]),
		conditionalBundle("PT-4", nids[3]),
		testenv.Report{Performer: testenv.HospitalA, ID: "PT-5", NID: strings.ToLower(nidX)}.JSON(),
	}
	rejected := [][]byte{
		testenv.Report{Performer: testenv.HospitalA, ID: "PT-BAD", NID: badNID, MRN: "M-307"}.JSON(),
		testenv.Report{Performer: testenv.HospitalB, ID: "PT-RIGHTS", NID: nids[5]}.JSON(), // published by HospitalA: no rights
	}
	testenv.Publish(t, b.Addrs(), config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint("pt-", i) },
		append(append([][]byte{}, indexed...), rejected...)...)

	testenv.WaitFor(t, 60*time.Second, "reports indexed and outbox drained", func() bool {
		var n, pending, offs int
		_ = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM outbox),
			(SELECT COALESCE(sum(next_offset),0) FROM ingest_offsets)`).Scan(&n, &pending, &offs)
		return n == len(indexed) && pending == 0 && offs == len(indexed)+len(rejected)
	})

	secrets := map[string]string{} // form -> what it is
	for i, n := range append(append([]string{}, nids...), badNID) {
		for _, f := range secretForms(n) {
			secrets[f] = fmt.Sprintf("resident ID #%d", i)
		}
	}
	for _, f := range secretForms(ins) {
		secrets[f] = "insurance number"
	}

	// 1. Database: every text-like, json and bytea column of every table.
	cols, err := pool.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type IN ('text','character varying','character','jsonb','json','bytea')
		ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, name, typ string }
	var all []col
	for cols.Next() {
		var c col
		if err := cols.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	cols.Close()
	searched := map[string]bool{}
	for _, c := range all {
		searched[c.table+"."+c.name] = true
		expr := pgx.Identifier{c.name}.Sanitize() + "::text"
		if c.typ == "bytea" {
			expr = "encode(" + pgx.Identifier{c.name}.Sanitize() + ", 'escape')"
		}
		for form, what := range secrets {
			var n int
			q := `SELECT count(*) FROM ` + pgx.Identifier{c.table}.Sanitize() + ` WHERE strpos(` + expr + `, $1) > 0`
			if err := pool.QueryRow(ctx, q, form).Scan(&n); err != nil {
				t.Fatalf("%s.%s: %v", c.table, c.name, err)
			}
			if n > 0 {
				t.Errorf("database: %s.%s holds a plaintext %s (%d rows)", c.table, c.name, what, n)
			}
		}
	}
	for _, must := range []string{"report_versions.resource", "observations.resource", "patient_identifiers.masked", "outbox.value", "reports.natural_key"} {
		if !searched[must] {
			t.Errorf("column %s was not searched", must)
		}
	}
	// The data is there, masked: the search would have seen it.
	var masked int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM patient_identifiers WHERE kind = 'nid' AND masked LIKE '3302%'`).Scan(&masked)
	if masked != 5 {
		t.Errorf("masked resident IDs stored = %d, want 5", masked)
	}
	var resources int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM report_versions WHERE resource::jsonb ? 'resourceType'`).Scan(&resources)
	if resources != len(indexed) {
		t.Errorf("report versions with a resource = %d, want %d", resources, len(indexed))
	}

	// 2. Kafka: index and dead-letter topics, values and headers.
	idx := testenv.ReadAll(t, b.Addrs(), config.TopicIndex, len(indexed), 20*time.Second)
	if len(idx) != len(indexed) {
		t.Errorf("index events = %d, want %d", len(idx), len(indexed))
	}
	dlq := testenv.ReadAll(t, b.Addrs(), config.TopicDLQ, len(rejected), 20*time.Second)
	if len(dlq) != len(rejected) {
		t.Fatalf("dead letters = %d, want %d", len(dlq), len(rejected))
	}
	codes := map[string]bool{}
	for _, m := range idx {
		checkNoSecret(t, "index event value", m.Value, secrets)
		checkNoSecret(t, "index event key", m.Key, secrets)
		for _, hd := range m.Headers {
			checkNoSecret(t, "index event header "+hd.Key, hd.Value, secrets)
		}
	}
	for _, m := range dlq {
		codes[bus.Header(m, bus.HeaderErrorCode)] = true
		for _, hd := range m.Headers {
			checkNoSecret(t, "dead-letter header "+hd.Key, hd.Value, secrets)
		}
		checkNoSecret(t, "dead-letter key", m.Key, secrets)
		// The value is the original message, byte for byte, by contract (DESIGN.md, Topics).
		if !bytes.Equal(m.Value, rejected[0]) && !bytes.Equal(m.Value, rejected[1]) {
			t.Errorf("dead-letter value is not an original message")
		}
	}
	if !codes["identity.invalid_resident_id"] || !codes["rights.not_permitted"] {
		t.Errorf("dead-letter codes %v, want identity.invalid_resident_id and rights.not_permitted", codes)
	}

	// 3. Logs, every level, message and fields.
	cancel()
	wg.Wait()
	entries := logs.All()
	if len(entries) == 0 {
		t.Fatal("no log entries captured: the observer is not wired")
	}
	for _, e := range entries {
		line, _ := json.Marshal(e.ContextMap())
		checkNoSecret(t, "log entry "+e.Message, append([]byte(e.Message+" "+e.LoggerName+" "), line...), secrets)
	}
}

func checkNoSecret(t *testing.T, where string, b []byte, secrets map[string]string) {
	t.Helper()
	for form, what := range secrets {
		if bytes.Contains(b, []byte(form)) {
			t.Errorf("%s carries a plaintext %s", where, what)
		}
	}
}
