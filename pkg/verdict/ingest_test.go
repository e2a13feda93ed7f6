package verdict_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/publish"
	"github.com/mrhub/mrhub/pkg/replay"
	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/pkg/testenv"
)

type message struct {
	name, source string
	value        []byte
}

type outcome struct {
	Issue []struct {
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Details  struct {
			Coding []struct{ System, Code string } `json:"coding"`
		} `json:"details"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
	} `json:"issue"`
}

// verdictOf is what an OperationOutcome says: the dead-letter code ("" when accepted) and the
// actions per report id.
type verdictOf struct {
	refused  string
	path     string
	actions  map[string]string // report id → new|unchanged|version|history|withdrawal
	warnings []string
}

var (
	reportID   = regexp.MustCompile(`report ([0-9a-f]{32})`)
	residentID = regexp.MustCompile(`[1-9][0-9]{5}(19|20)[0-9]{9}[0-9X]`)
)

func parseOutcome(t *testing.T, name string, body []byte) verdictOf {
	t.Helper()
	var oo outcome
	if err := json.Unmarshal(body, &oo); err != nil {
		t.Fatalf("%s: $validate answered %s: %v", name, body, err)
	}
	v := verdictOf{actions: map[string]string{}}
	for _, is := range oo.Issue {
		code := ""
		if len(is.Details.Coding) > 0 {
			code = is.Details.Coding[0].Code
		}
		switch {
		case is.Severity == "error":
			v.refused = code
			if len(is.Expression) > 0 {
				v.path = is.Expression[0]
			}
		case is.Severity == "warning":
			v.warnings = append(v.warnings, code)
		case strings.HasPrefix(code, "hub.") && code != "hub.item" && code != "hub.patient_keys":
			m := reportID.FindStringSubmatch(is.Diagnostics)
			if m == nil {
				t.Fatalf("%s: action issue without a report id: %q", name, is.Diagnostics)
			}
			v.actions[m[1]] = strings.TrimPrefix(code, "hub.")
		}
	}
	return v
}

// Every example file and a set of good and bad messages from two institutions: the verdict of
// $validate is what ingest then does to the same bytes (dead-letter code, or what becomes of
// each report), and the publishing figures equal a recount from the topics, also after a
// restart and a reindex.
func TestValidateVerdictIsIngestsAndFiguresRecount(t *testing.T) {
	shared := testenv.MustShared(t, "the verdict of every example of ../shared/fhir/examples")
	ctx := context.Background()
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 1) // one partition: message i has offset i
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions = 1
	cfg.Consumers = 1
	cfg.MaxMessageBytes = 400 << 10 // the larger Synthea bundles are dead-lettered as too large
	log := zaptest.NewLogger(t)

	srcA, srcB := testenv.HospitalA, testenv.HospitalB
	var msgs []message
	add := func(source string, paths ...string) {
		items, err := publish.Collect(paths, publish.Options{Source: source, MaxBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			msgs = append(msgs, message{it.Name, source, it.Value})
		}
	}
	add(srcA, filepath.Join(shared, "fhir", "examples"), "../../docs/examples")
	add(srcB, "../../docs/examples")
	now := time.Now()
	fixture := func(source string, r testenv.Report) {
		msgs = append(msgs, message{fmt.Sprintf("fixture %s %s v%s %s", source, r.ID, r.VersionID, r.Status), source, r.JSON()})
	}
	v1 := testenv.Report{Performer: srcA, ID: "PUB-1", NID: testenv.NID(7001), Name: "甲", VersionID: "1",
		Effective: now.Add(-3 * time.Hour), Issued: now.Add(-2 * time.Hour)}
	fixture(srcA, v1)
	fixture(srcA, v1) // the same version again
	v2 := v1
	v2.VersionID, v2.Status, v2.Note = "2", "amended", "复核"
	fixture(srcA, v2)
	old := v1
	old.Note = "迟到的旧版本"
	fixture(srcA, old) // ranks below version 2: history
	v3 := v1
	v3.VersionID, v3.Status = "3", "entered-in-error"
	fixture(srcA, v3)
	fixture(srcA, testenv.Report{Performer: srcA, ID: "PUB-2", NID: "330299198603141011", Name: "乙"}) // bad check digit
	fixture(srcB, testenv.Report{Performer: srcB, ID: "PUB-3", NID: testenv.NID(7003), Name: "丙",
		Effective: now.Add(-30 * time.Hour), Issued: now.Add(-26 * time.Hour)}) // B's code map lacks the code: unmapped
	fixture(srcB, testenv.Report{Performer: srcA, ID: "PUB-4", NID: testenv.NID(7004), Name: "丁"}) // B may not publish A's report
	msgs = append(msgs, message{"broken json", srcB, []byte(`{"resourceType": "Bundle", "entry": [`)})
	if len(msgs) < 60 {
		t.Fatalf("only %d messages; the examples changed?", len(msgs))
	}

	h, err := hub.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: h.Catalog, Hasher: h.Hasher, Log: log, TokenCacheTTL: -1,
		Location: cfg.Location(), MaxMessageBytes: cfg.MaxMessageBytes})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = api.Close() })
	token := map[string]string{}
	for _, tk := range []struct{ role, org string }{{"his", srcA}, {"his", srcB}, {"admin", srcA}, {"bureau", srcA}} {
		s, err := auth.Create(ctx, pool, tk.role, tk.org, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		token[tk.role+tk.org] = s
	}
	call := func(method, path, tok string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}

	hctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := h.Serve(hctx, nil); err != nil {
			t.Errorf("hub: %v", err)
		}
	}()
	stopHub := func() { cancel(); wg.Wait() }
	defer stopHub()

	schema := fhirschema.Require(t)
	applied := func() int64 {
		var n int64
		_ = pool.QueryRow(ctx, `SELECT COALESCE(max(next_offset), 0) FROM ingest_offsets WHERE consumer = $1`, cfg.GroupID).Scan(&n)
		return n
	}
	verdicts := make([]verdictOf, len(msgs))
	for i, m := range msgs {
		// The verdict, then the same bytes through ingest, one message at a time so that the
		// stored versions the verdict reads are those ingest finds.
		path := "/fhir/$validate"
		body := m.value
		tok := token["his"+m.source]
		switch i % 3 { // the three routes and both body forms
		case 1:
			var head struct{ ResourceType string }
			if json.Unmarshal(m.value, &head) == nil && (head.ResourceType == "Bundle" || head.ResourceType == "DiagnosticReport") {
				path = "/fhir/" + head.ResourceType + "/$validate"
			}
		case 2:
			if json.Valid(m.value) {
				body = []byte(`{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + string(m.value) + `}]}`)
			}
			path = "/fhir/$validate?source=" + m.source
			tok = token["admin"+srcA]
		}
		status, out := call("POST", path, tok, body)
		if status != http.StatusOK {
			t.Fatalf("%s: $validate answered %d: %s", m.name, status, out)
		}
		if err := schema.Validate(out); err != nil {
			t.Fatalf("%s: the OperationOutcome is not valid FHIR R4: %v\n%s", m.name, err, out)
		}
		verdicts[i] = parseOutcome(t, m.name, out)
		if id := residentID.Find(out); id != nil {
			t.Fatalf("%s: the OperationOutcome holds an identity number in clear: %s", m.name, id)
		}
		if strings.Contains(m.name, "PUB-3") && !slices.Contains(verdicts[i].warnings, "catalog.unmapped") {
			t.Errorf("%s: no catalog.unmapped warning for a code the issuer's map lacks: %s", m.name, out)
		}
		if strings.Contains(m.name, "PUB-1 v1 ") && slices.Contains(verdicts[i].warnings, "catalog.unmapped") {
			t.Errorf("%s: catalog.unmapped warning for a mapped code: %s", m.name, out)
		}
		testenv.Publish(t, b.Addrs(), config.TopicReports, m.source, func(int) string { return strconv.Itoa(i) }, m.value)
		testenv.WaitFor(t, 60*time.Second, m.name+" applied", func() bool { return applied() > int64(i) })
		// What ingest did with each report of message i.
		rows, err := pool.Query(ctx, `SELECT v.report_id, v.version, r.version, r.current FROM report_versions v JOIN reports r ON r.id = v.report_id
			WHERE v.kafka_offset = $1`, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		did := map[string]string{}
		for rows.Next() {
			var id string
			var ver, cur int
			var current bool
			if err := rows.Scan(&id, &ver, &cur, &current); err != nil {
				t.Fatal(err)
			}
			switch {
			case ver != cur:
				did[id] = "history"
			case !current:
				did[id] = "withdrawal"
			case ver == 1:
				did[id] = "new"
			default:
				did[id] = "version"
			}
		}
		rows.Close()
		for id, a := range verdicts[i].actions {
			got, ok := did[id]
			if !ok {
				got = "unchanged"
			}
			if got != a {
				t.Errorf("%s: $validate said %s for report %s, ingest did %s", m.name, a, id, got)
			}
		}
		for id, a := range did {
			if _, ok := verdicts[i].actions[id]; !ok {
				t.Errorf("%s: ingest did %s with report %s, which $validate did not name", m.name, a, id)
			}
		}
	}

	// Dead letters by offset.
	testenv.WaitFor(t, 30*time.Second, "the outbox relayed", func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
		return n == 0
	})
	wantDead := 0
	for _, v := range verdicts {
		if v.refused != "" {
			wantDead++
		}
	}
	dlq := testenv.ReadAll(t, b.Addrs(), config.TopicDLQ, wantDead, 30*time.Second)
	deadAt := map[int64]kafka.Message{}
	for _, d := range dlq {
		off, _ := strconv.ParseInt(header(d, "mrhub-source-offset"), 10, 64)
		deadAt[off] = d
	}
	kinds := map[string]bool{}
	for i, m := range msgs {
		d, dead := deadAt[int64(i)]
		v := verdicts[i]
		switch {
		case v.refused == "" && dead:
			t.Errorf("%s: $validate accepted it, ingest dead-lettered it as %s", m.name, header(d, "mrhub-error-code"))
		case v.refused != "" && !dead:
			t.Errorf("%s: $validate refused it as %s, ingest indexed it", m.name, v.refused)
		case dead && (header(d, "mrhub-error-code") != v.refused || header(d, "mrhub-error-path") != v.path):
			t.Errorf("%s: $validate refused it as %s at %q, ingest as %s at %q", m.name, v.refused, v.path,
				header(d, "mrhub-error-code"), header(d, "mrhub-error-path"))
		}
		if v.refused != "" {
			kinds["refused "+v.refused] = true
		}
		for _, a := range v.actions {
			kinds[a] = true
		}
	}
	for _, k := range []string{"new", "unchanged", "version", "history", "withdrawal", "refused kafka.too_large",
		"refused rights.not_permitted", "refused identity.invalid_resident_id"} {
		if !kinds[k] {
			t.Errorf("no message gave %q: the test does not cover it (have %v)", k, kinds)
		}
	}

	// The publishing figures against a recount from the topics.
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	figuresBy := func(by string) *stats.PublishingReport {
		t.Helper()
		status, out := call("GET", "/api/v1/stats/publishing?from="+day+"&to="+day+"&by="+by, token["admin"+srcA], nil)
		if status != http.StatusOK {
			t.Fatalf("publishing figures: %d %s", status, out)
		}
		var rep stats.PublishingReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		return &rep
	}
	recount := recountTopics(t, b.Addrs(), len(msgs), len(dlq))
	check := func(when string) {
		t.Helper()
		rep := figuresBy("institution")
		got := map[string]string{}
		for _, g := range rep.Groups {
			f := g.Figures
			got[*g.Key.Institution] = fmt.Sprintf("received=%d indexed=%d dead=%d %v", f.Received, f.Indexed, f.DeadLettered, f.DeadLetteredByCode)
		}
		if fmt.Sprint(got) != fmt.Sprint(recount.byInstitution) {
			t.Errorf("%s: publishing figures by institution\n got  %v\n want %v", when, got, recount.byInstitution)
		}
		tot := rep.Totals
		if g := fmt.Sprintf("new=%d amended=%d withdrawn=%d", tot.NewReports, tot.Amended, tot.Withdrawn); g != recount.changes {
			t.Errorf("%s: totals %s, the index topic says %s", when, g, recount.changes)
		}
		if tot.Unmapped == 0 || len(tot.TopUnmapped) == 0 || tot.DelayReports == 0 || tot.Within24hShare == nil || tot.DelayP50Hours == nil {
			t.Errorf("%s: unmapped, delay figures missing: %+v", when, tot)
		}
		// The other groupings add up to the same totals.
		byCode := map[string]int64{}
		for _, g := range figuresBy("code").Groups {
			byCode[*g.Key.Code] = g.Figures.DeadLettered
		}
		if fmt.Sprint(byCode) != fmt.Sprint(tot.DeadLetteredByCode) || len(byCode) == 0 {
			t.Errorf("%s: by=code %v, totals by code %v", when, byCode, tot.DeadLetteredByCode)
		}
		for _, by := range []string{"community", "day"} {
			var rec, dead int64
			for _, g := range figuresBy(by).Groups {
				rec, dead = rec+g.Figures.Received, dead+g.Figures.DeadLettered
			}
			if rec != tot.Received || dead != tot.DeadLettered {
				t.Errorf("%s: by=%s adds up to received=%d dead=%d, totals %d, %d", when, by, rec, dead, tot.Received, tot.DeadLettered)
			}
		}
	}
	check("after ingest")
	if t.Failed() {
		return
	}

	// Scoping: a bureau sees only its district's institutions (no unknown publishers).
	status, out := call("GET", "/api/v1/stats/publishing?from="+day+"&to="+day+"&by=code&format=csv", token["bureau"+srcA], nil)
	if status != http.StatusOK || !bytes.HasPrefix(out, []byte("\uFEFFcode,received")) {
		t.Fatalf("bureau CSV by code: %d %.200s", status, out)
	}
	if status, out := call("GET", "/api/v1/stats/publishing?from="+day+"&to="+day, token["his"+srcA], nil); status != http.StatusForbidden {
		t.Fatalf("a his token read the publishing figures: %d %s", status, out)
	}

	// A restart and a reindex of the whole topic count nothing twice.
	stopHub()
	h.Close()
	h2, err := hub.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := replay.Run(ctx, h2, replay.RunOptions{Options: replay.Options{Brokers: b.Addrs(), Topic: config.TopicReports, FromOffset: kafka.FirstOffset}}); err != nil {
		t.Fatal(err)
	}
	check("after a reindex")
}

