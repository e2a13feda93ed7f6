package identity_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// mpi drives the real profile, identity.Resolve (through index.Store.Apply) and PostgreSQL.
type mpi struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *index.Store
	prof  *profile.Profiler
	next  int64
}

func newMPI(t *testing.T) *mpi {
	t.Helper()
	_, pool := testenv.DB(t)
	cat, err := catalog.Load(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(testenv.Key())
	hasher, err := identity.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	return &mpi{t: t, pool: pool, store: index.NewStore(pool, config.TopicIndex, config.TopicDLQ),
		prof: &profile.Profiler{Catalog: cat, Hasher: hasher, Location: time.FixedZone("CST", 8*3600)}}
}

// publish applies each report as one message of one batch and returns the canonical ids.
func (m *mpi) publish(source string, rs ...testenv.Report) ([]string, *index.Outcome) {
	m.t.Helper()
	b := &index.Batch{Consumer: "mpi-test"}
	var ids []string
	for _, r := range rs {
		pos := index.Position{Topic: config.TopicReports, Offset: m.next}
		m.next++
		es, err := m.prof.Message(r.JSON(), source)
		if err != nil {
			m.t.Fatalf("profile: %v", err)
		}
		for _, e := range es {
			e.Pos = pos
			ids = append(ids, e.ID)
		}
		b.Positions = append(b.Positions, pos)
		b.Entries = append(b.Entries, es...)
	}
	out, err := m.store.Apply(context.Background(), b)
	if err != nil {
		m.t.Fatalf("Apply: %v", err)
	}
	return ids, out
}

type patient struct {
	ID          int64
	Provisional bool
	MergedInto  *int64
	Identifiers []string // kind:issuer:masked
}

func (m *mpi) patientOfReport(reportID string) patient {
	m.t.Helper()
	var pid int64
	if err := m.pool.QueryRow(context.Background(), `SELECT patient_id FROM reports WHERE id = $1`, reportID).Scan(&pid); err != nil {
		m.t.Fatalf("report %s: %v", reportID, err)
	}
	return m.patient(pid)
}

func (m *mpi) patient(id int64) patient {
	m.t.Helper()
	ctx := context.Background()
	p := patient{ID: id}
	if err := m.pool.QueryRow(ctx, `SELECT provisional, merged_into FROM patients WHERE id = $1`, id).Scan(&p.Provisional, &p.MergedInto); err != nil {
		m.t.Fatal(err)
	}
	rows, err := m.pool.Query(ctx, `SELECT kind || ':' || issuer || ':' || masked FROM patient_identifiers WHERE patient_id = $1 ORDER BY 1`, id)
	if err != nil {
		m.t.Fatal(err)
	}
	p.Identifiers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		m.t.Fatal(err)
	}
	return p
}

