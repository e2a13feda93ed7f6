package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/sim"
	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/seeds"
)

// The decisions side of the chaos run: clinicians take the simulator's decisions and revocations
// and send them to the hub, on mrhub.decisions.v1 or over POST /api/v1/decisions to the hub
// processes being killed, with exact re-sends, conflicting re-uses of an id and invalid messages
// mixed in. Every send that was acknowledged (written with acks=all, or answered by the API) is
// recorded in order; at the end the same sends are applied in that order to the clean pass's
// database, and the hub's decisions table, dead letters and statistics rollups must agree with it.

// Kinds of decision sends.
const (
	sendDecision = "decision" // a simulated decision
	sendRevoke   = "revoke"   // a simulated revocation
	sendResend   = "resend"   // an exact copy of an acknowledged decision (a HIS retrying)
	sendConflict = "conflict" // an acknowledged decision's id with other content
	sendInvalid  = "invalid"  // an invalid message (Want names the rejection)
)

// decSend is one message or request sent by the clinicians.
type decSend struct {
	Via    string // "kafka" or "api"
	Kind   string // send* constants
	ID     string // decision id (the Kafka key)
	Path   string // api: the request path
	Value  []byte // Kafka value or request body
	Source string // Kafka: header mrhub-source ("" = no header); api: the HIS token's institution
	Want   string // injected: the rejection code the hub must give; "" = none asked for
	Status int    // api: HTTP status of the answer
	Answer string // api: "result" of a 2xx answer, else the error code
}

type pendingDecision struct {
	msg          sim.Message
	id, report   string
	item, source string
	since        time.Time // handed over by the generator
}

// clinicians holds decisions back until their report is visible in the hub (a clinician decides
// on a prior result the hub showed), then sends them: a share over the API (one request at a
// time, round robin over the hub processes, retried with the same body until answered: the
// decision id is the idempotency key), the rest on the topic.
type clinicians struct {
	t        *testing.T
	pool     *pgxpool.Pool
	w        *kafka.Writer
	ports    []int
	tokens   map[string]string // institution -> HIS token
	rng      *rand.Rand
	apiShare float64
	client   *http.Client

	mu      sync.Mutex
	inbox   []sim.Message
	flush   bool          // release everything: the reports have drained
	sends   []decSend     // acknowledged (Kafka) or answered (API), in that order
	apiOK   []decSend     // API decisions answered 2xx, not yet looked at by the releaser
	unacked []decSend     // API requests never answered (they may or may not have landed)
	heldMax time.Duration // longest a decision waited for its report to show (before the flush)
	flushed int           // decisions whose report the hub did not show before the flush

	// releaser goroutine only
	pending     []pendingDecision
	pendingRev  []sim.Message
	path        map[string]string // decision id -> "kafka" (acknowledged) or "api"
	resend      []decSend
	nKafka      int
	nAPI        int
	nAPIOK      int
	nKafkaOK    int
	nInvalid    int
	httpQ       chan decSend
	done        chan struct{}
	apiDone     chan struct{}
	pubRetries  atomic.Int64
	apiRequests atomic.Int64
	apiCutOff   atomic.Int64 // transport errors: refused, reset or timed out (a kill)
	apiBusy     atomic.Int64 // 5xx or 429 answers, retried
}

