package stats_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

var cst = time.FixedZone("CST", 8*3600)

// now of the API (for the future check): 2026-11-23 12:00 China time.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, cst)

const (
	instA  = testenv.HospitalA    // 清溪区人民医院, community QXYG01; issues every report below
	instB  = testenv.HospitalB    // 清溪区第二人民医院, community QXYG02
	instC  = "123302994733167694" // 清溪区中医医院, community QXYG01
	nidSys = "http://mrhub.example/sid/resident-id"
)

type env struct {
	t    *testing.T
	pool *pgxpool.Pool
	cat  *catalog.Catalog
	srv  *httptest.Server
	off  int64
	prof *profile.Profiler
	idx  *index.Store
}

func newEnv(t *testing.T) *env {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	h, err := identity.NewHasher([]byte("0123456789abcdef-test-key"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: cat, Hasher: h, Log: zaptest.NewLogger(t), TokenCacheTTL: -1,
		Location: cst, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { srv.Close(); _ = api.Close() }) // before the database is dropped
	return &env{t: t, pool: pool, cat: cat, srv: srv, prof: &profile.Profiler{Catalog: cat, Hasher: h, Location: cst},
		idx: index.NewStore(pool, "mrhub.index.v1", "mrhub.dlq.v1")}
}

func (e *env) token(role, org string) string {
	tok, err := auth.Create(context.Background(), e.pool, role, org, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// report indexes one report of instA and returns its canonical id.
func (e *env) report(r testenv.Report) string {
	e.t.Helper()
	r.Performer = instA
	es, err := e.prof.Message(r.JSON(), instA)
	if err != nil {
		e.t.Fatalf("profiling fixture: %v", err)
	}
	pos := index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: e.off}
	e.off++
	for _, x := range es {
		x.Pos = pos
	}
	if _, err := e.idx.Apply(context.Background(), &index.Batch{Consumer: "stats-test", Positions: []index.Position{pos}, Entries: es}); err != nil {
		e.t.Fatal(err)
	}
	return es[0].ID
}

func (e *env) do(method, path, tok, body string, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

type dec map[string]any

func (d dec) with(k string, v any) dec {
	o := dec{}
	for a, b := range d {
		o[a] = b
	}
	if v == nil {
		delete(o, k)
	} else {
		o[k] = v
	}
	return o
}

func (d dec) json() string { b, _ := json.Marshal(d); return string(b) }

// TestHandComputedScenario records decisions through the API and checks the statistics (JSON
// and CSV) against figures computed by hand.
//
// Reports (all issued by A = 清溪区人民医院, sample taken 2026-03-28 08:30 China time):
//
//	R1 patient P1, JY001 血常规 (7 days, 20.00 yuan)   R2 patient P2, JY001
//	R3 patient P3, JY010 (14 days, 60.00 yuan)         R4 patient P4, JY002 (A not HR-qualified in 2026-03)
//	R5 patient P5, JY001 preliminary                   R6 patient P6, JY001 cancelled (withdrawn)
//
// Accepted decisions (B = 第二人民医院 in community QXYG02; A and C = 中医医院 in QXYG01):
//
//	d1  B 内科 R1 recognized        03-30          d8  B 内科 R2 declined 6 + note 04-02
//	d2  B 内科 R2 declined 1        03-31 23:30    d9  B 内科 R2 declined 98      04-02
//	d3  B 外科 R3 recognized        2026-03-31T16:30Z = 04-01 00:30 China time → April
//	d4  B 外科 R1 declined 2        04-01          d10 B 内科 R2 declined 99      04-02
//	d5  B 内科 R2 declined 3        04-02          d11 A 内科 R1 recognized       03-30
//	d6  B 内科 R2 declined 4        04-02          d12 A 内科 R3 recognized       04-03, revoked
//	d7  B 内科 R2 declined 5        04-02          d13 C 外科 R1 recognized       03-29
//	d14 B 内科 R1 recognized        04-03, revoked (twice)
//
// By hand, 2026-03-01..2026-04-30:
//
//	B: decisions 10 (d1–d10), recognized 2 (d1, d3), declined counting 6 (reasons 1–6),
//	   not counting 2 (98, 99), revoked 1 (d14), rate 2/8 = 0.25, savings 20 + 60 = 80.00 yuan.
//	   March: d1, d2 → 2 decisions, rate 1/2 = 0.5, savings 2000; April: 8 decisions, recognized 1
//	   (d3), counting declines 5, rate 1/6 = 0.1667, savings 6000, revoked 1.
//	A: decisions 1 (d11), recognized 1, revoked 1 (d12), rate 1, savings 2000;
//	   March rate 1; April: decisions 0, revoked 1, rate null.
//	C: decisions 1, recognized 1, rate 1, savings 2000.
//	Total: decisions 12, recognized 4, counting declines 6, not counting 2, revoked 2,
//	       rate 4/10 = 0.4, savings 12000 cents; one decline for each reason.
//	Community QXYG01 (A + C): decisions 2, recognized 2, revoked 1, rate 1, savings 4000.
//	Community QXYG02 (B): as B.
func TestHandComputedScenario(t *testing.T) {
	e := newEnv(t)
	eff := time.Date(2026, 3, 28, 8, 30, 0, 0, cst)
	rep := func(n int, sys, code, status string) string {
		return e.report(testenv.Report{ID: fmt.Sprintf("R%d", n), NID: testenv.NID(n), CodeSystem: sys, Code: code, Status: status, Effective: eff})
	}
	r1 := rep(1, "", "", "")
	r2 := rep(2, "", "", "")
	r3 := rep(3, testenv.LOINC, "24325-3", "")
	r4 := rep(4, testenv.LOINC, "24357-6", "")
	r5 := rep(5, "", "", "preliminary")
	r6 := rep(6, "", "", "cancelled")
	pat := func(n int) string { return nidSys + "|" + testenv.NID(n) }

	clinB, clinA, hisA := e.token(auth.RoleClinician, instB), e.token(auth.RoleClinician, instA), e.token(auth.RoleHIS, instA)
	bureau, admin := e.token(auth.RoleBureau, "330299"), e.token(auth.RoleAdmin, "ops")

	base := dec{"institution": instB, "department": "内科", "clinician": "D001", "patient": pat(1), "item": "JY001", "report": r1,
		"outcome": "recognized", "decided_at": "2026-03-30T10:00:00+08:00"}
	declineR2 := func(id string, reason int, at string) dec {
		return base.with("id", id).with("patient", pat(2)).with("report", r2).with("outcome", "declined").with("reason", reason).with("decided_at", at)
	}
	type post struct {
		tok    string
		d      dec
		status int
		result string
	}
	posts := []post{
		{clinB, base.with("id", "d1"), 201, "created"},
		{clinB, declineR2("d2", 1, "2026-03-31T23:30:00+08:00"), 201, "created"},
		{clinB, base.with("id", "d3").with("department", "外科").with("patient", pat(3)).with("item", "JY010").with("report", r3).with("decided_at", "2026-03-31T16:30:00Z"), 201, "created"},
		{clinB, base.with("id", "d4").with("department", "外科").with("outcome", "declined").with("reason", 2).with("decided_at", "2026-04-01T09:00:00+08:00"), 201, "created"},
		{clinB, declineR2("d5", 3, "2026-04-02T09:00:00+08:00"), 201, "created"},
		{clinB, declineR2("d6", 4, "2026-04-02T09:01:00+08:00"), 201, "created"},
		{clinB, declineR2("d7", 5, "2026-04-02T09:02:00+08:00"), 201, "created"},
		{clinB, declineR2("d8", 6, "2026-04-02T09:03:00+08:00").with("note", "患者要求复查"), 201, "created"},
		{clinB, declineR2("d9", 98, "2026-04-02T09:04:00+08:00"), 201, "created"},
		{clinB, declineR2("d10", 99, "2026-04-02T09:05:00+08:00"), 201, "created"},
		{clinA, base.with("id", "d11").with("institution", instA), 201, "created"},
		{hisA, base.with("id", "d12").with("institution", instA).with("patient", pat(3)).with("item", "JY010").with("report", r3).with("decided_at", "2026-04-03T10:00:00+08:00"), 201, "created"},
		// A's HIS may publish for C, a member of its medical community.
		{hisA, base.with("id", "d13").with("institution", instC).with("department", "外科").with("decided_at", "2026-03-29T10:00:00+08:00"), 201, "created"},
		{clinB, base.with("id", "d14").with("decided_at", "2026-04-03T10:00:00+08:00"), 201, "created"},
		// The same decision again: one decision.
		{clinB, base.with("id", "d1"), 200, "duplicate"},
	}
	for _, p := range posts {
		st, body, _ := e.do("POST", "/api/v1/decisions", p.tok, p.d.json())
		if st != p.status || !strings.Contains(string(body), `"result":"`+p.result+`"`) {
			t.Fatalf("POST %v: %d %s, want %d %s", p.d["id"], st, body, p.status, p.result)
		}
	}

	// Rejections: status, code and the field named in the message.
	rejects := []struct {
		name   string
		tok    string
		d      dec
		status int
		code   string
		field  string
	}{
		{"same id, other content", clinB, base.with("id", "d1").with("department", "外科"), 409, "decision.conflict", "id"},
		{"unknown reason", clinB, declineR2("x1", 7, "2026-04-02T09:00:00+08:00"), 400, "decision.unknown_reason", "reason"},
		{"reason 6 without note", clinB, declineR2("x2", 6, "2026-04-02T09:00:00+08:00"), 400, "decision.missing_note", "note"},
		{"declined without reason", clinB, declineR2("x3", 1, "2026-04-02T09:00:00+08:00").with("reason", nil), 400, "decision.missing_reason", "reason"},
		{"unknown report", clinB, base.with("id", "x4").with("report", strings.Repeat("ab", 16)), 400, "decision.unknown_report", "report"},
		{"not HR-qualified", clinB, base.with("id", "x5").with("patient", pat(4)).with("item", "JY002").with("report", r4), 400, "decision.report_not_qualified", "report"},
		{"preliminary", clinB, base.with("id", "x6").with("patient", pat(5)).with("report", r5), 400, "decision.report_not_final", "report"},
		{"withdrawn", clinB, base.with("id", "x7").with("patient", pat(6)).with("report", r6), 400, "decision.report_withdrawn", "report"},
		{"expired", clinB, base.with("id", "x8").with("decided_at", "2026-04-05T09:00:00+08:00"), 400, "decision.report_expired", "report"},
		{"another patient's report", clinB, base.with("id", "x9").with("patient", pat(2)), 400, "decision.patient_mismatch", "patient"},
		{"report of another item", clinB, base.with("id", "x10").with("item", "JY010"), 400, "decision.report_item_mismatch", "report"},
		{"before the report", clinB, base.with("id", "x11").with("decided_at", "2026-03-27T09:00:00+08:00"), 400, "decision.report_after_decision", "report"},
		{"in the future", clinB, base.with("id", "x12").with("decided_at", "2026-12-01T09:00:00+08:00"), 400, "decision.invalid", "decided_at"},
		{"bad time", clinB, base.with("id", "x13").with("decided_at", "2026-03-30 10:00"), 400, "decision.invalid", "decided_at"},
		{"unknown field", clinB, base.with("id", "x14").with("extra", 1), 400, "decision.invalid", ""},
		{"missing clinician", clinB, base.with("id", "x15").with("clinician", nil), 400, "decision.invalid", "clinician"},
		{"clinician of another institution", clinB, base.with("id", "x16").with("institution", instA), 403, "decision.not_permitted", "institution"},
		{"clinician of the same community", clinA, base.with("id", "x17").with("institution", instC), 403, "decision.not_permitted", "institution"},
		{"bureau may not decide", bureau, base.with("id", "x18"), 403, "forbidden", ""},
	}
	for _, c := range rejects {
		st, body, _ := e.do("POST", "/api/v1/decisions", c.tok, c.d.json())
		var er struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(body, &er)
		if st != c.status || er.Error.Code != c.code || (c.field != "" && !strings.HasPrefix(er.Error.Message, c.field+":")) {
			t.Errorf("%s: %d %s, want %d %s naming %q", c.name, st, body, c.status, c.code, c.field)
		}
	}

	// Revocations: d12 by A's HIS, d14 twice by B; B may not revoke A's decision.
	for _, c := range []struct {
		tok, id, body string
		status        int
		result        string
	}{
		{clinB, "d12", "", 403, ""},
		{hisA, "d12", `{"revoked_at":"2026-04-04T08:00:00+08:00"}`, 200, "revoked"},
		{clinB, "d14", "", 200, "revoked"},
		{clinB, "d14", "", 200, "already_revoked"},
		{clinB, "nope", "", 404, ""},
	} {
		st, body, _ := e.do("POST", "/api/v1/decisions/"+c.id+"/revoke", c.tok, c.body)
		if st != c.status || (c.result != "" && !strings.Contains(string(body), `"result":"`+c.result+`"`)) {
			t.Fatalf("revoke %s: %d %s, want %d %s", c.id, st, body, c.status, c.result)
		}
	}
	if n := count(t, e.pool, `SELECT count(*) FROM decisions`); n != 14 {
		t.Fatalf("decisions stored = %d, want 14", n)
	}

	// --- statistics: JSON
	get := func(q, tok string, hdr ...string) (int, []byte, http.Header) {
		return e.do("GET", "/api/v1/stats/recognition?"+q, tok, "", hdr...)
	}
	type figs struct {
		Decisions, Recognized, DeclinedCounting, DeclinedNotCounting, Revoked, SavingsCents int64
		Rate                                                                                *float64
		Reasons                                                                             map[string]int64
	}
	parse := func(b []byte) (map[string]any, figs, []map[string]any) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("stats answer is not JSON: %s", b)
		}
		var groups []map[string]any
		for _, g := range m["groups"].([]any) {
			groups = append(groups, g.(map[string]any))
		}
		return m, toFigs(m["totals"].(map[string]any)), groups
	}
	_ = parse
	st, body, _ := get("from=2026-03-01&to=2026-04-30&by=institution,month", bureau)
	if st != 200 {
		t.Fatalf("stats: %d %s", st, body)
	}
	m, tot, groups := parse(body)
	if m["from"] != "2026-03-01" || m["to"] != "2026-04-30" || fmt.Sprint(m["by"]) != "[institution month]" {
		t.Errorf("echo of the query: %v %v %v", m["from"], m["to"], m["by"])
	}
	wantTot := figs{Decisions: 12, Recognized: 4, DeclinedCounting: 6, DeclinedNotCounting: 2, Revoked: 2, SavingsCents: 12000, Rate: f(0.4),
		Reasons: map[string]int64{"1": 1, "2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "98": 1, "99": 1}}
	checkFigs(t, "totals", tot, wantTot)
	want := []struct {
		inst, month string
		f           figs
	}{
		{instA, "2026-03", figs{Decisions: 1, Recognized: 1, SavingsCents: 2000, Rate: f(1)}},
		{instA, "2026-04", figs{Revoked: 1}},
		{instB, "2026-03", figs{Decisions: 2, Recognized: 1, DeclinedCounting: 1, SavingsCents: 2000, Rate: f(0.5), Reasons: map[string]int64{"1": 1}}},
		{instB, "2026-04", figs{Decisions: 8, Recognized: 1, DeclinedCounting: 5, DeclinedNotCounting: 2, Revoked: 1, SavingsCents: 6000, Rate: f(0.1667),
			Reasons: map[string]int64{"2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "98": 1, "99": 1}}},
		{instC, "2026-03", figs{Decisions: 1, Recognized: 1, SavingsCents: 2000, Rate: f(1)}},
	}
	if len(groups) != len(want) {
		t.Fatalf("groups = %d, want %d: %s", len(groups), len(want), body)
	}
	for i, w := range want {
		k := groups[i]["key"].(map[string]any)
		if k["institution"] != w.inst || k["month"] != w.month {
			t.Errorf("group %d key %v, want %s %s (sorted by key)", i, k, w.inst, w.month)
		}
		if w.inst == instB && (k["institution_name"] != "清溪区第二人民医院" || k["community"] != "QXYG02" || k["community_name_en"] == "" || k["institution_name_en"] == "") {
			t.Errorf("institution key lacks names/community: %v", k)
		}
		if _, ok := k["item"]; ok {
			t.Errorf("key has fields of dimensions not asked for: %v", k)
		}
		checkFigs(t, fmt.Sprintf("%s %s", w.inst, w.month), toFigs(groups[i]["figures"].(map[string]any)), w.f)
	}

	// by community; by day puts d3 (16:30Z on 03-31) on China day 04-01.
	_, body, _ = get("from=2026-03-01&to=2026-04-30&by=community", admin)
	_, _, groups = parse(body)
	if len(groups) != 2 {
		t.Fatalf("community groups: %s", body)
	}
	checkFigs(t, "QXYG01", toFigs(groups[0]["figures"].(map[string]any)), figs{Decisions: 2, Recognized: 2, Revoked: 1, SavingsCents: 4000, Rate: f(1)})
	checkFigs(t, "QXYG02", toFigs(groups[1]["figures"].(map[string]any)), figs{Decisions: 10, Recognized: 2, DeclinedCounting: 6, DeclinedNotCounting: 2, Revoked: 1, SavingsCents: 8000, Rate: f(0.25),
		Reasons: map[string]int64{"1": 1, "2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "98": 1, "99": 1}})
	_, body, _ = get("from=2026-04-01&to=2026-04-01&by=item,department", bureau)
	_, tot, groups = parse(body)
	// 04-01 China time: d3 (B 外科 JY010 recognized) and d4 (B 外科 JY001 declined 2).
	checkFigs(t, "04-01 totals", tot, figs{Decisions: 2, Recognized: 1, DeclinedCounting: 1, SavingsCents: 6000, Rate: f(0.5), Reasons: map[string]int64{"2": 1}})
	if len(groups) != 2 || groups[0]["key"].(map[string]any)["item"] != "JY001" || groups[1]["key"].(map[string]any)["item_name"] == "" ||
		groups[1]["key"].(map[string]any)["department"] != "外科" {
		t.Errorf("by item,department on 04-01: %s", body)
	}
	// A range inside one month (daily rows) and across months agree with the whole period.
	_, body, _ = get("from=2026-03-15&to=2026-04-10&by=district", bureau)
	_, tot, groups = parse(body)
	checkFigs(t, "partial months", tot, wantTot)
	if len(groups) != 1 || groups[0]["key"].(map[string]any)["district"] != "330299" || groups[0]["key"].(map[string]any)["district_name"] != "清溪区" {
		t.Errorf("by district: %s", body)
	}
	_, body, _ = get("from=2026-04-04&to=2026-12-31", bureau)
	_, tot, _ = parse(body)
	checkFigs(t, "after the decisions", tot, figs{})
	if !strings.Contains(string(body), `"rate":null`) || !strings.Contains(string(body), `"groups":[]`) {
		t.Errorf("empty period: want rate null and no groups: %s", body)
	}

	// --- CSV
	st, csvb, hdr := get("from=2026-03-01&to=2026-04-30&by=institution", bureau, "Accept", "text/csv")
	if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !bytes.HasPrefix(csvb, []byte("\xEF\xBB\xBF")) {
		t.Fatalf("CSV: %d %s %q", st, hdr.Get("Content-Type"), csvb[:min(len(csvb), 20)])
	}
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(string(csvb), "\uFEFF")), "\n")
	wantHead := "institution,institution_name,institution_name_en,community,community_name,community_name_en,decisions,recognized,declined_counting,declined_not_counting,revoked,rate,reminders,retrievals,savings_cents,reason_1,reason_2,reason_3,reason_4,reason_5,reason_6,reason_98,reason_99"
	if len(lines) != 4 || lines[0] != wantHead {
		t.Fatalf("CSV lines:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.HasPrefix(lines[2], instB+",清溪区第二人民医院,") || !strings.HasSuffix(lines[2], ",10,2,6,2,1,0.25,0,0,8000,1,1,1,1,1,1,1,1") {
		t.Errorf("CSV row of B: %s", lines[2])
	}
	if !strings.HasSuffix(lines[1], ",1,1,0,0,1,1,0,0,2000,0,0,0,0,0,0,0,0") {
		t.Errorf("CSV row of A: %s", lines[1])
	}
	if _, c2, _ := get("from=2026-03-01&to=2026-04-30&by=institution&format=csv", bureau); !bytes.Equal(c2, csvb) {
		t.Errorf("format=csv differs from Accept: text/csv")
	}

	// --- access and parameters
	for _, c := range []struct {
		q, tok string
		status int
	}{
		{"from=2026-03-01&to=2026-04-30", clinB, 403},
		{"from=2026-03-01&to=2026-04-30&by=hospital", bureau, 400},
		{"from=2026-04-30&to=2026-03-01", bureau, 400},
		{"from=2026-03-01", bureau, 400},
		{"from=2026-03-01&to=2026-04-30&by=institution,institution", bureau, 400},
	} {
		if st, body, _ := get(c.q, c.tok); st != c.status {
			t.Errorf("GET stats?%s: %d %s, want %d", c.q, st, body, c.status)
		}
	}

	// --- reminders and retrievals (recorded today) count for the requesting institution.
	if st, body, _ := e.do("GET", "/api/v1/recognizable?patient="+pat(1)+"&item=JY001,JY010", clinB, ""); st != 200 {
		t.Fatalf("recognizable: %d %s", st, body)
	}
	if st, body, _ := e.do("GET", "/api/v1/reports/"+r1, clinB, ""); st != 200 {
		t.Fatalf("report: %d %s", st, body)
	}
	today := time.Now().In(cst).Format("2006-01-02")
	_, body, _ = get("from="+today+"&to="+today+"&by=institution,item", bureau)
	_, _, groups = parse(body)
	var rem, ret int64
	_ = json.Unmarshal(mustGet(body, "totals", "reminders"), &rem)
	_ = json.Unmarshal(mustGet(body, "totals", "retrievals"), &ret)
	if rem != 2 || ret != 1 || len(groups) != 2 {
		t.Errorf("today: reminders %d retrievals %d groups %d, want 2, 1, 2 (JY001 and JY010 for B): %s", rem, ret, len(groups), body)
	}

	// --- the incrementally kept rollups equal a rebuild from scratch.
	var before, after string
	snap := `SELECT md5(string_agg(concat_ws(',', grain, level, period, institution, department, item, decisions, recognized, declined_counting,
		declined_not_counting, revoked, reminders, retrievals, savings_cents, r1, r2, r3, r4, r5, r6, r98, r99), ';' ORDER BY grain, level, period, institution, department, item)) FROM (
		SELECT grain, level, period, institution, department, item, sum(decisions) decisions, sum(recognized) recognized,
		sum(declined_counting) declined_counting, sum(declined_not_counting) declined_not_counting, sum(revoked) revoked,
		sum(reminders) reminders, sum(retrievals) retrievals, sum(savings_cents) savings_cents,
		sum(reason_1) r1, sum(reason_2) r2, sum(reason_3) r3, sum(reason_4) r4, sum(reason_5) r5, sum(reason_6) r6, sum(reason_98) r98, sum(reason_99) r99
		FROM stats_rollup GROUP BY 1,2,3,4,5,6) x`
	if err := e.pool.QueryRow(context.Background(), snap).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(context.Background(), `SELECT stats_rebuild()`); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(context.Background(), snap).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("incremental rollups differ from stats_rebuild()")
	}
	_, body2, _ := get("from=2026-03-01&to=2026-04-30&by=institution,month", bureau)
	_, body, _ = get("from=2026-03-01&to=2026-04-30&by=institution,month", bureau)
	if !bytes.Equal(body, body2) {
		t.Errorf("answers differ after rebuild")
	}
}

func mustGet(body []byte, keys ...string) []byte {
	var m any
	_ = json.Unmarshal(body, &m)
	for _, k := range keys {
		m = m.(map[string]any)[k]
	}
	b, _ := json.Marshal(m)
	return b
}

func f(x float64) *float64 { return &x }

func toFigs(m map[string]any) (out struct {
	Decisions, Recognized, DeclinedCounting, DeclinedNotCounting, Revoked, SavingsCents int64
	Rate                                                                                *float64
	Reasons                                                                             map[string]int64
}) {
	n := func(k string) int64 { return int64(m[k].(float64)) }
	out.Decisions, out.Recognized, out.DeclinedCounting, out.DeclinedNotCounting = n("decisions"), n("recognized"), n("declined_counting"), n("declined_not_counting")
	out.Revoked, out.SavingsCents = n("revoked"), n("savings_cents")
	if r, ok := m["rate"].(float64); ok {
		out.Rate = &r
	}
	out.Reasons = map[string]int64{}
	for k, v := range m["declines_by_reason"].(map[string]any) {
		if v.(float64) != 0 {
			out.Reasons[k] = int64(v.(float64))
		}
	}
	for _, k := range []string{"decisions", "recognized", "declined_counting", "declined_not_counting", "revoked", "rate", "reminders", "retrievals", "savings_cents", "declines_by_reason"} {
		if _, ok := m[k]; !ok {
			panic("figures lack " + k)
		}
	}
	if len(m["declines_by_reason"].(map[string]any)) != 8 {
		panic("declines_by_reason must list the 8 platform reasons")
	}
	return out
}

func checkFigs(t *testing.T, name string, got, want struct {
	Decisions, Recognized, DeclinedCounting, DeclinedNotCounting, Revoked, SavingsCents int64
	Rate                                                                                *float64
	Reasons                                                                             map[string]int64
}) {
	t.Helper()
	if want.Reasons == nil {
		want.Reasons = map[string]int64{}
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", name, g, w)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
