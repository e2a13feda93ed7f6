package chaos

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/consumers/reports"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// snapshot is the arrival-order-independent content of an index (as in
// consumers/reports/property_test.go): per report its status, current flag, content hash, item,
// patient identity as an identifier set, observation count and version history (content hashes);
// and the live patients as identifier sets.
type snapshot struct {
	Reports  map[string]string
	Patients []string
	Versions int
}

func takeSnapshot(t *testing.T, ctx context.Context, pool *pgxpool.Pool) snapshot {
	t.Helper()
	s := snapshot{Reports: map[string]string{}}
	rows, err := pool.Query(ctx, `
		SELECT r.id, r.status || ' current=' || r.current || ' hash=' || encode(r.content_hash, 'hex') || ' item=' || COALESCE(r.item, '-')
		       || ' provisional=' || p.provisional
		       || ' patient=' || COALESCE((SELECT string_agg(i.kind || '|' || i.issuer || '|' || encode(i.value_hash, 'hex'), ',' ORDER BY i.kind || '|' || i.issuer || '|' || encode(i.value_hash, 'hex'))
		                                  FROM patient_identifiers i WHERE i.patient_id = r.patient_id), '')
		       || ' observations=' || (SELECT count(*) FROM observations o WHERE o.report_id = r.id)
		       || ' imaging=' || (SELECT count(*) FROM imaging_studies i WHERE i.report_id = r.id)
		       || ' history=' || (SELECT string_agg(encode(v.content_hash, 'hex'), ',' ORDER BY encode(v.content_hash, 'hex')) FROM report_versions v WHERE v.report_id = r.id),
		       r.max_version = (SELECT count(*) FROM report_versions v WHERE v.report_id = r.id),
		       p.merged_into IS NULL
		FROM reports r JOIN patients p ON p.id = r.patient_id ORDER BY r.id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v string
		var maxOK, live bool
		if err := rows.Scan(&id, &v, &maxOK, &live); err != nil {
			t.Fatal(err)
		}
		if !maxOK || !live {
			t.Errorf("report %s: max_version matches history %v, patient live %v", id, maxOK, live)
		}
		s.Reports[id] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	s.Patients = testenv.PatientIdentitySets(t, ctx, pool)
	if n := testenv.DanglingReferences(t, ctx, pool); n != 0 {
		t.Errorf("%d rows reference what is not there: observations, imaging studies or versions without their report, reports of an unknown institution or item", n)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM report_versions`).Scan(&s.Versions); err != nil {
		t.Fatal(err)
	}
	return s
}

// compareSnapshots reports every difference between the clean pass and the run; it returns the
// number of differing reports.
func compareSnapshots(t *testing.T, want, got snapshot) int {
	t.Helper()
	n := 0
	for _, k := range sortedKeys(want.Reports) {
		if got.Reports[k] != want.Reports[k] {
			n++
			if n <= 10 {
				t.Errorf("report %s:\n  clean: %s\n  run:   %s", k, want.Reports[k], got.Reports[k])
			}
		}
	}
	for _, k := range sortedKeys(got.Reports) {
		if _, ok := want.Reports[k]; !ok {
			n++
			if n <= 10 {
				t.Errorf("report %s only in the run: %s", k, got.Reports[k])
			}
		}
	}
	if n > 10 {
		t.Errorf("… %d reports differ in all", n)
	}
	if want.Versions != got.Versions {
		t.Errorf("report_versions: clean pass %d rows, run %d", want.Versions, got.Versions)
	}
	if strings.Join(want.Patients, "\n") != strings.Join(got.Patients, "\n") {
		t.Errorf("live patients differ: clean pass %d, run %d", len(want.Patients), len(got.Patients))
	}
	return n
}

// reference is the result of a single clean in-process pass over the messages.
type reference struct {
	snap     snapshot
	profile  reports.ProfileFunc
	rejected map[string]int // dead-letter code -> messages
	hub      *hub.Hub       // the clean pass's hub and database (decisions are applied to it afterwards)
}

