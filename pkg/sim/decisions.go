package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/decisions"
)

const (
	maxDecidable   = 8192 // candidate prior reports kept for decisions (the oldest are dropped)
	notCountingP   = 0.04 // share of decisions declined with a reason that does not count (98, 99)
	feedbackWindow = 8.0  // the outcome draw corrects the running rate's error over about this many decisions
	expiryMargin   = time.Minute
)

// decisionState is what the generator keeps to make decisions.
type decisionState struct {
	calls     int          // Next calls so far
	n         int          // decisions made
	pool      []*candidate // recognisable prior reports, oldest first
	revokes   []revocation // scheduled, by due call
	rec, cnt  int          // tally of non-revoked decisions: recognised, counted in the rate
	counting  []weighted   // decline reasons that count in the rate
	notCount  []weighted   // decline reasons that do not (98, 99)
	noteFor   map[int]bool // reasons that need a note
	idPrefix  string
	byInstOff map[string]float64 // per deciding institution, a fixed offset of its recognition propensity
}

type candidate struct {
	r       *report
	id      string    // canonical report id
	expires time.Time // end of the validity window (minus a margin)
}

type revocation struct {
	due    int
	id     string
	source string
}

type weighted struct {
	code int
	w    float64
}

// Decline reason weights among the counting and the not-counting reasons (unknown codes: 1).
var reasonWeights = map[int]float64{1: 30, 2: 20, 3: 15, 4: 15, 5: 5, 6: 15, 98: 50, 99: 50}

var departments = []string{"内科", "外科", "儿科", "妇产科", "急诊科", "全科", "心内科", "骨科"}

var otherNotes = []string{"患者要求复查", "外院结果与临床表现不符", "标本类型与本次医嘱不同", "检查部位与本次医嘱不完全一致", "既往报告图像质量不足以诊断"}

func (g *Generator) initDecisions(region *catalog.Region) {
	d := &g.dec
	d.noteFor = map[int]bool{}
	for _, r := range region.Reasons {
		w, ok := reasonWeights[r.Code]
		if !ok {
			w = 1
		}
		if r.CountsInRate {
			d.counting = append(d.counting, weighted{r.Code, w})
		} else {
			d.notCount = append(d.notCount, weighted{r.Code, w})
		}
		d.noteFor[r.Code] = r.NoteRequired
	}
	d.idPrefix = "sim" + strconv.FormatUint(uint64(g.cfg.Seed), 36) + "-"
	d.byInstOff = map[string]float64{}
	for _, s := range g.insts {
		// -0.08 … +0.08: institutions differ; the region's rate is held at the target.
		d.byInstOff[s.inst.Code] = (float64(fnv32("rate/"+s.inst.Code)%161) - 80) / 1000
	}
}

// canonicalID is the hub's report id: the first 32 hex digits of SHA-256 of the natural key
// performer|identifier system|identifier value (pkg/profile).
func canonicalID(r *report) string {
	sum := sha256.Sum256([]byte(r.inst.inst.Code + "|http://his." + r.inst.host + ".example/sid/report|" + r.value))
	return hex.EncodeToString(sum[:16])
}

// decidable adds r, which has just left the window of reports that may still change, to the
// decision candidates when the hub will find it recognisable: mapped to a catalogue item, of a
// final status, its performer HR-qualified for the item on the sample date.
func (g *Generator) decidable(r *report) {
	if r.unmapped != nil || r.hr == "" || r.noSubject || !finalStatus(r.status) {
		return
	}
	it := r.repItem.item
	exp := r.effective.Add(time.Duration(it.ValidityDays)*24*time.Hour - expiryMargin)
	if !g.clock.Before(exp) {
		return
	}
	d := &g.dec
	d.pool = append(d.pool, &candidate{r: r, id: canonicalID(r), expires: exp})
	if len(d.pool) > maxDecidable {
		d.pool = slices.Delete(d.pool, 0, len(d.pool)-maxDecidable)
	}
}

func finalStatus(s string) bool { return s == "final" || s == "amended" || s == "corrected" }

// nextDecision returns a due revocation, or with probability Config.Decisions a new decision.
func (g *Generator) nextDecision() (Message, bool) {
	d := &g.dec
	if len(d.revokes) > 0 && d.revokes[0].due <= d.calls {
		rv := d.revokes[0]
		d.revokes = d.revokes[1:]
		return g.revokeMessage(rv), true
	}
	if g.rng.Float64() >= g.cfg.Decisions {
		return Message{}, false
	}
	c := g.pickCandidate()
	if c == nil {
		return Message{}, false
	}
	return g.decide(c), true
}

