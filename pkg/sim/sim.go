package sim

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/identity"
)

// Identifier systems and URLs the generator writes (see doc.go).
const (
	SystemResidentID  = "http://mrhub.example/sid/resident-id"
	SystemInsurance   = "http://mrhub.example/sid/insurance"
	SystemUSCC        = "https://mrhub.example/sid/uscc"
	HRMarkURL         = "http://mrhub.example/fhir/StructureDefinition/hr-mark"
	systemV20203      = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemV20074      = "http://terminology.hl7.org/CodeSystem/v2-0074"
	systemObsCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	systemInterp      = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	systemUCUM        = "http://unitsofmeasure.org"
	systemDCM         = "http://dicom.nema.org/resources/ontology/DCM"
	systemLOINC       = "http://loinc.org"
)

// Message kinds, for counting.
const (
	KindReport       = "report"        // a new report, first version
	KindRedelivery   = "redelivery"    // byte-identical copy of an earlier message
	KindAmended      = "amended"       // new version, status amended
	KindCorrected    = "corrected"     // new version, status corrected
	KindWithdrawn    = "withdrawn"     // new version, status entered-in-error or cancelled
	KindOutOfOrder   = "out-of-order"  // a newer version sent before the older one…
	KindLate         = "late"          // …and the older one, sent right after
	KindCrossPublish = "cross-publish" // an existing version re-published by another institution
	KindMalformed    = "malformed"     // not a valid message
	KindDecision     = "decision"      // a clinician's recognition decision (mrhub.decisions.v1)
	KindRevoke       = "revoke"        // the revocation of an earlier decision (mrhub.decisions.v1)
)

// Message is one Kafka record to publish: a report message to mrhub.reports.v1, or a decision or
// revocation to mrhub.decisions.v1.
type Message struct {
	Topic  string // config.TopicReports, or config.TopicDecisions for kinds decision and revoke
	Key    []byte // reports: publishing institution code + "|" + report identifier value; decisions: the decision id
	Value  []byte // FHIR R4 JSON (Bundle or DiagnosticReport), or a decision event (schemas/events/decision.schema.json)
	Source string // publishing institution code (USCC), for header mrhub-source; decisions: the deciding institution
	Kind   string // one of the Kind constants
}

var chinaTime = time.FixedZone("CST", 8*3600)

const (
	recentReports  = 256 // reports eligible for amendment, withdrawal, cross-publishing
	recentMessages = 64  // messages eligible for redelivery
)

// Generator produces an endless, deterministic stream of messages for a region. It is not safe
// for concurrent use.
type Generator struct {
	cfg      Config
	cat      *catalog.Catalog
	rng      *rand.Rand
	zipf     *rand.Zipf
	clock    time.Time
	insts    []*instSim
	comms    map[string]*commSim
	patients []patientSim
	rels     map[[2]int]*relation // (patient, institution index)
	hrCity   string

	visit    visit
	recent   []*report
	messages []Message
	pending  []Message

	lastMalformed int // variant of the last malformed message, for tests

	dec decisionState
}

// Malformed variants.
const (
	malformedTruncated = iota
	malformedResourceType
	malformedNoSubject
	malformedUnknownElement
)

type instSim struct {
	inst      catalog.Institution
	idx       int
	host      string // lower-case region code, for example URLs
	rep       []repItem
	cum       []float64
	lisSystem string
	shape     int // preferred message shape
	nextMRN   int
	nextRep   int
	community *commSim
	org       organizationRes
}

type repItem struct {
	item   *catalog.Item
	system string
	code   string
	weight float64
}

type commSim struct {
	lead     *instSim
	centres  []*instSim
	hospital []*instSim // non-lead hospitals
	members  []*instSim
}

type patientSim struct {
	family, given string
	male          bool
	birth         time.Time
	nid, ins      string
	phone         string
	comm          *commSim
	centre        *instSim
}

type relation struct {
	mrn      string
	idKnown  bool
	idAfter  int // reports before the resident ID is known
	reports  int
	pid      string // Patient.id at the institution
	uuidSeed string
}

type visit struct {
	left    int
	patient int
	inst    *instSim
	when    time.Time
	used    []string
}

type obs struct {
	a      analyte
	value  float64
	interp string
	status string
}