func (m *mpi) count(sql string, args ...any) int {
	m.t.Helper()
	var n int
	if err := m.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		m.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// lastEvent is the latest index event queued for the report.
func (m *mpi) lastEvent(reportID string) (index.Event, int) {
	m.t.Helper()
	rows, err := m.pool.Query(context.Background(), `SELECT value FROM outbox WHERE topic = $1 AND key = $2 ORDER BY id`,
		config.TopicIndex, []byte(reportID))
	if err != nil {
		m.t.Fatal(err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		m.t.Fatal(err)
	}
	if len(vals) == 0 {
		m.t.Fatalf("no index event for report %s", reportID)
	}
	var ev index.Event
	if err := json.Unmarshal(vals[len(vals)-1], &ev); err != nil {
		m.t.Fatal(err)
	}
	return ev, len(vals)
}

// checkEventMatchesIndex asserts that the last index event of the report names the patient the
// index links it to, by the same identifiers and provisional flag.
func (m *mpi) checkEventMatchesIndex(reportID string) {
	m.t.Helper()
	ev, _ := m.lastEvent(reportID)
	p := m.patientOfReport(reportID)
	var got []string
	for _, i := range ev.Patient.Identifiers {
		got = append(got, i.Kind+":"+i.Issuer+":"+i.Masked)
	}
	sort.Strings(got)
	if !slices.Equal(got, p.Identifiers) || ev.Patient.Provisional != p.Provisional {
		m.t.Errorf("report %s: last index event names patient %v (provisional %v); the index links it to %v (provisional %v)",
			reportID, got, ev.Patient.Provisional, p.Identifiers, p.Provisional)
	}
}

const (
	hospA = testenv.HospitalA
	hospB = testenv.HospitalB
)

func lab(performer, id, nid, mrn string) testenv.Report {
	return testenv.Report{Performer: performer, ID: id, NID: nid, MRN: mrn, Values: []float64{1, 2}}
}

// nidWithX returns a valid synthetic resident ID whose check character is X.
func nidWithX(t *testing.T) string {
	for seq := 0; seq < 1000; seq++ {
		if id := testenv.NID(seq); strings.HasSuffix(id, "X") {
			return id
		}
	}
	t.Fatal("no synthetic resident ID with check character X")
	return ""
}

func TestResidentIDCheckDigitTable(t *testing.T) {
	x := nidWithX(t)
	valid := testenv.NID(3)
	flip := func(id string) string { // same first 17, another check character
		c := byte('0')
		if id[17] == '0' {
			c = '1'
		}
		return id[:17] + string(c)
	}
	cases := []struct {
		name, id string
		ok       bool
		reason   string
	}{
		{"valid", valid, true, ""},
		{"valid with check character X", x, true, ""},
		{"valid with lowercase x", strings.ToLower(x), true, ""},
		{"valid with surrounding spaces", " " + valid + " ", true, ""},
		{"GB 11643 published example", "11010519491231002X", true, ""},
		{"wrong check digit", flip(valid), false, "check digit"},
		{"X where a digit is due", valid[:17] + "X", false, "check digit"},
		{"digit where X is due", x[:17] + "0", false, "check digit"},
		{"17 characters", valid[:17], false, "length"},
		{"19 characters", valid + "1", false, "length"},
		{"letter inside", valid[:5] + "A" + valid[6:], false, "not a digit"},
		{"impossible birth date", "330299" + "19800230" + "001" + "0", false, "birth date"},
	}
	for _, c := range cases {
		err := identity.ValidateResidentID(c.id)
		if c.ok {
			if err != nil {
				t.Errorf("%s (%s): %v, want valid", c.name, c.id, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, identity.ErrResidentID) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s (%s): %v, want an ErrResidentID about %q", c.name, c.id, err, c.reason)
			continue
		}
		if strings.Contains(err.Error(), identity.NormalizeResidentID(c.id)[:12]) {
			t.Errorf("%s: error repeats the number: %v", c.name, err)
		}
	}
}

func TestInvalidResidentIDIsRejectedByTheProfile(t *testing.T) {
	m := newMPI(t)
	bad := testenv.NID(4)[:17] + "0"
	if bad == testenv.NID(4) {
		bad = testenv.NID(4)[:17] + "1"
	}
	_, err := m.prof.Message(lab(hospA, "BAD", bad, "").JSON(), hospA)
	var pe *profile.Error
	if !errors.As(err, &pe) || pe.Code != profile.CodeBadResidentID {
		t.Fatalf("error %v, want code %s", err, profile.CodeBadResidentID)
	}
	if !strings.Contains(pe.Msg, "check digit") || strings.Contains(pe.Error(), bad[:14]) {
		t.Fatalf("rejection %q: want the reason (check digit) without the number", pe.Error())
	}
}

func TestLowercaseXIsTheSamePerson(t *testing.T) {
	m := newMPI(t)
	x := nidWithX(t)
	ids, _ := m.publish(hospA, lab(hospA, "UP", x, ""))
	ids2, _ := m.publish(hospA, lab(hospA, "LOW", strings.ToLower(x), ""))
	a, b := m.patientOfReport(ids[0]), m.patientOfReport(ids2[0])
	if a.ID != b.ID || len(a.Identifiers) != 1 {
		t.Fatalf("upper-case X and lower-case x: patients %d %v and %d %v, want one person with one identifier", a.ID, a.Identifiers, b.ID, b.Identifiers)
	}
}

func TestMRNFirstThenResidentIDIsOnePerson(t *testing.T) {
	m := newMPI(t)
	nid := testenv.NID(10)
	first, _ := m.publish(hospA, lab(hospA, "A1", "", "MRN-10"))
	p1 := m.patientOfReport(first[0])
	if !p1.Provisional || len(p1.Identifiers) != 1 {
		t.Fatalf("MRN-only patient: %+v, want provisional with one identifier", p1)
	}
	second, _ := m.publish(hospA, lab(hospA, "A2", nid, "MRN-10"))
	p2 := m.patientOfReport(second[0])
	if p2.ID != p1.ID {
		t.Fatalf("report with MRN + resident ID went to patient %d, the MRN's patient is %d", p2.ID, p1.ID)
	}
	if p2.Provisional || len(p2.Identifiers) != 2 || !strings.HasPrefix(p2.Identifiers[0], "mrn:"+hospA) || !strings.HasPrefix(p2.Identifiers[1], "nid::3302") {
		t.Fatalf("patient after the resident ID arrived: %+v, want identified, with the MRN and the masked resident ID", p2)
	}
	if n := m.count(`SELECT count(*) FROM patients`); n != 1 {
		t.Fatalf("patients = %d, want 1", n)
	}
	// Both reports' index events name the identified person.
	m.checkEventMatchesIndex(first[0])
	m.checkEventMatchesIndex(second[0])
}

func TestProvisionalPatientIsMergedWhenItsMRNMeetsAKnownResidentID(t *testing.T) {
	m := newMPI(t)
	nid := testenv.NID(11)
	known, _ := m.publish(hospB, lab(hospB, "B1", nid, "MRN-B")) // the person, known at HospitalB
	prov, _ := m.publish(hospA, lab(hospA, "A1", "", "MRN-A"))   // provisional, HospitalA MRN only
	person, prov0 := m.patientOfReport(known[0]), m.patientOfReport(prov[0])
	if person.ID == prov0.ID || !prov0.Provisional || person.Provisional {
		t.Fatalf("before: person %+v, provisional %+v", person, prov0)
	}
	_, eventsBefore := m.lastEvent(prov[0])
	link, out := m.publish(hospA, lab(hospA, "A2", nid, "MRN-A")) // HospitalA learns the resident ID
	if out.Merges != 1 {
		t.Fatalf("merges = %d, want 1", out.Merges)
	}
	merged := m.patient(prov0.ID)
	if merged.MergedInto == nil || *merged.MergedInto != person.ID || len(merged.Identifiers) != 0 {
		t.Fatalf("provisional patient after merge: %+v, want merged into %d without identifiers", merged, person.ID)
	}
	for _, id := range []string{known[0], prov[0], link[0]} {
		if p := m.patientOfReport(id); p.ID != person.ID {
			t.Errorf("report %s is on patient %d, want %d", id, p.ID, person.ID)
		}
	}
	if n := m.count(`SELECT count(*) FROM observations WHERE report_id = $1 AND patient_id = $2`, prov[0], person.ID); n != 2 {
		t.Errorf("observations of the moved report on the person = %d, want 2", n)
	}
	p := m.patient(person.ID)
	if len(p.Identifiers) != 3 {
		t.Errorf("person identifiers %v, want nid + both MRNs", p.Identifiers)
	}
	// The moved report got an index event in the merge transaction, naming the person.
	ev, n := m.lastEvent(prov[0])
	if n != eventsBefore+1 {
		t.Errorf("index events of the moved report: %d, want %d", n, eventsBefore+1)
	}
	if ev.Patient.ID != "p"+itoa(person.ID) || ev.Patient.Provisional {
		t.Errorf("moved report's event names patient %s (provisional %v), want p%d", ev.Patient.ID, ev.Patient.Provisional, person.ID)
	}
	for _, id := range []string{known[0], prov[0], link[0]} {
		m.checkEventMatchesIndex(id)
	}
}

func TestSameResidentIDFromTwoHospitalsIsOnePerson(t *testing.T) {
	m := newMPI(t)
	nid := testenv.NID(12)
	a, _ := m.publish(hospA, lab(hospA, "A1", nid, "MRN-A"))
	b, _ := m.publish(hospB, lab(hospB, "B1", nid, "MRN-B"))
	pa, pb := m.patientOfReport(a[0]), m.patientOfReport(b[0])
	if pa.ID != pb.ID {
		t.Fatalf("same resident ID at two hospitals: patients %d and %d", pa.ID, pb.ID)
	}
	if len(pb.Identifiers) != 3 || m.count(`SELECT count(*) FROM patients`) != 1 {
		t.Fatalf("identifiers %v, patients %d: want one person with nid + two MRNs", pb.Identifiers, m.count(`SELECT count(*) FROM patients`))
	}
	m.checkEventMatchesIndex(a[0])
	m.checkEventMatchesIndex(b[0])
}

func TestSameResidentIDInOneBatchIsOnePerson(t *testing.T) {
	m := newMPI(t)
	nid := testenv.NID(13)
	ids, _ := m.publish(hospA, lab(hospA, "A1", "", "MRN-A"), lab(hospA, "A2", nid, ""), lab(hospA, "A3", nid, "MRN-A"))
	p := m.patientOfReport(ids[0])
	for _, id := range ids[1:] {
		if q := m.patientOfReport(id); q.ID != p.ID {
			t.Fatalf("one batch: reports on patients %d and %d", p.ID, q.ID)
		}
	}
	if n := m.count(`SELECT count(*) FROM patients WHERE merged_into IS NULL`); n != 1 {
		t.Fatalf("live patients = %d, want 1", n)
	}
	for _, id := range ids {
		m.checkEventMatchesIndex(id)
	}
}

func TestDemographicMatchWithoutIDIsReviewedNeverMerged(t *testing.T) {
	m := newMPI(t)
	demo := func(r testenv.Report) testenv.Report {
		r.Name, r.Gender, r.BirthDate = "王小明", "male", "1975-03-04"
		return r
	}
	a, _ := m.publish(hospA, demo(lab(hospA, "A1", "", "MRN-A")))
	b, out := m.publish(hospB, demo(lab(hospB, "B1", "", "MRN-B")))
	pa, pb := m.patientOfReport(a[0]), m.patientOfReport(b[0])
	if pa.ID == pb.ID || pa.MergedInto != nil || pb.MergedInto != nil {
		t.Fatalf("probable match merged: %+v %+v", pa, pb)
	}
	if out.Reviews != 1 {
		t.Errorf("reviews opened = %d, want 1", out.Reviews)
	}
	lo, hi := min(pa.ID, pb.ID), max(pa.ID, pb.ID)
	if n := m.count(`SELECT count(*) FROM identity_reviews WHERE patient_a = $1 AND patient_b = $2 AND status = 'open'
		AND reason LIKE 'probable%'`, lo, hi); n != 1 {
		t.Fatalf("open probable-match reviews for (%d,%d) = %d, want 1", lo, hi, n)
	}
	// A third report of someone else with another birth date opens nothing.
	c := demo(lab(hospA, "A9", "", "MRN-C"))
	c.BirthDate = "1975-03-05"
	m.publish(hospA, c)
	if n := m.count(`SELECT count(*) FROM identity_reviews`); n != 1 {
		t.Fatalf("reviews = %d after a non-matching patient, want 1", n)
	}
}

func TestTwoResidentIDsOnOneMRNAreReviewedNotMerged(t *testing.T) {
	m := newMPI(t)
	a, _ := m.publish(hospA, lab(hospA, "A1", testenv.NID(20), "MRN-SHARED"))
	b, out := m.publish(hospA, lab(hospA, "A2", testenv.NID(21), "MRN-SHARED"))
	pa, pb := m.patientOfReport(a[0]), m.patientOfReport(b[0])
	if pa.ID == pb.ID {
		t.Fatalf("two resident IDs on one MRN were merged into patient %d", pa.ID)
	}
	if out.Merges != 0 || out.Reviews != 1 {
		t.Errorf("merges %d reviews %d, want 0 and 1", out.Merges, out.Reviews)
	}
	if n := m.count(`SELECT count(*) FROM identity_reviews WHERE status = 'open' AND reason LIKE 'conflict%'
		AND patient_a = $1 AND patient_b = $2`, min(pa.ID, pb.ID), max(pa.ID, pb.ID)); n != 1 {
		t.Fatalf("conflict reviews = %d, want 1", n)
	}
	// The MRN stays with the first person; the second person has only its own resident ID.
	if len(pa.Identifiers) != 2 || len(pb.Identifiers) != 1 || !strings.HasPrefix(pb.Identifiers[0], "nid:") {
		t.Fatalf("identifiers: first %v, second %v", pa.Identifiers, pb.Identifiers)
	}
	if n := m.count(`SELECT count(*) FROM patients WHERE merged_into IS NOT NULL`); n != 0 {
		t.Fatalf("merged patients = %d, want 0", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestReferralWithAnotherInstitutionsMRNLinksAndClosesTheReview: a township centre knows a
// patient by its MRN only; the district hospital, knowing the same person by resident ID, opens
// a probable match on demographics. A later district report carrying the resident ID and the
// township's MRN (assigner: the township) links the two records, as for an institution's own
// MRN, and closes the review as accepted.
func TestReferralWithAnotherInstitutionsMRNLinksAndClosesTheReview(t *testing.T) {
	m := newMPI(t)
	const township = "12330299473554337R" // QX101, community QXYG01 like hospA
	demo := func(r testenv.Report) testenv.Report {
		r.Name, r.Gender, r.BirthDate = "李四", "female", "1980-05-06"
		return r
	}
	nid := testenv.NID(321)
	t1, _ := m.publish(township, demo(lab(township, "T1", "", "QS-9")))
	d1, out := m.publish(hospA, demo(lab(hospA, "D1", nid, "D-9")))
	pt, pd := m.patientOfReport(t1[0]), m.patientOfReport(d1[0])
	if pt.ID == pd.ID || !pt.Provisional || out.Reviews != 1 {
		t.Fatalf("before: township patient %+v, district patient %+v, reviews %d", pt, pd, out.Reviews)
	}
	// The same number of another issuer is someone else: nothing links.
	other := lab(hospA, "D2", "", "")
	other.OtherMRNs = []testenv.MRN{{System: "http://his.elsewhere.example/sid/mrn", Value: "QS-9", Assigner: hospB}}
	d2, _ := m.publish(hospA, other)
	if p := m.patientOfReport(d2[0]); p.ID == pt.ID || p.ID == pd.ID {
		t.Fatalf("HospitalB's MRN QS-9 linked to patient %d", p.ID)
	}

	ref := lab(hospA, "D3", nid, "D-9")
	ref.OtherMRNs = []testenv.MRN{{System: "http://his.elsewhere.example/sid/mrn", Value: "QS-9", Assigner: township}}
	d3, out := m.publish(hospA, ref)
	if out.Merges != 1 {
		t.Fatalf("merges = %d, want 1 (the township's provisional patient into the person)", out.Merges)
	}
	for _, id := range []string{t1[0], d1[0], d3[0]} {
		if p := m.patientOfReport(id); p.ID != pd.ID {
			t.Errorf("report %s is on patient %d, want %d", id, p.ID, pd.ID)
		}
	}
	lo, hi := min(pt.ID, pd.ID), max(pt.ID, pd.ID)
	if n := m.count(`SELECT count(*) FROM identity_reviews WHERE patient_a = $1 AND patient_b = $2 AND status = 'accepted'`, lo, hi); n != 1 {
		t.Errorf("the probable-match review of (%d,%d) is not accepted", lo, hi)
	}
	if n := m.count(`SELECT count(*) FROM identity_reviews WHERE status = 'open'`); n != 0 {
		t.Errorf("%d reviews still open", n)
	}
	got := m.patient(pd.ID).Identifiers
	want := "mrn:" + township + ":"
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, want) }) {
		t.Errorf("person identifiers %v, want the township's MRN filed under %s", got, township)
	}
}
