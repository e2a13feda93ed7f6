package index_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

var (
	cst  = time.FixedZone("CST", 8*3600)
	t0   = time.Date(2026, 10, 20, 8, 30, 0, 0, cst)
	valA = []float64{5.2, 4.5, 135}
	valB = []float64{6.1, 3.9}
)

// rep is the report every transition case publishes in some version.
func rep(status, versionID string, vals []float64) testenv.Report {
	return testenv.Report{Performer: testenv.HospitalA, ID: "T-1", NID: testenv.NID(1), Status: status, VersionID: versionID,
		Effective: t0, Values: vals}
}

func withIssued(r testenv.Report, d time.Duration) testenv.Report { r.Issued = t0.Add(d); return r }
func withUpdated(r testenv.Report, d time.Duration) testenv.Report {
	r.LastUpdated = t0.Add(d)
	return r
}
func withNoID(r testenv.Report) testenv.Report              { r.ID = ""; return r }
func withNote(r testenv.Report, note string) testenv.Report { r.Note = note; return r }

type step struct {
	source string
	r      testenv.Report
}

func from(r testenv.Report) step     { return step{testenv.HospitalA, r} }
func fromTown(r testenv.Report) step { return step{township, r} }

func TestStatusTransitions(t *testing.T) {
	cases := []struct {
		name    string
		steps   []step
		current int    // step whose content is the current version
		status  string // reports.status
		live    bool   // reports.current
		version int    // reports.version (position of the current version in history)
		history int
		events  int    // index events queued for the report
		last    string // what the last Apply counted: new, version, unchanged, history, withdrawn
		source  string // reports.source ("" = HospitalA)
	}{
		{name: "final then amended replaces it", steps: []step{from(rep("final", "1", valA)), from(rep("amended", "2", valB))},
			current: 1, status: "amended", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "final then corrected replaces it", steps: []step{from(rep("final", "1", valA)), from(rep("corrected", "2", valB))},
			current: 1, status: "corrected", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "final then appended replaces it", steps: []step{from(rep("final", "1", valA)), from(rep("appended", "2", valB))},
			current: 1, status: "appended", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "older versionId arriving late goes to history",
			steps:   []step{from(rep("amended", "2", valB)), from(rep("final", "1", valA))},
			current: 0, status: "amended", live: true, version: 1, history: 2, events: 1, last: "history"},
		{name: "numeric versionIds compare as numbers (10 > 9)",
			steps:   []step{from(rep("amended", "10", valB)), from(rep("amended", "9", valA))},
			current: 0, status: "amended", live: true, version: 1, history: 2, events: 1, last: "history"},
		{name: "older lastUpdated arriving late goes to history",
			steps:   []step{from(withUpdated(rep("amended", "", valB), 5*time.Hour)), from(withUpdated(rep("final", "", valA), 3*time.Hour))},
			current: 0, status: "amended", live: true, version: 1, history: 2, events: 1, last: "history"},
		{name: "older issued arriving late goes to history",
			steps:   []step{from(withIssued(rep("amended", "", valB), 6*time.Hour)), from(withIssued(rep("final", "", valA), 2*time.Hour))},
			current: 0, status: "amended", live: true, version: 1, history: 2, events: 1, last: "history"},
		{name: "entered-in-error withdraws", steps: []step{from(rep("final", "1", valA)), from(rep("entered-in-error", "2", valA))},
			current: 1, status: "entered-in-error", live: false, version: 2, history: 2, events: 2, last: "withdrawn"},
		{name: "cancelled withdraws", steps: []step{from(rep("final", "1", valA)), from(rep("cancelled", "2", valA))},
			current: 1, status: "cancelled", live: false, version: 2, history: 2, events: 2, last: "withdrawn"},
		{name: "withdrawal arriving first: the late final stays in history",
			steps:   []step{from(rep("entered-in-error", "2", valA)), from(rep("final", "1", valA))},
			current: 0, status: "entered-in-error", live: false, version: 1, history: 2, events: 1, last: "history"},
		{name: "preliminary then a later final replaces it",
			steps:   []step{from(withIssued(rep("preliminary", "", valA), time.Hour)), from(withIssued(rep("final", "", valB), 3*time.Hour))},
			current: 1, status: "final", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "preliminary then final with the same times: status decides",
			steps:   []step{from(rep("preliminary", "", valA)), from(rep("final", "", valB))},
			current: 1, status: "final", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "preliminary arriving after its final never regresses",
			steps:   []step{from(rep("final", "", valB)), from(rep("preliminary", "", valA))},
			current: 0, status: "final", live: true, version: 1, history: 2, events: 1, last: "history"},
		{name: "exact redelivery is a no-op", steps: []step{from(rep("final", "1", valA)), from(rep("final", "1", valA))},
			current: 0, status: "final", live: true, version: 1, history: 1, events: 1, last: "unchanged"},
		{name: "lead hospital and township centre of its community publish the same report",
			steps:   []step{from(rep("final", "1", valA)), fromTown(rep("final", "1", valA))},
			current: 0, status: "final", live: true, version: 1, history: 1, events: 1, last: "unchanged"},
		{name: "township publishes first, the lead hospital amends",
			steps:   []step{fromTown(rep("final", "1", valA)), from(rep("amended", "2", valB))},
			current: 1, status: "amended", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "no identifier: same patient+code+effective is one report (fallback key)",
			steps:   []step{from(withNoID(rep("final", "1", valA))), from(withNote(withNoID(rep("amended", "2", valB)), "amended"))},
			current: 1, status: "amended", live: true, version: 2, history: 2, events: 2, last: "version"},
		{name: "no identifier: exact redelivery is a no-op",
			steps:   []step{from(withNoID(rep("final", "", valA))), from(withNoID(rep("final", "", valA)))},
			current: 0, status: "final", live: true, version: 1, history: 1, events: 1, last: "unchanged"},
	}
	// One database for all cases (creating and seeding one costs about a second); each case has
	// its own report: its own identifier, or its own effective time when it has none.
	h := newHarness(t)
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			reportsBefore := h.count(`SELECT count(*) FROM reports`)
			var entries []*index.Entry
			var out *index.Outcome
			for i, s := range c.steps {
				if s.r.ID != "" {
					s.r.ID = fmt.Sprintf("T-%d", ci)
				} else {
					s.r.Effective = s.r.Effective.Add(time.Duration(ci) * time.Minute)
					if !s.r.Issued.IsZero() {
						s.r.Issued = s.r.Issued.Add(time.Duration(ci) * time.Minute)
					}
				}
				es, o := h.apply(s.source, s.r.JSON())
				if len(es) != 1 {
					t.Fatalf("step %d: %d entries (dead letters %d), want 1", i, len(es), o.DeadLetters)
				}
				entries = append(entries, es[0])
				out = o
			}
			id := entries[0].ID
			for i, e := range entries {
				if e.ID != id {
					t.Fatalf("step %d has canonical id %s, step 0 has %s: not one report", i, e.ID, id)
				}
			}
			if n := h.count(`SELECT count(*) FROM reports`) - reportsBefore; n != 1 {
				t.Fatalf("reports added = %d, want 1", n)
			}
			got, ok := h.report(id)
			if !ok {
				t.Fatalf("report %s not stored", id)
			}
			want := entries[c.current]
			if !bytes.Equal(got.Hash, want.ContentHash) {
				cur := -1
				for i, e := range entries {
					if bytes.Equal(got.Hash, e.ContentHash) {
						cur = i
					}
				}
				t.Errorf("current version is step %d's content, want step %d's", cur, c.current)
			}
			if got.Status != c.status || got.Current != c.live || got.Version != c.version || got.History != c.history {
				t.Errorf("status=%s current=%v version=%d history=%d, want %s %v %d %d",
					got.Status, got.Current, got.Version, got.History, c.status, c.live, c.version, c.history)
			}
			if got.MaxVer != got.History {
				t.Errorf("max_version = %d, history has %d versions", got.MaxVer, got.History)
			}
			wantSource := c.source
			if wantSource == "" {
				wantSource = c.steps[c.current].source
			}
			if got.Source != wantSource {
				t.Errorf("source = %s, want %s", got.Source, wantSource)
			}
			// Observations: those of the current version, none when withdrawn.
			wantVals := c.steps[c.current].r.Values
			if !c.live {
				wantVals = nil
			}
			if !slices.Equal(got.ObservationVals, wantVals) {
				t.Errorf("observation values = %v, want %v", got.ObservationVals, wantVals)
			}
			// Outcome of the last step.
			counts := map[string]int{"new": out.New, "version": out.Versions, "unchanged": out.Unchanged,
				"history": out.History, "withdrawn": out.Withdrawn}
			for k, v := range counts {
				if w := map[bool]int{true: 1}[k == c.last]; v != w {
					t.Errorf("last outcome %s = %d, want %d (%+v)", k, v, w, *out)
				}
			}
			// Index events: one per change; the last one is the current entry or a tombstone.
			evs := h.events(id)
			if len(evs) != c.events {
				t.Errorf("index events = %d, want %d", len(evs), c.events)
			}
			ev, _ := h.lastEvent(id)
			if !c.live {
				if ev != nil {
					t.Errorf("withdrawn report: last index event is %+v, want a tombstone (NULL value)", ev)
				}
			} else {
				if ev == nil {
					t.Fatalf("last index event is a tombstone, want the entry")
				}
				if ev.ID != id || ev.Status != c.status || ev.Hash != hex.EncodeToString(want.ContentHash) || ev.Version != c.version {
					t.Errorf("last event id=%s status=%s hash=%s version=%d, want %s %s %x %d",
						ev.ID, ev.Status, ev.Hash, ev.Version, id, c.status, want.ContentHash, c.version)
				}
				if ev.Item == nil || *ev.Item != "JY001" {
					t.Errorf("event item = %v, want JY001", ev.Item)
				}
			}
			// Labels: the report's first event says new, every later one version (a tombstone too).
			for i, ev := range evs {
				if want := map[bool]string{true: "new", false: "version"}[i == 0]; ev.Headers["mrhub-change"] != want {
					t.Errorf("event %d of %d: mrhub-change = %q, want %q", i+1, len(evs), ev.Headers["mrhub-change"], want)
				}
			}
			if v := evs[len(evs)-1].Headers["mrhub-version"]; v != fmt.Sprint(c.version) {
				t.Errorf("event header mrhub-version = %q, want %d", v, c.version)
			}
			// History keeps every distinct version received, in arrival order.
			rows, err := h.pool.Query(t.Context(), `SELECT content_hash FROM report_versions WHERE report_id = $1 ORDER BY version`, id)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var i int
			seen := map[string]bool{}
			for rows.Next() {
				var hsh []byte
				if err := rows.Scan(&hsh); err != nil {
					t.Fatal(err)
				}
				for i < len(entries) && seen[string(entries[i].ContentHash)] {
					i++
				}
				if i >= len(entries) || !bytes.Equal(hsh, entries[i].ContentHash) {
					t.Errorf("history version %x is not the next distinct step", hsh)
				} else {
					seen[string(hsh)] = true
				}
			}
		})
	}
}

