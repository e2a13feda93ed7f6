package reports_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/consumers/reports"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/outbox"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// The property: whatever the delivery order (shuffled across partitions, each publisher key in
// order), however often messages are repeated, however many group members consume them and
// wherever they crash between the database commit and the offset commit, the final index and
// the compacted mrhub.index.v1 equal those of one clean in-order pass.
//
// MRHUB_PROPERTY_SEEDS=n runs seeds 1..n (default 5); MRHUB_PROPERTY_SEED=k runs seed k only.

const townshipA = "12330299473554337R" // township of HospitalA's community: may publish its reports

var labCodesA = []string{"6587", "6798", "6209", "6332", "6673"} // mapped at HospitalA (JY001…)

// pub is one message to publish.
type pub struct {
	source, key string
	value       []byte
}

// genReport is one canonical report and its versions in rank order.
type genReport struct {
	versions   []testenv.Report
	publishers []string
	keyBase    string
	messy      bool // versions not generated in rank order
}

type stream struct {
	reports []genReport
	clean   []pub   // every version once, in order, by its first publisher
	chaos   [][]pub // per publisher key, in that key's order (with repeats and co-publications)
}

func generate(seed uint64) *stream {
	r := rand.New(rand.NewPCG(seed, seed*7919+1))
	type person struct {
		nid, mrnA, mrnB string
		mode            int // 0: ID always; 1: MRN first, ID later; 2: ID at B only, MRN-only then MRN+ID at A
		seen            int
	}
	nPat := 5 + r.IntN(3)
	people := make([]*person, nPat)
	for i := range people {
		people[i] = &person{nid: testenv.NID(int(seed)*37 + i), mrnA: fmt.Sprintf("A%d-%d", seed, i), mrnB: fmt.Sprintf("B%d-%d", seed, i), mode: r.IntN(3)}
	}
	base := time.Date(2026, 9, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	s := &stream{}
	chaos := map[string][]pub{}
	var keyOrder []string
	addChaos := func(p pub) {
		if _, ok := chaos[p.key]; !ok {
			keyOrder = append(keyOrder, p.key)
		}
		chaos[p.key] = append(chaos[p.key], p)
	}
	nRep := 20 + r.IntN(10)
	for n := 0; n < nRep; n++ {
		p := people[r.IntN(nPat)]
		p.seen++
		performer := testenv.HospitalA
		publishers := []string{testenv.HospitalA, townshipA}
		// 0 versionId, 1 lastUpdated, 2 issued, 3 first without meta then versionId, 4 messy:
		// versionId on some versions only, issued out of order (real feeds do this); messy reports
		// are HospitalA's, so that two publishers (two keys) reorder their versions.
		style := min(r.IntN(6), 4) // one report in three is messy
		if style != 4 && r.IntN(10) < 3 {
			performer, publishers = testenv.HospitalB, []string{testenv.HospitalB}
		}
		rep := testenv.Report{Performer: performer, Effective: base.Add(time.Duration(n) * time.Hour), CodeSystem: testenv.LabCodeSystem,
			Code: labCodesA[r.IntN(len(labCodesA))]}
		// Who the patient is, as this report says it (the same for all its versions).
		idLater := p.seen > 2 // the patient's first reports carry only the MRN
		switch {
		case performer == testenv.HospitalB:
			rep.MRN = p.mrnB
			if p.mode != 1 || idLater {
				rep.NID = p.nid
			}
			if p.mode == 2 {
				rep.MRN = ""
				rep.NID = p.nid
			}
		default:
			rep.MRN = p.mrnA
			if p.mode == 0 || idLater {
				rep.NID = p.nid
			}
		}
		keyBase := ""
		if r.IntN(5) > 0 {
			rep.ID = fmt.Sprintf("S%d-R%d", seed, n)
			keyBase = rep.ID
		} else {
			keyBase = fmt.Sprintf("fallback-%d", n) // no identifier: the hub uses the fallback natural key
		}
		// Versions, in rank order.
		nv := 1 + r.IntN(3)
		if style == 4 {
			nv = 3 + r.IntN(2)
		}
		statuses := []string{"final"}
		if r.IntN(5) == 0 {
			statuses = []string{"preliminary", "final"}
		}
		for len(statuses) < nv {
			statuses = append(statuses, []string{"amended", "corrected", "appended"}[r.IntN(3)])
		}
		if r.IntN(8) == 0 {
			statuses = append(statuses, []string{"entered-in-error", "cancelled"}[r.IntN(2)])
		}
		g := genReport{publishers: publishers, keyBase: keyBase, messy: style == 4}
		for j, st := range statuses {
			v := rep
			v.Status = st
			v.Values = []float64{float64(r.IntN(1000)) / 10, float64(j + 1)}
			if r.IntN(2) == 0 {
				v.Values = append(v.Values, float64(r.IntN(100)))
			}
			v.Issued = rep.Effective.Add(2 * time.Hour)
			switch style {
			case 0:
				v.VersionID = strconv.Itoa(j + 1)
			case 1:
				v.LastUpdated = rep.Effective.Add(time.Duration(3+j) * time.Hour)
			case 2:
				v.Issued = rep.Effective.Add(time.Duration(2+j) * time.Hour)
			case 3:
				if j > 0 {
					v.VersionID = strconv.Itoa(j + 1)
				}
			case 4:
				if r.IntN(2) == 0 {
					v.VersionID = strconv.Itoa(j + 1)
				}
				v.Issued = rep.Effective.Add(time.Duration(r.IntN(4)) * time.Hour)
			}
			g.versions = append(g.versions, v)
		}
		s.reports = append(s.reports, g)
		for _, v := range g.versions {
			value := v.JSON()
			first := publishers[r.IntN(len(publishers))]
			s.clean = append(s.clean, pub{source: first, key: first + "|" + keyBase, value: value})
			addChaos(pub{source: first, key: first + "|" + keyBase, value: value})
			if len(publishers) > 1 && r.IntN(4) == 0 { // the other member of the community publishes it too
				other := publishers[0]
				if other == first {
					other = publishers[1]
				}
				addChaos(pub{source: other, key: other + "|" + keyBase, value: value})
			}
			if r.IntN(7) == 0 { // the publisher resends it
				addChaos(pub{source: first, key: first + "|" + keyBase, value: value})
			}
		}
	}
	for _, k := range keyOrder {
		s.chaos = append(s.chaos, chaos[k])
	}
	return s
}

// interleave merges the per-key sequences in a random order that keeps each key's order.
func interleave(r *rand.Rand, keys [][]pub) []pub {
	heads := make([]int, len(keys))
	var out []pub
	live := make([]int, len(keys))
	for i := range live {
		live[i] = i
	}
	for len(live) > 0 {
		i := r.IntN(len(live))
		k := live[i]
		out = append(out, keys[k][heads[k]])
		heads[k]++
		if heads[k] == len(keys[k]) {
			live = append(live[:i], live[i+1:]...)
		}
	}
	return out
}

func publishPubs(t *testing.T, brokers []string, ps []pub) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: config.TopicReports, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchBytes: 16 << 20}
	defer w.Close()
	msgs := make([]kafka.Message, len(ps))
	for i, p := range ps {
		msgs[i] = kafka.Message{Key: []byte(p.key), Value: p.value, Headers: []protocol.Header{{Key: bus.HeaderSource, Value: []byte(p.source)}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("publishing: %v", err)
	}
}

// snapshot is the order-independent content of an index.
type snapshot struct {
	Reports  map[string]string // id -> status, current, hash, item, patient identity, observations, history
	Patients []string          // live patients as their sorted identifier sets
	Events   map[string]string // compacted mrhub.index.v1: id -> normalised entry
}

func indexSnapshot(t *testing.T, ctx context.Context, pool *pgxpool.Pool) snapshot {
	t.Helper()
	s := snapshot{Reports: map[string]string{}, Events: map[string]string{}}
	rows, err := pool.Query(ctx, `
		SELECT r.id, r.status || ' current=' || r.current || ' hash=' || encode(r.content_hash, 'hex') || ' item=' || COALESCE(r.item, '-')
		       || ' provisional=' || p.provisional
		       || ' patient=' || COALESCE((SELECT string_agg(i.kind || '|' || i.issuer || '|' || encode(i.value_hash, 'hex'), ',' ORDER BY i.kind || '|' || i.issuer || '|' || encode(i.value_hash, 'hex'))
		                                  FROM patient_identifiers i WHERE i.patient_id = r.patient_id), '')
		       || ' observations=' || (SELECT count(*) FROM observations o WHERE o.report_id = r.id)
		       || ' history=' || (SELECT string_agg(encode(v.content_hash, 'hex'), ',' ORDER BY encode(v.content_hash, 'hex')) FROM report_versions v WHERE v.report_id = r.id),
		       r.max_version = (SELECT count(*) FROM report_versions v WHERE v.report_id = r.id),
		       p.merged_into IS NULL,
		       NOT EXISTS (SELECT 1 FROM observations o WHERE o.report_id = r.id AND o.patient_id <> r.patient_id)
		FROM reports r JOIN patients p ON p.id = r.patient_id ORDER BY r.id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v string
		var maxOK, live, obsOK bool
		if err := rows.Scan(&id, &v, &maxOK, &live, &obsOK); err != nil {
			t.Fatal(err)
		}
		if !maxOK || !live || !obsOK {
			t.Errorf("report %s: max_version matches history %v, patient live %v, observations on the report's patient %v", id, maxOK, live, obsOK)
		}
		s.Reports[id] = v
	}
	rows.Close()
	s.Patients = testenv.PatientIdentitySets(t, ctx, pool)
	if n := testenv.DanglingReferences(t, ctx, pool); n != 0 {
		t.Errorf("%d rows reference what is not there: observations, imaging studies or versions without their report, reports of an unknown institution or item", n)
	}
	return s
}

// normaliseEvent drops what legitimately depends on arrival order: serial patient id, history
// position (version), change kind, timestamps and which community member published first.
func normaliseEvent(t *testing.T, value []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(value, &m); err != nil {
		t.Fatalf("index event is not JSON: %v", err)
	}
	for _, k := range []string{"version", "change", "updated_at", "source"} {
		delete(m, k)
	}
	if p, ok := m["patient"].(map[string]any); ok {
		delete(p, "id")
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// compact folds (key, value) records in log order: last value wins, nil deletes.
func compact(t *testing.T, into map[string]string, key, value []byte) {
	if value == nil {
		delete(into, string(key))
		return
	}
	into[string(key)] = normaliseEvent(t, value)
}

// cleanPass applies every version once, in order, one message per transaction, in its own
// database, and returns the snapshot, the compacted view taken from its outbox.
func cleanPass(t *testing.T, ctx context.Context, s *stream, idKey string) snapshot {
	t.Helper()
	dsn, pool := testenv.DB(t)
	cfg := testenv.Config(dsn, []string{"127.0.0.1:1"})
	cfg.IDKeyHex = idKey
	h, err := hub.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	prof := h.Profiler()
	for i, p := range s.clean {
		pos := index.Position{Topic: config.TopicReports, Offset: int64(i)}
		es, err := prof.Message(p.value, p.source)
		if err != nil {
			t.Fatalf("clean pass: message %d rejected: %v", i, err)
		}
		for _, e := range es {
			e.Pos = pos
		}
		if _, err := h.Store.Apply(ctx, &index.Batch{Consumer: "clean", Positions: []index.Position{pos}, Entries: es}); err != nil {
			t.Fatalf("clean pass: %v", err)
		}
	}
	snap := indexSnapshot(t, ctx, pool)
	// Oracle for the clean pass itself: each generated report is one canonical report whose
	// current version is its highest-ranked one (the last generated, unless messy).
	if len(snap.Reports) != len(s.reports) {
		t.Fatalf("clean pass indexed %d reports, generated %d", len(snap.Reports), len(s.reports))
	}
	for gi, g := range s.reports {
		var best *index.Entry
		bestAt := -1
		for j, v := range g.versions {
			es, err := prof.Message(v.JSON(), g.publishers[0])
			if err != nil {
				t.Fatal(err)
			}
			if best != nil && es[0].ID != best.ID {
				t.Fatalf("generated report %d: versions have canonical ids %s and %s", gi, best.ID, es[0].ID)
			}
			if best == nil || index.CompareRank(es[0].Rank(), best.Rank()) > 0 {
				best, bestAt = es[0], j
			}
		}
		if !g.messy && bestAt != len(g.versions)-1 {
			t.Fatalf("generated report %d: version %d ranks highest, want the last (%d)", gi, bestAt, len(g.versions)-1)
		}
		wantCur := fmt.Sprintf("%s current=%v hash=%x ", best.Status, !index.Withdrawn(best.Status), best.ContentHash)
		if got := snap.Reports[best.ID]; !strings.HasPrefix(got, wantCur) {
			t.Fatalf("clean pass, generated report %d: index has %q, want %q…", gi, got, wantCur)
		}
	}
	rows, err := pool.Query(ctx, `SELECT key, value FROM outbox WHERE topic = $1 ORDER BY id`, config.TopicIndex)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		compact(t, snap.Events, k, v)
	}
	return snap
}

type chaosStats struct {
	messages, crashes, batches int
	perMember                  [2]int32
}

// chaosPass delivers the stream shuffled, with repeats, through two group members that crash
// at random between the database commit and the offset commit, with the outbox relay running.
func chaosPass(t *testing.T, ctx context.Context, seed uint64, s *stream, idKey string) (snapshot, chaosStats) {
	t.Helper()
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 3)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.IDKeyHex = idKey
	cfg.Partitions = 3
	h, err := hub.Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	r := rand.New(rand.NewPCG(seed, 42))
	msgs := interleave(r, s.chaos)
	var st chaosStats
	st.messages = len(msgs)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	relay := &outbox.Relay{Pool: h.Pool, Publisher: bus.NewWriter(b.Addrs(), "", nil), Log: h.Log, Poll: 20 * time.Millisecond}
	wg.Add(1)
	go func() { defer wg.Done(); _ = relay.Run(runCtx) }()

	var mu sync.Mutex
	crashRand := rand.New(rand.NewPCG(seed, 7))
	var crashes, batches atomic.Int32
	var perMember [2]atomic.Int32
	const maxCrashes = 4
	errs := make(chan error, 8)
	member := func(m int) {
		defer wg.Done()
		for runCtx.Err() == nil {
			c, closeReader, err := h.NewConsumer(m)
			if err != nil {
				errs <- err
				return
			}
			c.BatchSize, c.BatchWait = 6, 20*time.Millisecond
			c.AfterApply = func(*index.Batch) error {
				n := batches.Add(1)
				perMember[m].Add(1)
				mu.Lock()
				crash := crashRand.IntN(4) == 0 || n == 2 // at least one crash per seed
				mu.Unlock()
				if crash && crashes.Add(1) <= maxCrashes {
					return reports.ErrStopped // committed to the database, not to Kafka
				}
				return nil
			}
			err = c.Run(runCtx)
			_ = closeReader()
			if err != nil && !errors.Is(err, reports.ErrStopped) {
				errs <- fmt.Errorf("member %d: %w", m, err)
				return
			}
		}
	}
	// Publish the first half, start the members, publish the rest while they consume.
	half := len(msgs) / 2
	publishPubs(t, b.Addrs(), msgs[:half])
	wg.Add(2)
	go member(0)
	go member(1)
	publishPubs(t, b.Addrs(), msgs[half:])

	deadline := time.Now().Add(30 * time.Second)
	for {
		var consumed, pending int
		if err := pool.QueryRow(ctx, `SELECT COALESCE((SELECT sum(next_offset) FROM ingest_offsets), 0)::int, (SELECT count(*) FROM outbox)::int`).
			Scan(&consumed, &pending); err != nil {
			t.Fatal(err)
		}
		if consumed == len(msgs) && pending == 0 {
			break
		}
		select {
		case err := <-errs:
			t.Fatalf("seed %d: %v", seed, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: after 30s, %d of %d messages consumed, %d outbox records pending", seed, consumed, len(msgs), pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	wg.Wait()
	st.crashes, st.batches = int(min(crashes.Load(), maxCrashes)), int(batches.Load())
	st.perMember = [2]int32{perMember[0].Load(), perMember[1].Load()}

	snap := indexSnapshot(t, ctx, pool)
	for _, m := range testenv.ReadAll(t, b.Addrs(), config.TopicIndex, 0, 10*time.Second) {
		compact(t, snap.Events, m.Key, m.Value)
	}
	if dl := testenv.ReadAll(t, b.Addrs(), config.TopicDLQ, 0, 5*time.Second); len(dl) != 0 {
		t.Errorf("seed %d: %d dead letters, want none (first: %s)", seed, len(dl), bus.Header(dl[0], bus.HeaderErrorMessage))
	}
	return snap, st
}

func propertySeeds(t *testing.T) []uint64 {
	if v := os.Getenv("MRHUB_PROPERTY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MRHUB_PROPERTY_SEED=%q: %v", v, err)
		}
		return []uint64{n}
	}
	n := 5
	if v := os.Getenv("MRHUB_PROPERTY_SEEDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("MRHUB_PROPERTY_SEEDS=%q: want a positive number", v)
		}
	}
	if testing.Short() {
		n = 1
	}
	var out []uint64
	for i := 1; i <= n; i++ {
		out = append(out, uint64(i))
	}
	return out
}

func TestPropertyShuffledRepeatedCrashingDeliveryEqualsCleanPass(t *testing.T) {
	for _, seed := range propertySeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			s := generate(seed)
			idKey := testenv.Key()
			want := cleanPass(t, ctx, s, idKey)
			got, st := chaosPass(t, ctx, seed, s, idKey)

			live := 0
			for _, v := range want.Reports {
				if strings.Contains(v, "current=true") {
					live++
				}
			}
			if len(want.Events) != live {
				t.Fatalf("clean pass: %d live index entries in the compacted view, %d current reports", len(want.Events), live)
			}

			diff := func(what string, a, b map[string]string) {
				for k, v := range a {
					if b[k] != v {
						t.Errorf("%s %s:\n  clean: %s\n  chaos: %s", what, k, v, b[k])
					}
				}
				for k, v := range b {
					if _, ok := a[k]; !ok {
						t.Errorf("%s %s only after the chaotic delivery: %s", what, k, v)
					}
				}
			}
			diff("report", want.Reports, got.Reports)
			diff("index event", want.Events, got.Events)
			if strings.Join(want.Patients, "\n") != strings.Join(got.Patients, "\n") {
				t.Errorf("patients differ:\n  clean: %v\n  chaos: %v", want.Patients, got.Patients)
			}
			t.Logf("seed %d: %d reports, %d clean messages, %d delivered (shuffled, repeated), %d batches (members %v), %d crashes, %d live patients, %v",
				seed, len(s.reports), len(s.clean), st.messages, st.batches, st.perMember, st.crashes, len(want.Patients), time.Since(start).Round(time.Millisecond))
		})
	}
}