type report struct {
	inst      *instSim
	patient   int
	rel       *relation
	withIDs   bool // resident ID and insurance on the Patient resource
	repItem   repItem
	altLOINC  bool // add a LOINC coding after the local one
	unmapped  *unmappedTest
	imaging   bool
	modality  string
	value     string // report number
	accession string
	studyUID  string
	series    int
	instances int
	effective time.Time
	issued    time.Time
	updated   time.Time
	version   int
	status    string
	hr        string
	obs       []obs
	finding   int
	shape     int
	noSubject bool
}

// New returns a Generator for region with cfg (defaults applied to zero Patients, Start and
// MeanGap). The region must validate and have at least one institution that maps an item.
func New(cfg Config, region *catalog.Region) (*Generator, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := region.Validate(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	cat := catalog.NewCatalog(region)
	g := &Generator{
		cfg:   cfg,
		cat:   cat,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x9e3779b97f4a7c15)),
		clock: cfg.Start,
		comms: map[string]*commSim{},
		rels:  map[[2]int]*relation{},
	}
	g.hrCity = "本市HR"
	if i := strings.Index(region.Name, "市"); i > 0 {
		g.hrCity = region.Name[:i] + "HR"
	}

	byCode := map[string]*instSim{}
	for i, in := range region.Institutions {
		host := strings.ToLower(in.RegionCode)
		if host == "" {
			host = strings.ToLower(in.Code)
		}
		s := &instSim{inst: in, idx: i, host: host, shape: int(fnv32(in.Code) % 5),
			lisSystem: "http://his." + host + ".example/lab-codes"}
		s.org = organizationRes{ResourceType: "Organization", ID: "org-" + host,
			Identifier: []identifier{{System: SystemUSCC, Value: in.Code}}, Name: in.Name}
		g.insts = append(g.insts, s)
		byCode[in.Code] = s
	}
	for _, m := range region.CodeMaps {
		s := byCode[m.Institution]
		it, _ := cat.Item(m.Item)
		w := 1.0
		if v, ok := itemWeights[it.Code]; ok {
			w = v
		}
		s.rep = append(s.rep, repItem{item: it, system: m.System, code: m.Code, weight: w})
	}
	for _, c := range region.Communities {
		g.comms[c.Code] = &commSim{}
	}
	var usable []*instSim
	for _, s := range g.insts {
		if len(s.rep) == 0 {
			continue
		}
		usable = append(usable, s)
		total := 0.0
		for _, r := range s.rep {
			total += r.weight
			s.cum = append(s.cum, total)
		}
		c := g.comms[s.inst.Community]
		if c == nil {
			continue
		}
		s.community = c
		c.members = append(c.members, s)
		switch {
		case isLead(region, s.inst.Code):
			c.lead = s
		case s.inst.Kind == catalog.KindHospital || s.inst.Kind == catalog.KindCity:
			c.hospital = append(c.hospital, s)
		default:
			c.centres = append(c.centres, s)
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("sim: no institution in region %q maps any item", region.Name)
	}
	var commList []*commSim
	for _, c := range region.Communities {
		cs := g.comms[c.Code]
		if cs.lead == nil && len(cs.hospital) > 0 {
			cs.lead, cs.hospital = cs.hospital[0], cs.hospital[1:]
		}
		if len(cs.members) > 0 {
			commList = append(commList, cs)
		}
	}
	if len(commList) == 0 { // no communities: one pseudo-community of everyone
		cs := &commSim{members: usable}
		for _, s := range usable {
			if s.inst.Kind == catalog.KindHospital && cs.lead == nil {
				cs.lead = s
			} else {
				cs.centres = append(cs.centres, s)
			}
		}
		if cs.lead == nil {
			cs.lead = usable[0]
		}
		commList = []*commSim{cs}
	}

	var areas []string
	for _, d := range region.Districts {
		areas = append(areas, d.Code)
	}
	g.makePatients(areas, commList)
	g.zipf = rand.NewZipf(g.rng, 1.1, 50, uint64(cfg.Patients-1))
	g.initDecisions(region)
	return g, nil
}

func isLead(r *catalog.Region, code string) bool {
	for _, c := range r.Communities {
		if c.LeadCode == code {
			return true
		}
	}
	return false
}