func newClinicians(t *testing.T, c *cluster, seed uint64, apiShare float64) *clinicians {
	t.Helper()
	region, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	cl := &clinicians{t: t, pool: c.pool, w: topicWriter(c.brokers(), config.TopicDecisions), tokens: map[string]string{},
		rng: rand.New(rand.NewPCG(seed, 5)), apiShare: apiShare, client: &http.Client{Timeout: 10 * time.Second},
		path: map[string]string{}, httpQ: make(chan decSend, 1<<16),
		done: make(chan struct{}), apiDone: make(chan struct{})}
	for s := 0; s < len(c.httpPorts); s++ {
		cl.ports = append(cl.ports, c.httpPorts[s])
	}
	for _, in := range region.Institutions {
		tok, err := auth.Create(context.Background(), c.pool, auth.RoleHIS, in.Code, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cl.tokens[in.Code] = tok
	}
	go cl.run()
	go cl.apiWorker()
	t.Cleanup(func() { cl.w.Close() })
	return cl
}

// add hands over the generator's decisions and revocations.
func (cl *clinicians) add(ms []sim.Message) {
	if len(ms) == 0 {
		return
	}
	cl.mu.Lock()
	cl.inbox = append(cl.inbox, ms...)
	cl.mu.Unlock()
}

// finish releases every decision still held back, waits until every send is acknowledged or
// answered, and returns what was sent (in order) and the API requests never answered.
func (cl *clinicians) finish(timeout time.Duration) (sends, unacked []decSend) {
	cl.mu.Lock()
	cl.flush = true
	cl.mu.Unlock()
	deadline := time.After(timeout)
	for _, ch := range []chan struct{}{cl.done, cl.apiDone} {
		select {
		case <-ch:
		case <-deadline:
			cl.t.Fatalf("decisions not all sent within %s of the end of the load", timeout)
		}
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.sends, cl.unacked
}

func (cl *clinicians) run() {
	defer close(cl.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if cl.round() {
			close(cl.httpQ)
			return
		}
	}
}

// round takes the new decisions, releases those whose report the hub now shows as recognisable
// (all of them once flushing), and sends them with revocations, re-sends, conflicts and invalid
// messages. It reports whether everything has been sent after a flush.
func (cl *clinicians) round() bool {
	cl.mu.Lock()
	in, final, apiOK := cl.inbox, cl.flush, cl.apiOK
	cl.inbox, cl.apiOK = nil, nil
	cl.mu.Unlock()
	for _, m := range in {
		if m.Kind == sim.KindRevoke {
			cl.pendingRev = append(cl.pendingRev, m)
			continue
		}
		var ev struct{ ID, Report, Item string }
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			cl.t.Errorf("simulated decision is not JSON: %v", err)
			continue
		}
		cl.pending = append(cl.pending, pendingDecision{msg: m, id: ev.ID, report: ev.Report, item: ev.Item, source: m.Source, since: time.Now()})
	}
	ready := map[string]bool{}
	if !final && len(cl.pending) > 0 {
		ready = cl.readyReports()
	}
	var out []decSend
	keep := cl.pending[:0]
	for _, p := range cl.pending {
		if !final && !ready[p.report+"|"+p.item] {
			keep = append(keep, p)
			continue
		}
		cl.mu.Lock()
		if final {
			cl.flushed++
		} else {
			cl.heldMax = max(cl.heldMax, time.Since(p.since))
		}
		cl.mu.Unlock()
		s := decSend{Kind: sendDecision, ID: p.id, Value: p.msg.Value, Source: p.source}
		if cl.rng.Float64() < cl.apiShare {
			cl.path[p.id] = "api"
			s.Via, s.Path = "api", "/api/v1/decisions"
			cl.httpQ <- s
			if cl.nAPI++; cl.nAPI%10 == 0 {
				cl.httpQ <- cl.invalid(s, "api")
			}
			continue
		}
		s.Via = "kafka"
		out = append(out, s)
		if cl.nKafka++; cl.nKafka%12 == 0 {
			out = append(out, cl.invalid(s, "kafka"))
		}
	}
	cl.pending = keep
	keepRev := cl.pendingRev[:0]
	for _, m := range cl.pendingRev {
		id := string(m.Key)
		switch cl.path[id] {
		case "api": // after its decision in the API queue; skipped when the decision was never answered 2xx
			var rv struct {
				RevokedAt string `json:"revoked_at"`
			}
			_ = json.Unmarshal(m.Value, &rv)
			body, _ := json.Marshal(map[string]string{"revoked_at": rv.RevokedAt})
			cl.httpQ <- decSend{Via: "api", Kind: sendRevoke, ID: id, Path: "/api/v1/decisions/" + id + "/revoke", Value: body, Source: m.Source}
		case "kafka": // its decision is acknowledged, so it is earlier on the same partition
			out = append(out, decSend{Via: "kafka", Kind: sendRevoke, ID: id, Value: m.Value, Source: m.Source})
		default:
			keepRev = append(keepRev, m)
		}
	}
	cl.pendingRev = keepRev
	out = append(out, cl.resend...)
	cl.resend = nil
	for _, s := range apiOK {
		cl.nAPIOK++
		if cl.nAPIOK%5 == 0 { // the HIS retries a request it already had answered
			cl.httpQ <- decSend{Via: "api", Kind: sendResend, ID: s.ID, Path: s.Path, Value: s.Value, Source: s.Source}
		}
		if cl.nAPIOK%7 == 0 { // the same decision also on the topic
			out = append(out, decSend{Via: "kafka", Kind: sendResend, ID: s.ID, Value: s.Value, Source: s.Source})
		}
		if cl.nAPIOK%13 == 0 { // its id with other content: decision.conflict (the decision is stored: it was answered 2xx)
			out = append(out, cl.conflict(s, "kafka"))
		}
		if cl.nAPIOK%17 == 0 {
			cl.httpQ <- cl.conflict(s, "api")
		}
	}
	if len(out) > 0 {
		km := make([]kafka.Message, len(out))
		for i, s := range out {
			km[i] = kafka.Message{Key: []byte(s.ID), Value: s.Value}
			if s.Source != "" {
				km[i].Headers = []protocol.Header{{Key: bus.HeaderSource, Value: []byte(s.Source)}}
			}
		}
		r, err := publish(context.Background(), cl.w, km)
		cl.pubRetries.Add(int64(r))
		if err != nil {
			cl.t.Errorf("publishing decisions: %v", err)
		}
		cl.mu.Lock()
		cl.sends = append(cl.sends, out...)
		cl.mu.Unlock()
		for _, s := range out {
			if s.Kind != sendDecision {
				continue
			}
			cl.path[s.ID] = "kafka"
			if cl.nKafkaOK++; cl.nKafkaOK%8 == 0 { // a redelivery, in a later write
				cl.resend = append(cl.resend, decSend{Via: "kafka", Kind: sendResend, ID: s.ID, Value: s.Value, Source: s.Source})
			}
		}
	}
	return final && len(cl.pending) == 0 && len(cl.pendingRev) == 0 && len(cl.resend) == 0
}

// readyReports returns report id + "|" + item for the pending decisions' reports the hub shows
// as recognisable for that item (current, final, mapped to it); nothing when the database is
// unreachable.
func (cl *clinicians) readyReports() map[string]bool {
	ids := make([]string, 0, len(cl.pending))
	for _, p := range cl.pending {
		ids = append(ids, p.report)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := map[string]bool{}
	rows, err := cl.pool.Query(ctx, `SELECT id, status, COALESCE(item, '') FROM reports WHERE id = ANY($1) AND current`, ids)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var id, status, item string
		if err := rows.Scan(&id, &status, &item); err != nil {
			return map[string]bool{}
		}
		if index.FinalStatus(status) {
			out[id+"|"+item] = true
		}
	}
	if rows.Err() != nil {
		return map[string]bool{}
	}
	return out
}

func mutate(value []byte, f func(map[string]any)) []byte {
	m := map[string]any{}
	_ = json.Unmarshal(value, &m)
	f(m)
	b, _ := json.Marshal(m)
	return b
}

// invalid derives an invalid message from decision s under a fresh id, cycling through the
// rejections the hub must give.
func (cl *clinicians) invalid(s decSend, via string) decSend {
	cl.nInvalid++
	id := fmt.Sprintf("%s-bad%d", s.ID, cl.nInvalid)
	out := decSend{Via: via, Kind: sendInvalid, ID: id, Source: s.Source, Path: "/api/v1/decisions"}
	setID := func(m map[string]any) { m["id"] = id }
	kinds := 6
	if via == "api" {
		kinds = 3
	}
	switch cl.nInvalid % kinds {
	case 0:
		out.Want = "decision.missing_reason"
		out.Value = mutate(s.Value, func(m map[string]any) { setID(m); m["outcome"] = "declined"; delete(m, "reason"); delete(m, "note") })
	case 1:
		out.Want = "decision.unknown_report"
		out.Value = mutate(s.Value, func(m map[string]any) { setID(m); m["report"] = fmt.Sprintf("%032x", cl.nInvalid) })
	case 2:
		out.Want = "decision.missing_note"
		out.Value = mutate(s.Value, func(m map[string]any) { setID(m); m["outcome"] = "declined"; m["reason"] = 6; delete(m, "note") })
	case 3:
		out.Want = "decision.not_json"
		b := mutate(s.Value, setID)
		out.Value = b[:len(b)/2]
	case 4:
		out.Want = "decision.missing_source"
		out.Value = mutate(s.Value, setID)
		out.Source = ""
	case 5:
		out.Want = "decision.unknown" // the revocation of a decision that does not exist
		out.Value, _ = json.Marshal(map[string]string{"type": "revoke", "id": id})
	}
	return out
}

// conflict re-uses the id of stored decision s with another department.
func (cl *clinicians) conflict(s decSend, via string) decSend {
	return decSend{Via: via, Kind: sendConflict, ID: s.ID, Path: "/api/v1/decisions", Source: s.Source, Want: "decision.conflict",
		Value: mutate(s.Value, func(m map[string]any) { m["department"] = fmt.Sprint(m["department"]) + "（改）" })}
}

// apiWorker sends the API queue one request at a time.
func (cl *clinicians) apiWorker() {
	defer close(cl.apiDone)
	answered := map[string]bool{} // decisions answered 2xx
	n := 0
	for s := range cl.httpQ {
		if s.Kind == sendRevoke && !answered[s.ID] {
			continue
		}
		n++
		ok := cl.post(&s, n)
		cl.mu.Lock()
		if !ok {
			cl.unacked = append(cl.unacked, s)
		} else {
			cl.sends = append(cl.sends, s)
			if s.Kind == sendDecision && s.Status/100 == 2 {
				answered[s.ID] = true
				cl.apiOK = append(cl.apiOK, s)
			}
		}
		cl.mu.Unlock()
	}
}

// post sends s to the hubs in turn until one answers other than 5xx/429 (or 2 minutes pass); a
// request cut off by a kill may or may not have landed, and is retried with the same body.
func (cl *clinicians) post(s *decSend, n int) bool {
	deadline := time.Now().Add(2 * time.Minute)
	for attempt := 0; ; attempt++ {
		port := cl.ports[(n+attempt)%len(cl.ports)]
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(port)+s.Path, bytes.NewReader(s.Value))
		if err != nil {
			cl.t.Errorf("request: %v", err)
			return false
		}
		req.Header.Set("Authorization", "Bearer "+cl.tokens[s.Source])
		req.Header.Set("Content-Type", "application/json")
		cl.apiRequests.Add(1)
		res, err := cl.client.Do(req)
		if err != nil {
			cl.apiCutOff.Add(1)
		} else {
			body, rerr := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case rerr != nil:
				cl.apiCutOff.Add(1)
			case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
				cl.apiBusy.Add(1)
			case res.StatusCode/100 == 2:
				var r struct {
					Result string `json:"result"`
				}
				_ = json.Unmarshal(body, &r)
				s.Status, s.Answer = res.StatusCode, r.Result
				return true
			default:
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				_ = json.Unmarshal(body, &e)
				s.Status, s.Answer = res.StatusCode, e.Error.Code
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- verification

// decisionAccount is what became of the decisions.
type decisionAccount struct {
	Released, ViaKafka, ViaAPI        int // simulated decisions sent, and by which way
	Revocations, Resends, Conflicts   int // sends of these kinds
	Invalid                           int
	Acknowledged                      int // distinct valid decisions acknowledged (topic) or answered 2xx (API)
	Stored, Expected, Revoked, Landed int // rows in the hub; in the clean pass; revoked; unanswered requests that landed
	Duplicates, Lost                  int // must be 0
	Records, DeadLettered             int // records in mrhub.decisions.v1; of them dead-lettered as the clean pass says
	DLQRecords, DLQDuplicates         int
	DLQByCode                         map[string]int
	SimRejected                       map[string]int // simulated decisions the clean pass rejects too (the simulator's misjudgement)
	RollupRows                        int
}

// oracle applies sends, in the order they were acknowledged, to the clean pass's database and
// returns each one's outcome: "ok:<result>" or "rejected:<code>".
func oracle(t *testing.T, ctx context.Context, ref *reference, sends []decSend) []string {
	t.Helper()
	st := ref.hub.DecisionStore
	out := make([]string, len(sends))
	for i, s := range sends {
		if s.Via == "kafka" {
			h := map[string]string{}
			if s.Source != "" {
				h[bus.HeaderSource] = s.Source
			}
			o, err := st.ApplyBatch(ctx, &decisions.Batch{Consumer: "clean", Messages: []decisions.Message{{
				Topic: "clean-decisions", Partition: 0, Offset: int64(i), Key: []byte(s.ID), Value: s.Value, Headers: h}}})
			if err != nil {
				t.Fatalf("clean pass, decision send %d: %v", i, err)
			}
			if r := o.Results[0]; strings.HasPrefix(r, "rejected:") {
				out[i] = r
			} else {
				out[i] = "ok:" + r
			}
			continue
		}
		body, typ := s.Value, decisions.TypeDecision
		if s.Kind == sendRevoke { // as the revoke route builds it
			m := map[string]any{}
			_ = json.Unmarshal(s.Value, &m)
			m["id"], m["type"] = s.ID, decisions.TypeRevoke
			body, _ = json.Marshal(m)
			typ = decisions.TypeRevoke
		}
		ev, perr := decisions.Parse(body, typ)
		if perr != nil {
			out[i] = "rejected:" + perr.Code
			continue
		}
		_, res, err := st.Submit(ctx, ev, s.Source, true, "api")
		var e *decisions.Error
		switch {
		case err == nil:
			out[i] = "ok:" + string(res)
		case errors.As(err, &e):
			out[i] = "rejected:" + e.Code
		default:
			t.Fatalf("clean pass, decision send %d: %v", i, err)
		}
	}
	return out
}

// decisionRows returns every stored decision as comparable text, by id, and whether it is revoked.
func decisionRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) (map[string]string, map[string]bool) {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT id, institution, department, clinician, item, report_id, outcome, COALESCE(reason, 0), note,
		decided_at, price_cents, counts_in_rate, encode(content_hash, 'hex'), via, revoked_at FROM decisions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out, revoked := map[string]string{}, map[string]bool{}
	for rows.Next() {
		var id, inst, dept, clin, item, rep, outcome, note, hash, via string
		var reason int
		var decided time.Time
		var revokedAt *time.Time
		var price int64
		var counts bool
		if err := rows.Scan(&id, &inst, &dept, &clin, &item, &rep, &outcome, &reason, &note, &decided, &price, &counts, &hash, &via, &revokedAt); err != nil {
			t.Fatal(err)
		}
		rv := "-"
		if revokedAt != nil {
			rv = revokedAt.UTC().Format(time.RFC3339Nano)
			revoked[id] = true
		}
		out[id] = fmt.Sprintf("%s %s %s %s report=%s %s reason=%d note=%q decided=%s price=%d counts=%v hash=%s via=%s revoked=%s",
			inst, dept, clin, item, rep, outcome, reason, note, decided.UTC().Format(time.RFC3339Nano), price, counts, hash, via, rv)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, revoked
}

// accountDecisions checks the run's decisions against the clean pass of the same sends: the
// decisions table is equal (nothing lost, nothing twice, nothing invented), every record of
// mrhub.decisions.v1 the clean pass rejects is in the DLQ with that code and a message and no
// other is, the API answered as the clean pass does, and the rollups equal a recount.
func accountDecisions(t *testing.T, ctx context.Context, c *cluster, ref *reference, sends, unacked []decSend) decisionAccount {
	t.Helper()
	a := decisionAccount{DLQByCode: map[string]int{}, SimRejected: map[string]int{}}
	results := oracle(t, ctx, ref, sends)
	byValue := map[string]string{} // Kafka source + value -> first outcome
	acked := map[string]bool{}
	for i, s := range sends {
		r := results[i]
		switch s.Kind {
		case sendDecision:
			a.Released++
			if s.Via == "kafka" {
				a.ViaKafka++
			} else {
				a.ViaAPI++
			}
			if strings.HasPrefix(r, "ok:") {
				acked[s.ID] = true
			} else {
				a.SimRejected[strings.TrimPrefix(r, "rejected:")]++
			}
		case sendRevoke:
			a.Revocations++
		case sendResend:
			a.Resends++
		case sendConflict:
			a.Conflicts++
		case sendInvalid:
			a.Invalid++
		}
		if s.Want != "" && r != "rejected:"+s.Want {
			t.Errorf("test error: injected %s %s %s was %s in the clean pass, not rejected as %s", s.Via, s.Kind, s.ID, r, s.Want)
		}
		if s.Via == "api" {
			got := "ok:"
			if s.Status/100 != 2 {
				got = "rejected:" + s.Answer
			}
			if !strings.HasPrefix(r, got) {
				t.Errorf("API %s %s: the hub answered %d %s, the clean pass %s", s.Kind, s.ID, s.Status, s.Answer, r)
			}
			continue
		}
		k := s.Source + "\x00" + string(s.Value)
		if _, ok := byValue[k]; !ok {
			byValue[k] = r
		}
	}
	a.Acknowledged = len(acked)

	// Records of the topic and their dead letters.
	published := readTopic(t, c.brokers(), config.TopicDecisions)
	a.Records = len(published)
	dead := map[pos][]kafka.Message{}
	for _, m := range readTopic(t, c.brokers(), config.TopicDLQ) {
		if bus.Header(m, bus.HeaderSourceTopic) != config.TopicDecisions {
			continue
		}
		a.DLQRecords++
		p, err1 := strconv.Atoi(bus.Header(m, bus.HeaderSourcePart))
		off, err2 := strconv.ParseInt(bus.Header(m, bus.HeaderSourceOffset), 10, 64)
		if err1 != nil || err2 != nil {
			t.Errorf("decision dead letter without source partition/offset: %v", m.Headers)
			continue
		}
		dead[pos{p, off}] = append(dead[pos{p, off}], m)
	}
	seen := map[pos]bool{}
	bad := 0
	complain := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, m := range published {
		at := pos{m.Partition, m.Offset}
		r, ok := byValue[bus.Header(m, bus.HeaderSource)+"\x00"+string(m.Value)]
		if !ok {
			complain("decision record %d/%d was never sent by the test", at.p, at.off)
			continue
		}
		dl := dead[at]
		code, rejected := strings.CutPrefix(r, "rejected:")
		switch {
		case !rejected && len(dl) > 0:
			seen[at] = true
			a.Lost++
			complain("lost: decision record %d/%d (%s in the clean pass) was dead-lettered as %s", at.p, at.off, r, bus.Header(dl[0], bus.HeaderErrorCode))
		case rejected && len(dl) == 0:
			complain("decision record %d/%d rejected in the clean pass (%s) is not in the DLQ", at.p, at.off, code)
		case rejected:
			seen[at] = true
			a.DeadLettered++
			a.DLQByCode[code]++
			a.DLQDuplicates += len(dl) - 1
			if got := bus.Header(dl[0], bus.HeaderErrorCode); got != code {
				complain("decision record %d/%d dead-lettered as %s, the clean pass says %s", at.p, at.off, got, code)
			}
			if bus.Header(dl[0], bus.HeaderErrorMessage) == "" {
				complain("decision dead letter of %d/%d has no reason (mrhub-error-message)", at.p, at.off)
			}
		}
	}
	for at := range dead {
		if !seen[at] {
			complain("decision dead letter for %d/%d, which the clean pass accepts or which was never published", at.p, at.off)
		}
	}

	// The decisions table against the clean pass.
	got, revoked := decisionRows(t, ctx, c.pool)
	want, _ := decisionRows(t, ctx, ref.hub.Pool)
	a.Stored, a.Expected, a.Revoked = len(got), len(want), len(revoked)
	unanswered := map[string]string{} // id -> kind
	for _, s := range unacked {
		unanswered[s.ID] = s.Kind
	}
	ids := sortedKeys(want)
	for _, id := range ids {
		g, ok := got[id]
		switch {
		case !ok:
			a.Lost++
			complain("lost: decision %s is not stored (clean pass: %s)", id, want[id])
		case g != want[id] && !(unanswered[id] == sendRevoke && stripRevoked(g) == stripRevoked(want[id])):
			a.Lost++
			complain("decision %s differs:\n  clean: %s\n  run:   %s", id, want[id], g)
		}
	}
	for _, id := range sortedKeys(got) {
		if _, ok := want[id]; ok {
			continue
		}
		if unanswered[id] == sendDecision {
			a.Landed++ // a request cut off by a kill that had committed
			continue
		}
		a.Duplicates++
		complain("decision %s stored but no acknowledged send accounts for it: %s", id, got[id])
	}
	var twice int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) - count(DISTINCT id) FROM decisions`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	a.Duplicates += twice
	if bad > 10 {
		t.Errorf("… %d decision mismatches in all", bad)
	}
	a.RollupRows = checkRollups(t, ctx, c.pool, ref)
	return a
}

func stripRevoked(s string) string { return s[:strings.LastIndex(s, " revoked=")] }

// rollupFigures are the decision columns of stats_rollup, summed over shards, as text.
const rollupFigures = `concat_ws(',', sum(decisions), sum(recognized), sum(declined_counting), sum(declined_not_counting), sum(revoked),
	sum(savings_cents), sum(reason_1), sum(reason_2), sum(reason_3), sum(reason_4), sum(reason_5), sum(reason_6), sum(reason_98), sum(reason_99))`

// checkRollups recounts every (grain, level) rollup row from the decisions table, independently
// of the triggers, and compares it with stats_rollup; then the totals the stats API computes
// from the rollups with a recount. It returns the number of rollup rows compared.
func checkRollups(t *testing.T, ctx context.Context, pool *pgxpool.Pool, ref *reference) int {
	t.Helper()
	rows, err := pool.Query(ctx, `
	WITH lv(grain, level) AS (VALUES ('d'::"char", 0::smallint), ('d', 1), ('d', 2), ('d', 3), ('m', 0), ('m', 1), ('m', 2), ('m', 3)),
	src AS (
		SELECT (decided_at AT TIME ZONE 'Asia/Shanghai')::date AS day, institution, department, item,
		       count(*) FILTER (WHERE revoked_at IS NULL) AS decisions,
		       count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'recognized') AS recognized,
		       count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'declined' AND counts_in_rate) AS declined_counting,
		       count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'declined' AND NOT counts_in_rate) AS declined_not_counting,
		       count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked,
		       COALESCE(sum(price_cents) FILTER (WHERE revoked_at IS NULL AND outcome = 'recognized'), 0) AS savings_cents,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 1) AS reason_1,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 2) AS reason_2,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 3) AS reason_3,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 4) AS reason_4,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 5) AS reason_5,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 6) AS reason_6,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 98) AS reason_98,
		       count(*) FILTER (WHERE revoked_at IS NULL AND reason = 99) AS reason_99
		FROM decisions GROUP BY 1, 2, 3, 4),
	want AS (
		SELECT lv.grain, lv.level, CASE lv.grain WHEN 'd' THEN day ELSE date_trunc('month', day)::date END AS period, institution,
		       CASE WHEN lv.level & 1 = 1 THEN department ELSE '' END AS department,
		       CASE WHEN lv.level & 2 = 2 THEN item ELSE '' END AS item, `+rollupFigures+` AS f
		FROM src CROSS JOIN lv GROUP BY 1, 2, 3, 4, 5, 6),
	got AS (
		SELECT grain, level, period, institution, department, item, `+rollupFigures+` AS f
		FROM stats_rollup GROUP BY 1, 2, 3, 4, 5, 6
		HAVING `+rollupFigures+` <> '0,0,0,0,0,0,0,0,0,0,0,0,0,0')
	SELECT concat_ws(' ', grain, level, period, institution, department, item), COALESCE(w.f, 'none'), COALESCE(g.f, 'none')
	FROM want w FULL JOIN got g USING (grain, level, period, institution, department, item)`)
	if err != nil {
		t.Fatal(err)
	}
	n, bad := 0, 0
	for rows.Next() {
		var key, w, g string
		if err := rows.Scan(&key, &w, &g); err != nil {
			t.Fatal(err)
		}
		n++
		if w != g {
			if bad++; bad <= 10 {
				t.Errorf("stats_rollup %s: recount %s, rollup %s (decisions, recognized, declined counting/not, revoked, savings, reasons 1-6 98 99)", key, w, g)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if bad > 0 {
		t.Errorf("%d of %d rollup rows differ from the recount", bad, n)
	}

	// What the bureau reads: totals over the whole period.
	var from, to *time.Time
	var want stats.Figures
	if err := pool.QueryRow(ctx, `SELECT min((decided_at AT TIME ZONE 'Asia/Shanghai')::date), max((decided_at AT TIME ZONE 'Asia/Shanghai')::date),
		count(*) FILTER (WHERE revoked_at IS NULL), count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'recognized'),
		count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'declined' AND counts_in_rate),
		count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'declined' AND NOT counts_in_rate),
		count(*) FILTER (WHERE revoked_at IS NOT NULL),
		COALESCE(sum(price_cents) FILTER (WHERE revoked_at IS NULL AND outcome = 'recognized'), 0)
		FROM decisions`).Scan(&from, &to, &want.Decisions, &want.Recognized, &want.DeclinedCounting, &want.DeclinedNotCounting,
		&want.Revoked, &want.SavingsCents); err != nil {
		t.Fatal(err)
	}
	if from == nil {
		return n
	}
	rep, err := stats.Run(ctx, pool, ref.hub.Catalog, stats.Query{From: *from, To: *to})
	if err != nil {
		t.Fatal(err)
	}
	g := rep.Totals
	if g.Decisions != want.Decisions || g.Recognized != want.Recognized || g.DeclinedCounting != want.DeclinedCounting ||
		g.DeclinedNotCounting != want.DeclinedNotCounting || g.Revoked != want.Revoked || g.SavingsCents != want.SavingsCents {
		t.Errorf("stats totals %s..%s: %+v, recount %+v", from.Format(time.DateOnly), to.Format(time.DateOnly), *g, want)
	}
	return n
}

func (a decisionAccount) codes() string {
	ks := make([]string, 0, len(a.DLQByCode))
	for k := range a.DLQByCode {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%d", k, a.DLQByCode[k])
	}
	return b.String()
}