// cleanPass applies msgs in order, 50 messages per batch, in a database of its own, with the
// same identity key, and returns its snapshot and the profile (for accounting).
func cleanPass(t *testing.T, key string, msgs []kafka.Message) *reference {
	t.Helper()
	start := time.Now()
	ctx := context.Background()
	dsn, pool := testenv.DB(t)
	cfg := testenv.Config(dsn, []string{"127.0.0.1:1"})
	cfg.IDKeyHex = key
	h, err := hub.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ref := &reference{profile: h.Profiler().Func(), rejected: map[string]int{}, hub: h}
	const batch = 50
	for lo := 0; lo < len(msgs); lo += batch {
		hi := min(lo+batch, len(msgs))
		b := &index.Batch{Consumer: "clean"}
		for i := lo; i < hi; i++ {
			m := msgs[i]
			pos := index.Position{Topic: "clean", Partition: 0, Offset: int64(i)}
			b.Positions = append(b.Positions, pos)
			es, rej := ref.profile(m)
			if rej != nil {
				ref.rejected[rej.Code]++
				b.DeadLetters = append(b.DeadLetters, index.DeadLetter{Pos: pos, Key: m.Key, Value: m.Value, Code: rej.Code, Message: rej.Message, Path: rej.Path})
				continue
			}
			for _, e := range es {
				e.Pos = pos
				b.Entries = append(b.Entries, e)
			}
		}
		if _, err := h.Store.Apply(ctx, b); err != nil {
			t.Fatalf("clean pass, messages %d..%d: %v", lo, hi, err)
		}
	}
	ref.snap = takeSnapshot(t, ctx, pool)
	t.Logf("clean pass: %d messages, %d reports, %d versions, %d live patients, rejected %v, %s",
		len(msgs), len(ref.snap.Reports), ref.snap.Versions, len(ref.snap.Patients), ref.rejected, time.Since(start).Round(time.Millisecond))
	return ref
}

// account says what became of every message of the reports topic.
type account struct {
	Published     int            // records in mrhub.reports.v1
	Indexed       int            // wrote a version (report_versions names its partition and offset)
	Unchanged     int            // every report it carries is already in the history with its content
	DeadLettered  int            // rejected, and in mrhub.dlq.v1 with the code the profile gives
	Lost          int            // none of the above: must be 0
	DLQRecords    int            // records in mrhub.dlq.v1 naming the reports topic
	DLQDuplicates int            // DLQ records beyond one per rejected message (at-least-once relay)
	DLQByCode     map[string]int // rejected messages by code
}

func (a account) String() string {
	return fmt.Sprintf("published=%d indexed=%d unchanged=%d dead_lettered=%d lost=%d (dlq records %d, duplicates %d, by code %v)",
		a.Published, a.Indexed, a.Unchanged, a.DeadLettered, a.Lost, a.DLQRecords, a.DLQDuplicates, a.DLQByCode)
}

type pos struct {
	p   int
	off int64
}