func (g *Generator) makePatients(areas []string, comms []*commSim) {
	seen := make(map[string]bool, g.cfg.Patients)
	g.patients = make([]patientSim, g.cfg.Patients)
	for i := range g.patients {
		p := &g.patients[i]
		p.family = surnames[g.rng.IntN(len(surnames))]
		age := 0
		switch u := g.rng.Float64(); {
		case u < 0.10:
			age = g.rng.IntN(15)
		case u < 0.65:
			age = 15 + g.rng.IntN(50)
		default:
			age = 65 + g.rng.IntN(26)
		}
		p.birth = time.Date(g.cfg.Start.Year()-age-1, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.rng.IntN(365))
		area := areas[g.rng.IntN(len(areas))]
		if g.rng.Float64() < 0.15 {
			area = otherAreas[g.rng.IntN(len(otherAreas))]
		}
		for {
			seq := g.rng.IntN(1000)
			id := identity.NewResidentID(area, p.birth, seq)
			if !seen[id] {
				seen[id] = true
				p.nid = id
				p.male = seq%2 == 1
				break
			}
		}
		names := givenFemale
		if p.male {
			names = givenMale
		}
		p.given = names[g.rng.IntN(len(names))]
		if g.rng.Float64() < 0.7 {
			p.given += names[g.rng.IntN(len(names))]
		}
		if g.rng.Float64() < 0.9 {
			p.ins = fmt.Sprintf("%s%010d", area, g.rng.Int64N(1e10))
		}
		if g.rng.Float64() < 0.85 {
			p.phone = fmt.Sprintf("1%c%09d", "35789"[g.rng.IntN(5)], g.rng.IntN(1e9))
		}
		p.comm = comms[g.rng.IntN(len(comms))]
		if len(p.comm.centres) > 0 {
			p.centre = p.comm.centres[g.rng.IntN(len(p.comm.centres))]
		} else {
			p.centre = p.comm.lead
		}
	}
}

// Next returns the next message. The stream never ends.
func (g *Generator) Next() Message {
	g.dec.calls++
	if len(g.pending) > 0 {
		m := g.pending[0]
		g.pending = g.pending[1:]
		return g.remember(m)
	}
	if g.cfg.Decisions > 0 {
		if m, ok := g.nextDecision(); ok {
			return m
		}
	}
	u := g.rng.Float64()
	c := g.cfg
	switch {
	case u < c.Redeliver:
		if len(g.messages) > 0 {
			m := g.messages[g.rng.IntN(len(g.messages))]
			m.Kind = KindRedelivery
			return m // not remembered again: redeliveries are of originals
		}
	case u < c.Redeliver+c.Amend:
		if r := g.pickRecent(); r != nil {
			return g.remember(g.revise(r, "amended", KindAmended))
		}
	case u < c.Redeliver+c.Amend+c.Correct:
		if r := g.pickRecent(); r != nil {
			return g.remember(g.revise(r, "corrected", KindCorrected))
		}
	case u < c.Redeliver+c.Amend+c.Correct+c.Withdraw:
		if r := g.pickRecent(); r != nil {
			return g.remember(g.withdraw(r))
		}
	case u < c.Redeliver+c.Amend+c.Correct+c.Withdraw+c.OutOfOrder:
		if r := g.pickRecent(); r != nil {
			older := g.revise(r, "amended", KindLate)
			newer := g.revise(r, "corrected", KindOutOfOrder)
			g.pending = append(g.pending, older)
			return g.remember(newer)
		}
	case u < c.Redeliver+c.Amend+c.Correct+c.Withdraw+c.OutOfOrder+c.CrossPublish:
		if m, ok := g.crossPublish(); ok {
			return g.remember(m)
		}
	case u < c.Redeliver+c.Amend+c.Correct+c.Withdraw+c.OutOfOrder+c.CrossPublish+c.Malformed:
		return g.malformed()
	}
	r := g.newReport()
	g.recent = append(g.recent, r)
	if n := len(g.recent) - recentReports; n > 0 {
		if g.cfg.Decisions > 0 {
			for _, old := range g.recent[:n] {
				g.decidable(old) // out of reach of every later change: a candidate for decisions
			}
		}
		g.recent = slices.Delete(g.recent, 0, n)
	}
	return g.remember(g.message(r, r.inst, KindReport))
}

