package reports_test

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestRehashAdoptsTheContentRule: a database whose reports were hashed over the publisher's own
// bytes (as a hub without the canonical rule hashed them) is rehashed in place to exactly the
// hash the hub computes at ingest, whatever the serialisation of the stored report; afterwards
// the same content, sent again in another serialisation, is no new version and publishes
// nothing.
func TestRehashAdoptsTheContentRule(t *testing.T) {
	e := newEnv(t)
	e.serve(e.cfg)
	rep := testenv.Report{Performer: testenv.HospitalA, ID: "RH-1", NID: testenv.NID(41), VersionID: "1"}
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(int) string { return "rh" }, rep.JSON())
	e.waitCount(1, 60*time.Second, `SELECT count(*) FROM reports`)
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	var id string
	var want []byte
	if err := e.pool.QueryRow(t.Context(), `SELECT id, content_hash FROM reports`).Scan(&id, &want); err != nil {
		t.Fatal(err)
	}

	// The old rule: the publisher's bytes, stored and hashed as they came (here: the report
	// written again with its keys in another order and other whitespace).
	old := sha256.Sum256(rep.JSON())
	var stored []byte
	if err := e.pool.QueryRow(t.Context(), `SELECT resource::text FROM report_versions WHERE report_id = $1`, id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	publisher := testenv.Reserialize(rand.New(rand.NewPCG(1, 2)), stored)
	if _, err := e.pool.Exec(t.Context(), `UPDATE report_versions SET content_hash = $2, resource = $3::text::json WHERE report_id = $1`, id, old[:], string(publisher)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(t.Context(), `UPDATE reports SET content_hash = $2 WHERE id = $1`, id, old[:]); err != nil {
		t.Fatal(err)
	}
	var st profile.RehashStats
	var err error
	if st, err = profile.Rehash(t.Context(), e.pool, fhir.NewDecoder(e.cfg.Location()), nil); err != nil || st.Rehashed != 1 {
		t.Fatalf("rehash: %+v %v", st, err)
	}
	var got, now []byte
	if err := e.pool.QueryRow(t.Context(), `SELECT r.content_hash, v.resource::text FROM reports r JOIN report_versions v ON v.report_id = r.id WHERE r.id = $1`, id).Scan(&got, &now); err != nil {
		t.Fatal(err)
	}
	if string(now) != string(publisher) {
		t.Errorf("rehash changed the stored report:\n got %s\nwant %s", now, publisher)
	}
	if string(got) != string(want) {
		t.Fatalf("rehash gave %x, the hub hashes the same content %x", got, want)
	}
	if st, err = profile.Rehash(t.Context(), e.pool, fhir.NewDecoder(e.cfg.Location()), nil); err != nil || st.Rehashed != 0 || st.Unchanged != 1 {
		t.Fatalf("second rehash: %+v %v, want nothing to change", st, err)
	}
	versions := e.count(`SELECT count(*) FROM report_versions`)
	events := len(testenv.ReadAll(t, e.brokers, config.TopicIndex, 1<<20, 3*time.Second))
	testenv.Publish(t, e.brokers, config.TopicReports, testenv.HospitalA, func(int) string { return "rh" },
		testenv.Reserialize(rand.New(rand.NewPCG(3, 4)), rep.JSON()))
	e.waitCount(2, 60*time.Second, `SELECT COALESCE(sum(next_offset),0)::int FROM ingest_offsets WHERE topic = $1`, config.TopicReports)
	e.waitCount(0, 30*time.Second, `SELECT count(*) FROM outbox`)
	if n := e.count(`SELECT count(*) FROM report_versions`); n != versions {
		t.Errorf("a resend in another serialisation stored a version: %d versions, want %d", n, versions)
	}
	if n := len(testenv.ReadAll(t, e.brokers, config.TopicIndex, 1<<20, 3*time.Second)); n != events {
		t.Errorf("a resend in another serialisation published %d index events", n-events)
	}
}
