package profile_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

const (
	districtA   = "12330299473079193Y" // QX001
	townshipA   = "12330299473554337R" // QX101, same community
	townshipSys = "http://his.qx101.example/sid/mrn"
)

// containedReport is a report of performer whose subject is a contained Patient with ids.
func containedReport(performer, reportID string, ids ...any) []byte {
	b, _ := json.Marshal(map[string]any{
		"resourceType": "DiagnosticReport", "status": "final",
		"contained":         []any{map[string]any{"resourceType": "Patient", "id": "p", "identifier": ids}},
		"identifier":        []any{map[string]any{"system": "http://his.example/report", "value": reportID}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "58410-2"}}},
		"subject":           map[string]any{"reference": "#p"},
		"performer":         []any{map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/uscc", "value": performer}}},
		"effectiveDateTime": "2026-11-20T08:30:00+08:00",
	})
	return b
}

func mrnID(system, value, assigner string) map[string]any {
	m := map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}},
		"system": system, "value": value}
	if assigner != "" {
		m["assigner"] = map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/uscc", "value": assigner}}
	}
	return m
}

// TestRefileUpgradesADatabaseFilledUnderTheOldRule fills a database as a hub did that filed
// every MRN under the report's performer, runs Refile, and checks that the MRNs the stored
// reports show another issuer for are re-filed and their patients linked, that what the stored
// data cannot tell is counted (not guessed), and that a second run changes nothing.
func TestRefileUpgradesADatabaseFilledUnderTheOldRule(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(testenv.Key())
	h, err := identity.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	prof := &profile.Profiler{Catalog: cat, Hasher: h, Location: time.FixedZone("CST", 8*3600)}
	store := index.NewStore(pool, config.TopicIndex, config.TopicDLQ)
	values := []string{"QS-1", "QS-2", "D-1"}
	var offset int64
	// ingestOld profiles as the hub does now, then files every MRN key the way the old rule did:
	// issuer = performer.
	ingestOld := func(source string, msg []byte) string {
		t.Helper()
		es, err := prof.Message(msg, source)
		if err != nil {
			t.Fatalf("profile: %v", err)
		}
		for _, e := range es {
			for i, k := range e.Patient.Keys {
				if k.Kind != identity.KindMRN {
					continue
				}
				for _, v := range values {
					if bytes.Equal(h.Hash(k.Kind, k.Issuer, v), k.Hash) {
						e.Patient.Keys[i].Issuer, e.Patient.Keys[i].Hash = e.Performer, h.Hash(k.Kind, e.Performer, v)
					}
				}
			}
			e.Pos = index.Position{Topic: config.TopicReports, Offset: offset}
		}
		b := &index.Batch{Consumer: "upgrade-test", Positions: []index.Position{{Topic: config.TopicReports, Offset: offset}}, Entries: es}
		offset++
		if _, err := store.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		return es[0].ID
	}
	patientOf := func(id string) int64 {
		var p int64
		if err := pool.QueryRow(ctx, `WITH RECURSIVE c(id, next) AS (SELECT r.patient_id, p.merged_into FROM reports r JOIN patients p ON p.id = r.patient_id WHERE r.id = $1
			UNION ALL SELECT p.id, p.merged_into FROM patients p JOIN c ON p.id = c.next) SELECT id FROM c WHERE next IS NULL`, id).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	nid := testenv.NID(99)
	// The township's own patient, MRN only (filed under the township by either rule).
	t1 := ingestOld(townshipA, containedReport(townshipA, "T1", mrnID(townshipSys, "QS-1", "")))
	// The referral: resident ID and the township's MRN with its assigner, in a contained Patient.
	d1 := ingestOld(districtA, containedReport(districtA, "D1", map[string]any{"system": "http://mrhub.example/sid/resident-id", "value": nid},
		mrnID(townshipSys, "QS-1", townshipA), mrnID("http://his.qx001.example/sid/mrn", "D-1", "")))
	// A referral whose Patient is another Bundle entry: not stored, so the stored data cannot tell.
	bundle := testenv.Report{Performer: districtA, ID: "D2", NID: testenv.NID(98),
		OtherMRNs: []testenv.MRN{{System: townshipSys, Value: "QS-2", Assigner: townshipA}}}
	ingestOld(districtA, bundle.JSON())
	if patientOf(t1) == patientOf(d1) {
		t.Fatal("the old rule linked the referral: the fixture does not fill the database as the old rule did")
	}

	st, err := profile.Refile(ctx, pool, fhir.NewDecoder(nil), prof, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("refile: %+v", st)
	if st.Moved != 1 || st.Linked != 1 || st.NoSubject != 1 || st.Conflicts != 0 || st.Ambiguous != 0 {
		t.Errorf("refile stats %+v, want 1 moved, 1 linked, 1 version without a stored subject", st)
	}
	if patientOf(t1) != patientOf(d1) {
		t.Error("after refile the township's report and the referral are still two patients")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM patient_identifiers WHERE kind = 'mrn' AND issuer = $1 AND value_hash = $2`,
		townshipA, h.Hash(identity.KindMRN, townshipA, "QS-1")).Scan(&n); err != nil || n != 1 {
		t.Errorf("the township's QS-1 under the township: %d rows (%v), want 1", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM patient_identifiers WHERE issuer = $1 AND value_hash = $2`,
		districtA, h.Hash(identity.KindMRN, districtA, "QS-1")).Scan(&n); err != nil || n != 0 {
		t.Errorf("QS-1 still filed under the district: %d rows (%v)", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM identity_reviews WHERE status = 'accepted'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("accepted reviews: %d (%v), want the link recorded as one", n, err)
	}

	again, err := profile.Refile(ctx, pool, fhir.NewDecoder(nil), prof, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Moved != 0 || again.Linked != 0 || again.Dropped != 0 {
		t.Errorf("second refile changed something: %+v", again)
	}
}