func header(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

type recounted struct {
	byInstitution map[string]string
	changes       string
}

// recountTopics counts the publishing figures from the topics alone: messages per publisher
// on mrhub.reports.v1, refusals on mrhub.dlq.v1, changes on mrhub.index.v1.
func recountTopics(t *testing.T, brokers []string, nReports, nDead int) recounted {
	type figs struct {
		received, dead int
		codes          map[string]int64
	}
	per := map[string]*figs{}
	get := func(src string) *figs {
		if per[src] == nil {
			per[src] = &figs{codes: map[string]int64{}}
		}
		return per[src]
	}
	for _, m := range testenv.ReadAll(t, brokers, config.TopicReports, nReports, 30*time.Second) {
		get(header(m, "mrhub-source")).received++
	}
	for _, m := range testenv.ReadAll(t, brokers, config.TopicDLQ, nDead, 30*time.Second) {
		f := get(header(m, "mrhub-source"))
		f.dead++
		f.codes[header(m, "mrhub-error-code")]++
	}
	out := recounted{byInstitution: map[string]string{}}
	var srcs []string
	for s := range per {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		f := per[s]
		out.byInstitution[s] = fmt.Sprintf("received=%d indexed=%d dead=%d %v", f.received, f.received-f.dead, f.dead, f.codes)
	}
	var nw, am, wd int
	for _, m := range testenv.ReadAll(t, brokers, config.TopicIndex, 1, 10*time.Second) {
		switch change := header(m, "mrhub-change"); {
		case change == "patient_merge":
		case m.Value == nil:
			wd++
		case change == "new":
			nw++
		case change == "version":
			am++
		}
	}
	out.changes = fmt.Sprintf("new=%d amended=%d withdrawn=%d", nw, am, wd)
	return out
}
