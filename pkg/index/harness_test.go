package index_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// harness drives the real profile and the real Store against a fresh PostgreSQL database,
// one message per Apply, as the consumer would after decoding (no Kafka needed here).
type harness struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *index.Store
	prof  *profile.Profiler
	next  int64 // next offset on the harness partition
}

const township = "12330299473554337R" // 清溪区青山镇卫生院, township of community QXYG01 (HospitalA's)

func newHarness(t *testing.T) *harness {
	t.Helper()
	_, pool := testenv.DB(t)
	cat, err := catalog.Load(context.Background(), pool)
	if err != nil {
		t.Fatalf("loading catalogue: %v", err)
	}
	key, _ := hex.DecodeString(testenv.Key())
	hasher, err := identity.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, pool: pool, store: index.NewStore(pool, config.TopicIndex, config.TopicDLQ),
		prof: &profile.Profiler{Catalog: cat, Hasher: hasher, Location: time.FixedZone("CST", 8*3600)}}
}

// profile runs the indexing profile on one message value.
func (h *harness) profile(source string, value []byte) ([]*index.Entry, error) {
	return h.prof.Message(value, source)
}

// apply profiles value as published by source and applies it as one batch (a rejection
// becomes a dead letter, as in the consumer). It returns the entries and the outcome.
func (h *harness) apply(source string, value []byte) ([]*index.Entry, *index.Outcome) {
	h.t.Helper()
	pos := index.Position{Topic: config.TopicReports, Partition: 0, Offset: h.next}
	h.next++
	b := &index.Batch{Consumer: "harness", Positions: []index.Position{pos}}
	es, err := h.profile(source, value)
	if err != nil {
		rej := profile.AsRejection(err)
		b.DeadLetters = []index.DeadLetter{{Pos: pos, Value: value, Headers: map[string]string{"mrhub-source": source},
			Code: rej.Code, Message: rej.Message, Path: rej.Path}}
	}
	for _, e := range es {
		e.Pos = pos
	}
	b.Entries = es
	out, err := h.store.Apply(context.Background(), b)
	if err != nil {
		h.t.Fatalf("Apply: %v", err)
	}
	return es, out
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// reportRow is a report as stored.
type reportRow struct {
	Status, Source   string
	Current          bool
	Version, MaxVer  int
	Hash             []byte
	PatientID        int64
	Item             *string
	IdentifierValue  string
	History          int
	Observations     int
	ObservationVals  []float64
	LiveOfPatient    int64 // the patient row the report points at, after following merged_into
	PatientMergedOut bool
}

func (h *harness) report(id string) (*reportRow, bool) {
	h.t.Helper()
	ctx := context.Background()
	var r reportRow
	var merged *int64
	err := h.pool.QueryRow(ctx, `SELECT r.status, r.source, r.current, r.version, r.max_version, r.content_hash, r.patient_id,
		r.item, r.identifier_value, p.merged_into FROM reports r JOIN patients p ON p.id = r.patient_id WHERE r.id = $1`, id).
		Scan(&r.Status, &r.Source, &r.Current, &r.Version, &r.MaxVer, &r.Hash, &r.PatientID, &r.Item, &r.IdentifierValue, &merged)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false
	}
	if err != nil {
		h.t.Fatalf("reading report %s: %v", id, err)
	}
	r.PatientMergedOut = merged != nil
	r.History = h.count(`SELECT count(*) FROM report_versions WHERE report_id = $1`, id)
	r.Observations = h.count(`SELECT count(*) FROM observations WHERE report_id = $1`, id)
	rows, err := h.pool.Query(ctx, `SELECT value_num FROM observations WHERE report_id = $1 ORDER BY ordinal`, id)
	if err != nil {
		h.t.Fatal(err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		h.t.Fatal(err)
	}
	r.ObservationVals = vals
	return &r, true
}

// event is one outbox record for the index topic.
type event struct {
	Value   []byte // nil = tombstone
	Headers map[string]string
}

// events returns the index-topic outbox records of report id, in outbox order.
func (h *harness) events(id string) []event {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT value, headers FROM outbox WHERE topic = $1 AND key = $2 ORDER BY id`,
		config.TopicIndex, []byte(id))
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var ev event
		var hj []byte
		if err := rows.Scan(&ev.Value, &hj); err != nil {
			h.t.Fatal(err)
		}
		if err := json.Unmarshal(hj, &ev.Headers); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// headersOf lists the headers of evs, for messages.
func headersOf(evs []event) []map[string]string {
	out := make([]map[string]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Headers
	}
	return out
}

// lastEvent decodes the latest index event of id (nil when it is a tombstone).
func (h *harness) lastEvent(id string) (*index.Event, int) {
	h.t.Helper()
	evs := h.events(id)
	if len(evs) == 0 {
		h.t.Fatalf("report %s: no index event in the outbox", id)
	}
	last := evs[len(evs)-1]
	if last.Value == nil {
		return nil, len(evs)
	}
	var ev index.Event
	if err := json.Unmarshal(last.Value, &ev); err != nil {
		h.t.Fatalf("decoding index event: %v", err)
	}
	return &ev, len(evs)
}