func (g *Generator) remember(m Message) Message {
	g.messages = append(g.messages, m)
	if len(g.messages) > recentMessages {
		g.messages = slices.Delete(g.messages, 0, len(g.messages)-recentMessages)
	}
	return m
}

func (g *Generator) pickRecent() *report {
	if len(g.recent) == 0 {
		return nil
	}
	return g.recent[g.rng.IntN(len(g.recent))]
}

// tick advances the simulated clock by an exponential gap, never past Config.Now (when set).
func (g *Generator) tick() time.Time {
	next := g.clock.Add(time.Duration(g.rng.ExpFloat64() * float64(g.cfg.MeanGap)))
	if g.cfg.Now != nil {
		if now := g.cfg.Now(); next.After(now) {
			next = now
			if next.Before(g.clock) {
				next = g.clock
			}
		}
	}
	g.clock = next
	return g.clock
}

// newReport makes the next report of the current visit, starting a visit when none is open.
func (g *Generator) newReport() *report {
	now := g.tick()
	if g.visit.left == 0 {
		g.startVisit(now)
	}
	v := &g.visit
	v.left--
	s := v.inst
	rel := g.relation(v.patient, s)
	rel.reports++
	if !rel.idKnown && rel.reports > rel.idAfter {
		rel.idKnown = true
	}
	r := &report{inst: s, patient: v.patient, rel: rel, withIDs: rel.idKnown, version: 1, status: "final",
		shape: s.shape, effective: v.when}
	if g.rng.Float64() < 0.25 {
		r.shape = g.rng.IntN(5)
	}
	if g.rng.Float64() < 0.03 {
		r.unmapped = &unmappedTests[g.rng.IntN(len(unmappedTests))]
	} else {
		r.repItem = g.pickItem(s, v.used)
		v.used = append(v.used, r.repItem.item.Code)
		r.altLOINC = r.repItem.system != systemLOINC && r.repItem.item.CodeSystem == systemLOINC && g.rng.Float64() < 0.1
	}
	s.nextRep++
	day := r.effective.In(chinaTime).Format("20060102")
	if r.unmapped == nil && r.repItem.item.Kind == catalog.ItemImaging {
		r.imaging = true
		r.modality = modalityOf(r.repItem.item)
		r.value = fmt.Sprintf("R%s%05d", day, s.nextRep%100000)
		r.accession = fmt.Sprintf("A%s%05d", day, s.nextRep%100000)
		r.studyUID = g.studyUID()
		r.series, r.instances = g.studySize(r.modality)
		r.issued = r.effective.Add(30*time.Minute + time.Duration(g.rng.IntN(20*60))*time.Minute)
		if g.rng.Float64() > 0.2 {
			r.finding = 0
		} else {
			r.finding = 1 + g.rng.IntN(len(findings[r.modality])-1)
		}
	} else {
		r.value = fmt.Sprintf("L%s%05d", day, s.nextRep%100000)
		r.issued = r.effective.Add(40*time.Minute + time.Duration(g.rng.IntN(200))*time.Minute)
		for _, a := range g.labAnalytes(r) {
			r.obs = append(r.obs, g.measure(a))
		}
	}
	r.updated = r.issued
	if r.unmapped == nil {
		r.hr = g.hrMark(r)
	}
	return r
}

func (g *Generator) startVisit(now time.Time) {
	var p int
	if g.rng.Float64() < 0.5 {
		p = int(g.zipf.Uint64())
	} else {
		p = g.rng.IntN(len(g.patients))
	}
	pt := &g.patients[p]
	c := pt.comm
	var s *instSim
	switch u := g.rng.Float64(); {
	case u < 0.5:
		s = pt.centre
	case u < 0.8 || len(c.hospital) == 0:
		s = c.lead
	case u < 0.88:
		s = c.hospital[g.rng.IntN(len(c.hospital))]
	default: // another community's lead hospital, or anyone
		s = g.insts[g.rng.IntN(len(g.insts))]
		for len(s.rep) == 0 {
			s = g.insts[g.rng.IntN(len(g.insts))]
		}
	}
	n := 1 + g.rng.IntN(3)
	if g.rng.Float64() < 0.15 {
		n += 2
	}
	g.visit = visit{left: n, patient: p, inst: s, when: now, used: g.visit.used[:0]}
}

