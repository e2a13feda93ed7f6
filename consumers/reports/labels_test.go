package reports_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/schemas"
)

// TestIndexEventLabels follows one report through the hub, one message at a time: its first
// version is announced as new, a resend of the same content is neither stored nor announced, a
// changed content is announced as version, and the withdrawal is a tombstone labelled version.
// The records are read back from mrhub.index.v1 on the broker.
func TestIndexEventLabels(t *testing.T) {
	entrySchema := indexEntrySchema(t)
	e := newEnv(t)
	e.serve(e.cfg)
	base := testenv.Report{Performer: testenv.HospitalA, ID: "LBL-1", NID: testenv.NID(31), VersionID: "1"}
	amended := base
	amended.VersionID, amended.Status, amended.Values = "2", "amended", []float64{5.5, 4.5, 135, 0.41, 90, 30, 330, 210}
	withdrawn := amended
	withdrawn.VersionID, withdrawn.Status = "3", "entered-in-error"
	other := testenv.Report{Performer: testenv.HospitalA, ID: "LBL-2", NID: testenv.NID(32)}

	type record struct{ change, version, value string } // value: entry status, or "tombstone"
	steps := []struct {
		name   string
		value  []byte
		report string   // identifier of the report it carries
		want   []record // records this message adds to the report's key on the topic
	}{
		{"first version", base.JSON(), "LBL-1", []record{{"new", "1", "final"}}},
		{"the same content again", base.JSON(), "LBL-1", nil},
		{"another report", other.JSON(), "LBL-2", []record{{"new", "1", "final"}}},
		{"amended content", amended.JSON(), "LBL-1", []record{{"version", "2", "amended"}}},
		{"the amended content again", amended.JSON(), "LBL-1", nil},
		{"withdrawal", withdrawn.JSON(), "LBL-1", []record{{"version", "3", "tombstone"}}},
		{"the withdrawal again", withdrawn.JSON(), "LBL-1", nil},
	}
	want := map[string][]record{} // by report identifier
	total := 0
	for i, s := range steps {
		// One message at a time, each applied and relayed before the next is published, so
		// that every message is its own batch.
		testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(int) string { return "lbl" }, s.value)
		e.waitCount(i+1, 60*time.Second, `SELECT COALESCE(sum(next_offset),0)::int FROM ingest_offsets`)
		e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
		want[s.report] = append(want[s.report], s.want...)
		total += len(s.want)
		got := map[string][]record{}
		msgs := testenv.ReadAll(t, e.brokers, config.TopicIndex, total, 20*time.Second)
		for _, m := range msgs {
			var report string
			if err := e.pool.QueryRow(t.Context(), `SELECT identifier_value FROM reports WHERE id = $1`, string(m.Key)).Scan(&report); err != nil {
				t.Fatalf("%s: index record key %q: %v", s.name, m.Key, err)
			}
			r := record{bus.Header(m, "mrhub-change"), bus.Header(m, "mrhub-version"), "tombstone"}
			if m.Value != nil {
				if doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Value)); err != nil {
					t.Fatalf("%s: index record is not JSON: %v", s.name, err)
				} else if err := entrySchema.Validate(doc); err != nil {
					t.Errorf("%s: index record does not validate against index-entry.schema.json: %v", s.name, err)
				}
				var ev index.Event
				if err := json.Unmarshal(m.Value, &ev); err != nil {
					t.Fatalf("%s: index record is not an index entry: %v", s.name, err)
				}
				if ev.Change != r.change || fmt.Sprint(ev.Version) != r.version {
					t.Errorf("%s: entry says change %s version %d, headers %s %s", s.name, ev.Change, ev.Version, r.change, r.version)
				}
				r.value = ev.Status
			}
			got[report] = append(got[report], r)
		}
		if len(msgs) != total || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after %q: index topic holds %d records %v, want %d %v", s.name, len(msgs), got, total, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM report_versions`); n != 4 {
		t.Errorf("report_versions = %d, want 4 (three of LBL-1, one of LBL-2)", n)
	}
	if n := e.count(`SELECT count(*) FROM reports WHERE current`); n != 1 {
		t.Errorf("current reports = %d, want 1 (LBL-1 withdrawn)", n)
	}
}

// indexEntrySchema compiles schemas/events/index-entry.schema.json.
func indexEntrySchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	const url = "https://mrhub.example/schemas/events/index-entry.schema.json"
	b, err := schemas.Events.ReadFile("events/index-entry.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}