func (g *Generator) pickCandidate() *candidate {
	d := &g.dec
	for try := 0; try < 8 && len(d.pool) > 0; try++ {
		i := g.rng.IntN(len(d.pool))
		c := d.pool[i]
		if g.clock.Before(c.expires) && !g.clock.Before(c.r.effective) {
			return c
		}
		d.pool = slices.Delete(d.pool, i, i+1) // expired
	}
	return nil
}

// decide makes one decision on candidate c: an institution orders c's item for c's patient, who
// has c as a recognisable prior result.
func (g *Generator) decide(c *candidate) Message {
	d := &g.dec
	r := c.r
	p := &g.patients[r.patient]
	d.n++

	// Deciding institution: the patient's home centre, their community's lead, the performer
	// itself, or anyone.
	var s *instSim
	switch u := g.rng.Float64(); {
	case u < 0.35 && p.centre != nil:
		s = p.centre
	case u < 0.65 && p.comm != nil && p.comm.lead != nil:
		s = p.comm.lead
	case u < 0.75:
		s = r.inst
	default:
		s = g.insts[g.rng.IntN(len(g.insts))]
	}

	// The patient as the deciding clinician knows them: resident ID or insurance number when
	// the report carried them, else the performer's MRN (a patient the hub knows by MRN only).
	var patient string
	switch {
	case !r.withIDs:
		patient = "http://his." + r.inst.host + ".example/sid/mrn|" + r.rel.mrn
	case p.ins != "" && g.rng.Float64() < 0.2:
		patient = SystemInsurance + "|" + p.ins
	default:
		patient = SystemResidentID + "|" + p.nid
	}

	ev := decisions.Event{
		ID:          fmt.Sprintf("%s%07d", d.idPrefix, d.n),
		Institution: s.inst.Code,
		Department:  departments[g.rng.IntN(len(departments))],
		Clinician:   fmt.Sprintf("D%04d", 1+g.rng.IntN(60)),
		Patient:     patient,
		Item:        r.repItem.item.Code,
		Report:      c.id,
		DecidedAt:   fhirTime(g.clock),
	}
	revoked := g.rng.Float64() < g.cfg.Revoke
	ev.Outcome, ev.Reason = g.outcome(s.inst.Code, revoked)
	if ev.Reason != nil && d.noteFor[*ev.Reason] {
		ev.Note = otherNotes[g.rng.IntN(len(otherNotes))]
	}
	if revoked {
		d.revokes = append(d.revokes, revocation{due: d.calls + 20 + g.rng.IntN(180), id: ev.ID, source: s.inst.Code})
	}
	return Message{Topic: config.TopicDecisions, Key: []byte(ev.ID), Value: mustJSON(ev), Source: s.inst.Code, Kind: KindDecision}
}

// outcome draws recognised or declined-with-a-reason. A share notCountingP is declined with a
// reason outside the rate (98, 99); the others are recognised with the target rate, corrected
// by the running error of the region's non-revoked decisions (so the rate converges on the
// target whatever the seed) and shifted per institution (so institutions differ).
func (g *Generator) outcome(inst string, revoked bool) (string, *int) {
	d := &g.dec
	if len(d.notCount) > 0 && g.rng.Float64() < notCountingP {
		code := pickWeighted(g, d.notCount)
		return "declined", &code
	}
	t := g.cfg.TargetRate
	p := t + d.byInstOff[inst] + (t*float64(d.cnt)-float64(d.rec))/feedbackWindow
	recognized := len(d.counting) == 0 || g.rng.Float64() < p
	if !revoked {
		d.cnt++
		if recognized {
			d.rec++
		}
	}
	if recognized {
		return "recognized", nil
	}
	code := pickWeighted(g, d.counting)
	return "declined", &code
}

func pickWeighted(g *Generator, ws []weighted) int {
	total := 0.0
	for _, w := range ws {
		total += w.w
	}
	x := g.rng.Float64() * total
	for _, w := range ws {
		if x < w.w {
			return w.code
		}
		x -= w.w
	}
	return ws[len(ws)-1].code
}

func (g *Generator) revokeMessage(rv revocation) Message {
	ev := decisions.Event{Type: decisions.TypeRevoke, ID: rv.id, RevokedAt: fhirTime(g.clock)}
	return Message{Topic: config.TopicDecisions, Key: []byte(rv.id), Value: mustJSON(ev), Source: rv.source, Kind: KindRevoke}
}