func (g *Generator) relation(p int, s *instSim) *relation {
	k := [2]int{p, s.idx}
	if rel, ok := g.rels[k]; ok {
		return rel
	}
	s.nextMRN++
	rel := &relation{mrn: fmt.Sprintf("M%07d", s.nextMRN), idKnown: true}
	rel.pid = "pat-" + strings.ToLower(rel.mrn)
	rel.uuidSeed = s.inst.Code + "/" + rel.mrn
	if g.rng.Float64() < g.cfg.MRNOnly {
		rel.idKnown = false
		rel.idAfter = 1 + g.rng.IntN(2)
	}
	g.rels[k] = rel
	return rel
}

func (g *Generator) pickItem(s *instSim, used []string) repItem {
	for try := 0; ; try++ {
		x := g.rng.Float64() * s.cum[len(s.cum)-1]
		i, _ := slices.BinarySearch(s.cum, x)
		if i >= len(s.rep) {
			i = len(s.rep) - 1
		}
		if try > 8 || !slices.Contains(used, s.rep[i].item.Code) {
			return s.rep[i]
		}
	}
}

func (g *Generator) labAnalytes(r *report) []analyte {
	if r.unmapped != nil {
		return []analyte{r.unmapped.a}
	}
	if as, ok := analytes[r.repItem.item.Code]; ok {
		return as
	}
	it := r.repItem.item
	return []analyte{{abbr: it.Code, name: it.Name, unit: "U/L", ucum: "U/L", low: 0, high: 40}}
}

// measure draws a value: inside the reference range, or (about 15%) outside it.
func (g *Generator) measure(a analyte) obs {
	span := a.high - a.low
	o := obs{a: a, status: "final", interp: "N"}
	switch u := g.rng.Float64(); {
	case u < 0.10 || (u < 0.15 && a.low <= 0):
		o.value = a.high + span*(0.05+g.rng.Float64()*0.8)
		o.interp = "H"
	case u < 0.15:
		o.value = a.low - math.Min(a.low*0.9, span*(0.05+g.rng.Float64()*0.4))
		o.interp = "L"
	default:
		o.value = a.low + span*(0.05+g.rng.Float64()*0.9)
	}
	o.value = round(o.value, a.dec)
	switch {
	case o.value > a.high:
		o.interp = "H"
	case o.value < a.low:
		o.interp = "L"
	default:
		o.interp = "N"
	}
	return o
}

func round(v float64, dec int) float64 {
	p := math.Pow10(dec)
	return math.Round(v*p) / p
}

func (g *Generator) hrMark(r *report) string {
	q, ok := g.cat.Qualified(r.inst.inst.Code, r.repItem.item.Code, r.effective)
	if !ok {
		return ""
	}
	switch q.Scope {
	case catalog.ScopeNational:
		return "全国HR"
	case catalog.ScopeProvince:
		return "本省HR"
	}
	return g.hrCity
}

func modalityOf(it *catalog.Item) string {
	n := it.Name + " " + it.NameEn
	switch {
	case strings.Contains(n, "CT"):
		return "CT"
	case strings.Contains(n, "MRI"), strings.Contains(n, "MR "):
		return "MR"
	case strings.Contains(n, "超声"), strings.Contains(n, "ultrasound"), strings.Contains(n, "echocardio"):
		return "US"
	case strings.Contains(n, "钼靶"), strings.Contains(n, "ammogra"):
		return "MG"
	}
	return "DX"
}

func (g *Generator) studySize(mod string) (series, instances int) {
	switch mod {
	case "CT":
		return 3 + g.rng.IntN(4), 200 + g.rng.IntN(400)
	case "MR":
		return 5 + g.rng.IntN(6), 100 + g.rng.IntN(300)
	case "US":
		return 1, 10 + g.rng.IntN(30)
	case "MG":
		return 2, 4
	}
	return 1, 1 + g.rng.IntN(2)
}