func TestFallbackKeyDistinguishesEffective(t *testing.T) {
	h := newHarness(t)
	a := withNoID(rep("final", "", valA))
	b := a
	b.Effective = t0.Add(24 * time.Hour)
	ea, _ := h.apply(testenv.HospitalA, a.JSON())
	eb, _ := h.apply(testenv.HospitalA, b.JSON())
	if ea[0].ID == eb[0].ID {
		t.Fatalf("reports with different effective times share canonical id %s", ea[0].ID)
	}
	if n := h.count(`SELECT count(*) FROM reports WHERE identifier_value = ''`); n != 2 {
		t.Fatalf("reports without identifier = %d, want 2", n)
	}
	for _, e := range []*index.Entry{ea[0], eb[0]} {
		if bytes.Contains([]byte(e.NaturalKey), []byte(testenv.NID(1))) {
			t.Fatalf("fallback natural key carries the plaintext resident ID: %s", e.NaturalKey)
		}
	}
}

func TestPublisherOutsideTheCommunityIsRejected(t *testing.T) {
	h := newHarness(t)
	value := rep("final", "1", valA).JSON() // issued by HospitalA (community QXYG01)
	_, err := h.profile(testenv.HospitalB, value)
	var pe *profile.Error
	if !errors.As(err, &pe) || pe.Code != profile.CodeNotPermitted {
		t.Fatalf("profile error = %v, want code %s", err, profile.CodeNotPermitted)
	}
	es, out := h.apply(testenv.HospitalB, value)
	if len(es) != 0 || out.DeadLetters != 1 {
		t.Fatalf("entries=%d dead letters=%d, want 0 and 1", len(es), out.DeadLetters)
	}
	if n := h.count(`SELECT count(*) FROM reports`); n != 0 {
		t.Fatalf("reports = %d, want 0", n)
	}
	var hj []byte
	if err := h.pool.QueryRow(t.Context(), `SELECT headers FROM outbox WHERE topic = $1`, config.TopicDLQ).Scan(&hj); err != nil {
		t.Fatal(err)
	}
	var hdr map[string]string
	_ = json.Unmarshal(hj, &hdr)
	if hdr["mrhub-error-code"] != profile.CodeNotPermitted || hdr["mrhub-source"] != testenv.HospitalB {
		t.Fatalf("dead-letter headers %v, want error code %s from %s", hdr, profile.CodeNotPermitted, testenv.HospitalB)
	}
	// The same report from a township centre of HospitalA's own community is accepted.
	if _, err := h.profile(township, value); err != nil {
		t.Fatalf("township of the performer's community rejected: %v", err)
	}
}