// accountFor classifies every published record; it fails t on lost records and on dead letters
// that name no rejected record.
func accountFor(t *testing.T, ctx context.Context, pool *pgxpool.Pool, prof reports.ProfileFunc, published, dlq []kafka.Message) account {
	t.Helper()
	a := account{Published: len(published), DLQByCode: map[string]int{}}
	hashes := map[string]bool{} // report id + "/" + content hash
	written := map[pos]bool{}
	rows, err := pool.Query(ctx, `SELECT report_id, encode(content_hash, 'hex'), kafka_topic, kafka_partition, kafka_offset FROM report_versions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, h, topic string
		var p int
		var off int64
		if err := rows.Scan(&id, &h, &topic, &p, &off); err != nil {
			t.Fatal(err)
		}
		hashes[id+"/"+h] = true
		if topic == config.TopicReports {
			written[pos{p, off}] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	dead := map[pos][]string{} // source position -> codes of its dead letters
	for _, m := range dlq {
		if bus.Header(m, bus.HeaderSourceTopic) != config.TopicReports {
			continue
		}
		a.DLQRecords++
		p, err1 := strconv.Atoi(bus.Header(m, bus.HeaderSourcePart))
		off, err2 := strconv.ParseInt(bus.Header(m, bus.HeaderSourceOffset), 10, 64)
		if err1 != nil || err2 != nil {
			t.Errorf("dead letter without source partition/offset headers: %v", m.Headers)
			continue
		}
		if bus.Header(m, bus.HeaderErrorCode) == "" || bus.Header(m, bus.HeaderErrorMessage) == "" {
			t.Errorf("dead letter of %d/%d without error code or message", p, off)
		}
		dead[pos{p, off}] = append(dead[pos{p, off}], bus.Header(m, bus.HeaderErrorCode))
	}
	seenDead := map[pos]bool{}
	lostShown := 0
	lost := func(format string, args ...any) {
		a.Lost++
		if lostShown++; lostShown <= 10 {
			t.Errorf("lost: "+format, args...)
		}
	}
	for _, m := range published {
		at := pos{m.Partition, m.Offset}
		es, rej := prof(m)
		if rej != nil {
			codes := dead[at]
			switch {
			case len(codes) == 0:
				lost("record %d/%d rejected (%s) but not in the DLQ", at.p, at.off, rej.Code)
			case codes[0] != rej.Code:
				lost("record %d/%d dead-lettered as %s, the profile says %s", at.p, at.off, codes[0], rej.Code)
			default:
				a.DeadLettered++
				a.DLQByCode[rej.Code]++
				a.DLQDuplicates += len(codes) - 1
				seenDead[at] = true
			}
			continue
		}
		if len(dead[at]) > 0 {
			lost("record %d/%d is valid but was dead-lettered as %v", at.p, at.off, dead[at])
			continue
		}
		missing := ""
		for _, e := range es {
			if !hashes[e.ID+"/"+hex.EncodeToString(e.ContentHash)] {
				missing = e.ID
			}
		}
		switch {
		case missing != "":
			lost("record %d/%d: report %s with its content is not in report_versions", at.p, at.off, missing)
		case written[at]:
			a.Indexed++
		default:
			a.Unchanged++
		}
	}
	for at, codes := range dead {
		if !seenDead[at] {
			t.Errorf("dead letter %v for record %d/%d, which the profile accepts or which was never published", codes, at.p, at.off)
		}
	}
	if sum := a.Indexed + a.Unchanged + a.DeadLettered + a.Lost; sum != a.Published {
		t.Errorf("outcomes sum to %d, published %d", sum, a.Published)
	}
	return a
}

// indexTopicCheck folds mrhub.index.v1 by key (last record wins) and compares it with the
// database: every current report's last event carries its status, version, content hash and
// patient; a withdrawn report's last record is a tombstone (or it never had one); no key the
// database does not know. It returns the number of records, keys and exact duplicates (a record
// byte-identical to the previous record of its key: a relay re-publishing after a crash).
func indexTopicCheck(t *testing.T, ctx context.Context, pool *pgxpool.Pool, events []kafka.Message) (records, keys, duplicates int) {
	t.Helper()
	last := map[string][]byte{}
	has := map[string]bool{}
	for _, m := range events {
		k := string(m.Key)
		if has[k] && string(last[k]) == string(m.Value) {
			duplicates++
		}
		last[k], has[k] = m.Value, true
	}
	rows, err := pool.Query(ctx, `SELECT id, current, status, version, encode(content_hash, 'hex'), patient_id FROM reports`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	bad := 0
	complain := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	inDB := map[string]bool{}
	for rows.Next() {
		var id, status, hash string
		var current bool
		var version int
		var pid int64
		if err := rows.Scan(&id, &current, &status, &version, &hash, &pid); err != nil {
			t.Fatal(err)
		}
		inDB[id] = true
		v, ok := last[id]
		if !current {
			if ok && v != nil {
				complain("index topic: report %s is withdrawn but its last record is not a tombstone", id)
			}
			continue
		}
		if !ok || v == nil {
			complain("index topic: current report %s has no live record (present %v)", id, ok)
			continue
		}
		var ev index.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			complain("index topic: record of %s is not an index entry: %v", id, err)
			continue
		}
		want := fmt.Sprintf("%s v%d %s p%d", status, version, hash, pid)
		if got := fmt.Sprintf("%s v%d %s %s", ev.Status, ev.Version, ev.Hash, ev.Patient.ID); got != want {
			complain("index topic: report %s: last record %q, database %q", id, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for k := range has {
		if !inDB[k] {
			complain("index topic: key %s names no report", k)
		}
	}
	if bad > 10 {
		t.Errorf("… %d index topic mismatches in all", bad)
	}
	return len(events), len(has), duplicates
}

// duplicateRows counts index rows that exist twice: reports with one natural key, versions with
// one content (both are unique constraints; counted anyway: the account reports the number).
func duplicateRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) - count(DISTINCT natural_key) FROM reports) +
		(SELECT count(*) - count(DISTINCT (report_id, content_hash)) FROM report_versions) +
		(SELECT count(*) - count(DISTINCT (report_id, ordinal)) FROM observations)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