// studyUID is a DICOM UID under the 2.25 arc: a random 128-bit number in decimal.
func (g *Generator) studyUID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], g.rng.Uint64())
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// revise makes a new version of r with changed values.
func (g *Generator) revise(r *report, status, kind string) Message {
	r.version++
	r.status = status
	r.updated = g.tick()
	if r.updated.Before(r.issued) {
		r.updated = r.issued.Add(time.Minute)
	}
	if r.imaging {
		r.finding = (r.finding + 1) % len(findings[r.modality])
	} else {
		for n := 1 + g.rng.IntN(2); n > 0; n-- {
			i := g.rng.IntN(len(r.obs))
			o := g.measure(r.obs[i].a)
			o.status = status
			r.obs[i] = o
		}
	}
	return g.message(r, r.inst, kind)
}

func (g *Generator) withdraw(r *report) Message {
	r.version++
	r.status = "entered-in-error"
	if g.rng.Float64() < 0.3 {
		r.status = "cancelled"
	}
	r.updated = g.tick()
	for i := range r.obs {
		r.obs[i].status = r.status
	}
	if i := slices.Index(g.recent, r); i >= 0 {
		g.recent = slices.Delete(g.recent, i, i+1)
	}
	return g.message(r, r.inst, KindWithdrawn)
}

// crossPublish re-publishes the current version of a recent report through another member of
// the performer's medical community.
func (g *Generator) crossPublish() (Message, bool) {
	r := g.pickRecent()
	if r == nil || r.inst.community == nil || len(r.inst.community.members) < 2 {
		return Message{}, false
	}
	c := r.inst.community
	pub := c.lead
	if pub == r.inst {
		pub = c.members[g.rng.IntN(len(c.members))]
		for pub == r.inst {
			pub = c.members[g.rng.IntN(len(c.members))]
		}
	}
	return g.message(r, pub, KindCrossPublish), true
}

func (g *Generator) malformed() Message {
	r := g.newReport()
	m := g.message(r, r.inst, KindMalformed)
	g.lastMalformed = g.rng.IntN(4)
	switch g.lastMalformed {
	case malformedTruncated:
		m.Value = m.Value[:10+g.rng.IntN(len(m.Value)-20)]
	case malformedResourceType:
		m.Value = bytes.Replace(m.Value, []byte(`"resourceType":"DiagnosticReport"`), []byte(`"resourceType":"DiagnosticRequest"`), 1)
	case malformedNoSubject:
		r.noSubject = true
		m.Value = g.message(r, r.inst, KindMalformed).Value
	case malformedUnknownElement:
		m.Value = bytes.Replace(m.Value, []byte(`"resourceType":"DiagnosticReport",`),
			[]byte(`"resourceType":"DiagnosticReport","reportNumber":"`+r.value+`",`), 1)
	}
	return m
}

// ---------------------------------------------------------------- rendering

func fhirTime(t time.Time) string { return t.In(chinaTime).Format("2006-01-02T15:04:05+08:00") }