// TestOneBatchHoldsManyVersions applies every version of a report in a single batch, in an
// order where the newest is in the middle: the result must equal one-at-a-time delivery.
func TestOneBatchHoldsManyVersions(t *testing.T) {
	h := newHarness(t)
	vs := []testenv.Report{rep("final", "1", valA), rep("corrected", "3", valB), rep("amended", "2", []float64{7}),
		rep("final", "1", valA)}
	b := &index.Batch{Consumer: "harness"}
	for i, r := range vs {
		pos := index.Position{Topic: config.TopicReports, Offset: int64(i)}
		es, err := h.profile(testenv.HospitalA, r.JSON())
		if err != nil {
			t.Fatal(err)
		}
		es[0].Pos = pos
		b.Positions = append(b.Positions, pos)
		b.Entries = append(b.Entries, es...)
	}
	out, err := h.store.Apply(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if out.New != 1 || out.Versions != 1 || out.History != 1 || out.Unchanged != 1 || out.Events != 1 {
		t.Errorf("outcome %+v, want new 1, versions 1, history 1, unchanged 1, events 1", *out)
	}
	// The report's only event is its first: it says new although the batch stored three versions.
	if evs := h.events(b.Entries[0].ID); len(evs) != 1 || evs[0].Headers["mrhub-change"] != "new" || evs[0].Headers["mrhub-version"] != "2" {
		t.Errorf("%d index events, want one with change new, version 2 (headers %v)", len(evs), headersOf(evs))
	} else if ev, _ := h.lastEvent(b.Entries[0].ID); ev.Change != "new" {
		t.Errorf("index entry change = %q, want new", ev.Change)
	}
	got, _ := h.report(b.Entries[0].ID)
	if got.Status != "corrected" || got.History != 3 || !bytes.Equal(got.Hash, b.Entries[1].ContentHash) || !slices.Equal(got.ObservationVals, valB) {
		t.Errorf("status=%s history=%d obs=%v, want corrected, 3, %v", got.Status, got.History, got.ObservationVals, valB)
	}
	// The same batch again (a crash before the Kafka commit) is skipped whole.
	out, err = h.store.Apply(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if out.SkippedMessages != len(vs) || out.Events != 0 || h.count(`SELECT count(*) FROM report_versions`) != 3 {
		t.Errorf("redelivered batch: %+v, want all %d skipped, no events", *out, len(vs))
	}
}