// uuidFor is a name-based (SHA-1, version 5 layout) UUID: stable for the same name.
func uuidFor(name string) string {
	sum := sha1.Sum([]byte(name))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// Message shapes.
const (
	shapeCollection  = iota // collection, urn:uuid fullUrls and references
	shapeTransaction        // transaction, urn:uuid, request POST
	shapeBatch              // batch, request PUT, relative references, absolute fullUrls
	shapeContained          // a lone DiagnosticReport with contained resources
	shapeRelative           // collection, relative references, absolute fullUrls
)

func (g *Generator) message(r *report, pub *instSim, kind string) Message {
	v := g.render(r)
	return Message{
		Topic:  config.TopicReports,
		Key:    []byte(pub.inst.Code + "|" + r.value),
		Value:  v,
		Source: pub.inst.Code,
		Kind:   kind,
	}
}

func (g *Generator) render(r *report) []byte {
	return mustJSON(g.renderReport(r))
}

func (g *Generator) renderReport(r *report) any {
	s := r.inst
	base := "http://his." + s.host + ".example/fhir/"
	drID := "dr-" + strings.ToLower(r.value)
	rel := r.rel
	p := &g.patients[r.patient]

	// identities of the resources, per shape
	contained := r.shape == shapeContained
	rid := func(id, local string) string {
		if contained {
			return local
		}
		return id
	}
	type ids struct{ full, ref string }
	idOf := func(typ, id string, contained string) ids {
		switch r.shape {
		case shapeCollection, shapeTransaction:
			u := "urn:uuid:" + uuidFor(s.inst.Code+"/"+typ+"/"+id)
			return ids{u, u}
		case shapeContained:
			return ids{"", "#" + contained}
		default:
			return ids{base + typ + "/" + id, typ + "/" + id}
		}
	}

	pat := patientRes{ResourceType: "Patient", ID: rid(rel.pid, "pat"), Gender: "female",
		BirthDate: p.birth.Format("2006-01-02")}
	if p.male {
		pat.Gender = "male"
	}
	pat.Identifier = append(pat.Identifier, identifier{Use: "usual",
		Type:   &codeableConcept{Coding: []coding{{System: systemV20203, Code: "MR"}}},
		System: "http://his." + s.host + ".example/sid/mrn", Value: rel.mrn})
	if r.withIDs {
		pat.Identifier = append(pat.Identifier, identifier{Use: "official", System: SystemResidentID, Value: p.nid})
		if p.ins != "" {
			pat.Identifier = append(pat.Identifier, identifier{System: SystemInsurance, Value: p.ins})
		}
	}
	pat.Name = []humanName{{Use: "official", Text: p.family + p.given, Family: p.family, Given: []string{p.given}}}
	if p.phone != "" {
		pat.Telecom = []contactPoint{{System: "phone", Value: p.phone, Use: "mobile"}}
	}
	patIDs := idOf("Patient", rel.pid, "pat")
	subject := &reference{Reference: patIDs.ref, Display: p.family + p.given}
	if r.noSubject {
		subject = nil
	}

	withOrg := r.shape != shapeBatch
	orgIDs := idOf("Organization", s.org.ID, "org")
	performer := reference{Reference: orgIDs.ref, Display: s.inst.Name}
	if !withOrg {
		performer = reference{Type: "Organization", Identifier: &identifier{System: SystemUSCC, Value: s.inst.Code},
			Display: s.inst.Name}
	}

	dr := diagnosticReportRes{ResourceType: "DiagnosticReport", ID: drID,
		Meta:   &meta{VersionID: fmt.Sprint(r.version), LastUpdated: fhirTime(r.updated)},
		Status: r.status, Subject: subject,
		EffectiveDateTime: fhirTime(r.effective), Issued: fhirTime(r.issued),
		Performer: []reference{performer},
	}
	if r.hr != "" {
		dr.Extension = []extension{{URL: HRMarkURL, ValueString: r.hr}}
	}
	dr.Identifier = []identifier{{Use: "official",
		Type:   &codeableConcept{Coding: []coding{{System: systemV20203, Code: "FILL"}}},
		System: "http://his." + s.host + ".example/sid/report", Value: r.value}}
	cat := "LAB"
	if r.imaging {
		cat = "RAD"
	}
	dr.Category = []codeableConcept{{Coding: []coding{{System: systemV20074, Code: cat}}}}
	if r.unmapped != nil {
		dr.Code = codeableConcept{Coding: []coding{{System: s.lisSystem, Code: r.unmapped.code, Display: r.unmapped.name}},
			Text: r.unmapped.name}
	} else {
		it := r.repItem.item
		dr.Code = codeableConcept{Coding: []coding{{System: r.repItem.system, Code: r.repItem.code, Display: it.Name}},
			Text: it.Name}
		if r.altLOINC {
			dr.Code.Coding = append(dr.Code.Coding, coding{System: systemLOINC, Code: it.StdCode, Display: it.NameEn})
		}
	}

	var entries []bundleEntry
	var containedRes []any
	add := func(res any, typ, id string, full string) {
		if contained {
			containedRes = append(containedRes, res)
			return
		}
		e := bundleEntry{FullURL: full, Resource: res}
		switch r.shape {
		case shapeTransaction:
			e.Request = &bundleRequest{Method: "POST", URL: typ}
		case shapeBatch:
			e.Request = &bundleRequest{Method: "PUT", URL: typ + "/" + id}
		}
		entries = append(entries, e)
	}

	if r.imaging {
		isID := "is-" + strings.ToLower(r.accession)
		isIDs := idOf("ImagingStudy", isID, "study")
		name := r.repItem.item.Name
		st := imagingStudyRes{ResourceType: "ImagingStudy", ID: rid(isID, "study"), Status: "available",
			Identifier: []identifier{
				{System: "urn:dicom:uid", Value: "urn:oid:" + r.studyUID},
				{Type: &codeableConcept{Coding: []coding{{System: systemV20203, Code: "ACSN"}}},
					System: "http://his." + s.host + ".example/sid/accession", Value: r.accession},
			},
			Modality:       []coding{{System: systemDCM, Code: r.modality}},
			Subject:        reference{Reference: patIDs.ref},
			Started:        fhirTime(r.effective),
			NumberOfSeries: r.series, NumberOfInstances: r.instances, Description: name,
		}
		if r.status == "entered-in-error" {
			st.Status = "entered-in-error"
		} else if r.status == "cancelled" {
			st.Status = "cancelled"
		}
		if r.noSubject {
			st.Subject = reference{Display: p.family + p.given}
		}
		dr.ImagingStudy = []reference{{Reference: isIDs.ref}}
		dr.Conclusion = fmt.Sprintf(findings[r.modality][r.finding], name)
		add(st, "ImagingStudy", isID, isIDs.full)
	} else {
		var obsSubject *reference
		if subject != nil {
			obsSubject = &reference{Reference: subject.Reference}
		}
		for i, o := range r.obs {
			oid := fmt.Sprintf("obs-%s-%d", strings.ToLower(r.value), i+1)
			oIDs := idOf("Observation", oid, fmt.Sprintf("obs%d", i+1))
			ob := observationRes{ResourceType: "Observation", ID: rid(oid, fmt.Sprintf("obs%d", i+1)), Status: o.status,
				Category:          obsCategory,
				Subject:           obsSubject,
				EffectiveDateTime: dr.EffectiveDateTime,
				ValueQuantity:     &quantity{Value: o.value, Unit: o.a.unit, System: systemUCUM, Code: o.a.ucum},
				Interpretation:    interpretations[o.interp],
				ReferenceRange: []referenceRange{{
					Low:  &quantity{Value: o.a.low, Unit: o.a.unit},
					High: &quantity{Value: o.a.high, Unit: o.a.unit},
				}},
			}
			if o.a.loinc != "" {
				ob.Code = codeableConcept{Coding: []coding{{System: systemLOINC, Code: o.a.loinc, Display: o.a.name}}}
			} else {
				ob.Code = codeableConcept{Coding: []coding{{System: "http://his." + s.host + ".example/analyte-codes", Code: o.a.abbr, Display: o.a.name}}}
			}
			dr.Result = append(dr.Result, reference{Reference: oIDs.ref})
			add(ob, "Observation", oid, oIDs.full)
		}
	}
	if !(r.noSubject && contained) { // contained resources must be referenced
		add(pat, "Patient", rel.pid, patIDs.full)
	}
	if withOrg {
		org := s.org
		org.ID = rid(org.ID, "org")
		add(org, "Organization", s.org.ID, orgIDs.full)
	}

	if contained {
		dr.Contained = containedRes
		return dr
	}
	drIDs := idOf("DiagnosticReport", drID, "")
	first := bundleEntry{FullURL: drIDs.full, Resource: dr}
	switch r.shape {
	case shapeTransaction:
		first.Request = &bundleRequest{Method: "POST", URL: "DiagnosticReport"}
	case shapeBatch:
		first.Request = &bundleRequest{Method: "PUT", URL: "DiagnosticReport/" + drID}
	}
	b := bundleRes{ResourceType: "Bundle", ID: uuidFor(fmt.Sprintf("%s/%s/v%d/%d", s.inst.Code, r.value, r.version, r.shape)),
		Type: [...]string{"collection", "transaction", "batch", "", "collection"}[r.shape], Timestamp: fhirTime(r.updated),
		Entry: append([]bundleEntry{first}, entries...)}
	return b
}

var obsCategory = []codeableConcept{{Coding: []coding{{System: systemObsCategory, Code: "laboratory"}}}}

var interpretations = map[string][]codeableConcept{
	"H": {{Coding: []coding{{System: systemInterp, Code: "H"}}}},
	"L": {{Coding: []coding{{System: systemInterp, Code: "L"}}}},
	"N": {{Coding: []coding{{System: systemInterp, Code: "N"}}}},
}

func mustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("sim: encoding FHIR JSON: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}
