package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Institution kinds.
const (
	KindHospital  = "hospital"  // district (county) hospital, general or specialist
	KindTownship  = "township"  // 乡镇卫生院
	KindCommunity = "community" // 社区卫生服务中心
	KindCity      = "city"      // a city-level hospital outside the district tree
)

// Item kinds.
const (
	ItemLab     = "lab"     // 检验
	ItemImaging = "imaging" // 检查
)

// Scopes of an item's recognition and of a qualification (HR mark).
const (
	ScopeRegion   = "region"
	ScopeProvince = "province"
	ScopeNational = "national"
)

// District is an administrative district (区/县) by its 6-digit division code.
type District struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	NameEn string `json:"name_en"`
}

// Community is a medical community (医共体): a lead hospital with its branches.
type Community struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	NameEn   string `json:"name_en"`
	District string `json:"district"`
	LeadCode string `json:"lead_code"` // Institution.Code of the lead hospital
}

// Institution is a hospital or health centre, identified by its unified social credit code
// (Code) and, as an alias, the region's institution code (RegionCode).
type Institution struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	NameEn     string `json:"name_en"`
	Kind       string `json:"kind"` // hospital|township|community|city
	District   string `json:"district"`
	Community  string `json:"community,omitempty"` // "" when in no community
	RegionCode string `json:"region_code,omitempty"`
	// MRNSystems are the identifier systems of the institution's own patient numbers (MRN), e.g.
	// http://his.qx101.example/sid/mrn: an MRN in one of them was issued by this institution,
	// whoever publishes the report (docs/rules.md "Who issued an identifier"). A system belongs
	// to one institution.
	MRNSystems []string `json:"mrn_systems,omitempty"`
}

// Item is an entry of the recognition catalogue (互认项目目录).
type Item struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	NameEn       string `json:"name_en"`
	Kind         string `json:"kind"`        // lab|imaging
	CodeSystem   string `json:"code_system"` // e.g. http://loinc.org; "" when no standard code
	StdCode      string `json:"std_code"`
	ValidityDays int    `json:"validity_days"`
	PriceCents   int64  `json:"price_cents"` // RMB fen
	Scope        string `json:"scope"`       // region|province|national
	Department   string `json:"department"`
}

// CodeMap maps an institution's local (system, code) to a catalogue item.
type CodeMap struct {
	Institution string `json:"institution"`
	System      string `json:"system"` // "" when the institution sends codes without a system
	Code        string `json:"code"`
	Item        string `json:"item"`
}

// Qualification is an HR mark: the institution passed external quality assessment for the item,
// with a scope, valid from ValidFrom to ValidTo, both dates inclusive (the time of day is
// ignored; JSON uses "YYYY-MM-DD").
type Qualification struct {
	Institution string    `json:"institution"`
	Item        string    `json:"item"`
	Scope       string    `json:"scope"`
	ValidFrom   time.Time `json:"valid_from"`
	ValidTo     time.Time `json:"valid_to"`
}

type qualificationJSON struct {
	Institution string `json:"institution"`
	Item        string `json:"item"`
	Scope       string `json:"scope"`
	ValidFrom   string `json:"valid_from"`
	ValidTo     string `json:"valid_to"`
}

const dateLayout = "2006-01-02"

// MarshalJSON writes the dates as "YYYY-MM-DD".
func (q Qualification) MarshalJSON() ([]byte, error) {
	return json.Marshal(qualificationJSON{q.Institution, q.Item, q.Scope,
		q.ValidFrom.Format(dateLayout), q.ValidTo.Format(dateLayout)})
}

// UnmarshalJSON reads dates as "YYYY-MM-DD" (UTC midnight).
func (q *Qualification) UnmarshalJSON(b []byte) error {
	var j qualificationJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	from, err := time.Parse(dateLayout, j.ValidFrom)
	if err != nil {
		return fmt.Errorf("qualification %s/%s: valid_from: %w", j.Institution, j.Item, err)
	}
	to, err := time.Parse(dateLayout, j.ValidTo)
	if err != nil {
		return fmt.Errorf("qualification %s/%s: valid_to: %w", j.Institution, j.Item, err)
	}
	*q = Qualification{j.Institution, j.Item, j.Scope, from, to}
	return nil
}

// Reason is a platform-owned reason for declining to recognise a result (不互认原因).
type Reason struct {
	Code         int    `json:"code"`
	Name         string `json:"name"`
	NameEn       string `json:"name_en"`
	CountsInRate bool   `json:"counts_in_rate"` // a decline with this reason counts against the rate
	NoteRequired bool   `json:"note_required"`  // the clinician must add a free-text note
}

// PlatformReasons are the decline reason codes a region may use: 1–6 (counted in the rate) and
// 98, 99 (not counted). They are fixed: the statistics rollup keeps one column per code
// (schemas/migrations/0003_decisions.sql).
var PlatformReasons = []int{1, 2, 3, 4, 5, 6, 98, 99}

// Region is the whole reference data set of a health region.
type Region struct {
	Name           string          `json:"name"`
	Districts      []District      `json:"districts"`
	Communities    []Community     `json:"communities"`
	Institutions   []Institution   `json:"institutions"`
	Items          []Item          `json:"items"`
	CodeMaps       []CodeMap       `json:"code_maps"`
	Qualifications []Qualification `json:"qualifications"`
	Reasons        []Reason        `json:"reasons"`
}

// ErrInvalidRegion is wrapped by Validate's error.
var ErrInvalidRegion = errors.New("invalid region")

// maxProblems bounds how many problems Validate lists.
const maxProblems = 50

// Validate checks the region and returns an error listing every problem found (up to 50),
// each naming the record and what to fix, or nil.
func (r *Region) Validate() error {
	var p problems
	if strings.TrimSpace(r.Name) == "" {
		p.add("region: name is empty; set \"name\"")
	}

	districts := map[string]bool{}
	for i, d := range r.Districts {
		where := fmt.Sprintf("districts[%d] %q", i, d.Code)
		if !isDigits(d.Code, 6) {
			p.add("%s: code must be the 6-digit administrative division code", where)
		}
		if districts[d.Code] {
			p.add("%s: duplicate district code", where)
		}
		districts[d.Code] = true
		if d.Name == "" {
			p.add("%s: name is empty", where)
		}
	}
	if len(r.Districts) == 0 {
		p.add("region: no districts; add at least one")
	}

	insts := map[string]*Institution{}
	aliases := map[string]string{} // region code -> institution code
	for i := range r.Institutions {
		in := &r.Institutions[i]
		where := fmt.Sprintf("institutions[%d] %q", i, in.Code)
		if len(in.Code) == 18 {
			if err := ValidateUSCC(in.Code); err != nil {
				p.add("%s: %v", where, err)
			}
		} else if !isCode(in.Code) {
			p.add("%s: code must be an 18-character unified social credit code (or a region code of letters, digits, '-', '_', '.')", where)
		}
		if insts[in.Code] != nil {
			p.add("%s: duplicate institution code", where)
		}
		insts[in.Code] = in
		if in.Name == "" {
			p.add("%s: name is empty", where)
		}
		switch in.Kind {
		case KindHospital, KindTownship, KindCommunity, KindCity:
		default:
			p.add("%s: kind %q must be hospital, township, community or city", where, in.Kind)
		}
		if !districts[in.District] {
			p.add("%s: district %q is not in districts", where, in.District)
		}
		if in.RegionCode != "" {
			if !isCode(in.RegionCode) {
				p.add("%s: region_code %q must be letters, digits, '-', '_', '.'", where, in.RegionCode)
			}
			if other, dup := aliases[in.RegionCode]; dup {
				p.add("%s: region_code %q is also used by %q", where, in.RegionCode, other)
			}
			aliases[in.RegionCode] = in.Code
		}
	}
	mrnSystems := map[string]string{} // system -> institution code
	for i, in := range r.Institutions {
		where := fmt.Sprintf("institutions[%d] %q", i, in.Code)
		for _, sys := range in.MRNSystems {
			switch {
			case !validSystem(sys):
				p.add("%s: mrn_systems entry %q must be an absolute URI without spaces (e.g. http://his.example/sid/mrn)", where, sys)
			case mrnSystems[sys] == in.Code:
				p.add("%s: mrn_systems lists %q twice", where, sys)
			case mrnSystems[sys] != "":
				p.add("%s: MRN system %q is also institution %q's; an MRN system names one institution", where, sys, mrnSystems[sys])
			default:
				mrnSystems[sys] = in.Code
			}
		}
	}
	for _, in := range r.Institutions {
		if other := insts[in.RegionCode]; other != nil && other.Code != in.Code {
			p.add("institution %q: region_code %q equals the code of institution %q; codes and region codes must not collide", in.Code, in.RegionCode, other.Code)
		}
	}

	comms := map[string]*Community{}
	for i := range r.Communities {
		c := &r.Communities[i]
		where := fmt.Sprintf("communities[%d] %q", i, c.Code)
		if !isCode(c.Code) {
			p.add("%s: code must be letters, digits, '-', '_', '.'", where)
		}
		if comms[c.Code] != nil {
			p.add("%s: duplicate community code", where)
		}
		comms[c.Code] = c
		if c.Name == "" {
			p.add("%s: name is empty", where)
		}
		if !districts[c.District] {
			p.add("%s: district %q is not in districts", where, c.District)
		}
		lead := insts[c.LeadCode]
		switch {
		case c.LeadCode == "":
			p.add("%s: lead_code is empty; set it to the lead hospital's institution code", where)
		case lead == nil:
			p.add("%s: lead_code %q is not an institution code", where, c.LeadCode)
		case lead.Community != c.Code:
			p.add("%s: lead %q belongs to community %q; set its community to %q", where, c.LeadCode, lead.Community, c.Code)
		case lead.Kind != KindHospital && lead.Kind != KindCity:
			p.add("%s: lead %q is a %s; a community is led by a hospital", where, c.LeadCode, lead.Kind)
		}
	}
	for _, in := range r.Institutions {
		if in.Community != "" && comms[in.Community] == nil {
			p.add("institution %q: community %q is not in communities", in.Code, in.Community)
		}
	}
	// One lead per community: LeadCode names it; no hospital may lead two communities.
	leads := map[string]string{}
	for _, c := range r.Communities {
		if other, dup := leads[c.LeadCode]; dup && c.LeadCode != "" {
			p.add("institution %q leads both communities %q and %q", c.LeadCode, other, c.Code)
		}
		leads[c.LeadCode] = c.Code
	}

	items := map[string]*Item{}
	std := map[[2]string]string{}
	for i := range r.Items {
		it := &r.Items[i]
		where := fmt.Sprintf("items[%d] %q", i, it.Code)
		if !isCode(it.Code) {
			p.add("%s: code must be letters, digits, '-', '_', '.'", where)
		}
		if items[it.Code] != nil {
			p.add("%s: duplicate item code", where)
		}
		items[it.Code] = it
		if it.Name == "" {
			p.add("%s: name is empty", where)
		}
		if it.Kind != ItemLab && it.Kind != ItemImaging {
			p.add("%s: kind %q must be lab or imaging", where, it.Kind)
		}
		if (it.CodeSystem == "") != (it.StdCode == "") {
			p.add("%s: code_system and std_code must be both set or both empty", where)
		}
		if it.CodeSystem != "" {
			k := [2]string{it.CodeSystem, it.StdCode}
			if other, dup := std[k]; dup {
				p.add("%s: standard code %s|%s is also item %q's", where, it.CodeSystem, it.StdCode, other)
			}
			std[k] = it.Code
		}
		if it.ValidityDays <= 0 {
			p.add("%s: validity_days must be > 0", where)
		}
		if it.PriceCents < 0 {
			p.add("%s: price_cents must be >= 0", where)
		}
		if !validScope(it.Scope) {
			p.add("%s: scope %q must be region, province or national", where, it.Scope)
		}
	}

	maps := map[[3]string]bool{}
	for i, m := range r.CodeMaps {
		where := fmt.Sprintf("code_maps[%d] %s %s|%s", i, m.Institution, m.System, m.Code)
		if insts[m.Institution] == nil {
			p.add("%s: institution %q is not an institution code (use the USCC, not the region code)", where, m.Institution)
		}
		if items[m.Item] == nil {
			p.add("%s: item %q is not in items", where, m.Item)
		}
		if strings.TrimSpace(m.Code) == "" {
			p.add("%s: code is empty", where)
		}
		k := [3]string{m.Institution, m.System, m.Code}
		if maps[k] {
			p.add("%s: duplicate mapping", where)
		}
		maps[k] = true
	}

	quals := map[[3]string]bool{}
	for i, q := range r.Qualifications {
		where := fmt.Sprintf("qualifications[%d] %s/%s from %s", i, q.Institution, q.Item, q.ValidFrom.Format(dateLayout))
		if insts[q.Institution] == nil {
			p.add("%s: institution %q is not an institution code (use the USCC, not the region code)", where, q.Institution)
		}
		if items[q.Item] == nil {
			p.add("%s: item %q is not in items", where, q.Item)
		}
		if !validScope(q.Scope) {
			p.add("%s: scope %q must be region, province or national", where, q.Scope)
		}
		if q.ValidFrom.IsZero() || q.ValidTo.IsZero() {
			p.add("%s: valid_from and valid_to are required", where)
		} else if dayOf(q.ValidTo) < dayOf(q.ValidFrom) {
			p.add("%s: valid_to %s is before valid_from", where, q.ValidTo.Format(dateLayout))
		}
		k := [3]string{q.Institution, q.Item, q.ValidFrom.Format(dateLayout)}
		if quals[k] {
			p.add("%s: duplicate qualification (institution, item, valid_from)", where)
		}
		quals[k] = true
	}

	reasons := map[int]bool{}
	for i, rs := range r.Reasons {
		where := fmt.Sprintf("reasons[%d] %d", i, rs.Code)
		if !slices.Contains(PlatformReasons, rs.Code) {
			p.add("%s: not a platform decline reason code (%v): the reasons are platform-owned and fixed", where, PlatformReasons)
		}
		if reasons[rs.Code] {
			p.add("%s: duplicate reason code", where)
		}
		reasons[rs.Code] = true
		if rs.Name == "" || rs.NameEn == "" {
			p.add("%s: name and name_en are required", where)
		}
	}
	return p.err()
}

type problems struct {
	list  []string
	extra int
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) >= maxProblems {
		p.extra++
		return
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	msg := strings.Join(p.list, "\n  ")
	if p.extra > 0 {
		msg += fmt.Sprintf("\n  … and %d more", p.extra)
	}
	return fmt.Errorf("%w: %d problem(s):\n  %s", ErrInvalidRegion, len(p.list)+p.extra, msg)
}

// validSystem reports whether s looks like an identifier system: a URI with a scheme ("http:",
// "https:", "urn:") and no white space or control characters.
func validSystem(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '|' {
			return false
		}
	}
	return true
}

func validScope(s string) bool {
	return s == ScopeRegion || s == ScopeProvince || s == ScopeNational
}

func isDigits(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789") == ""
}

// isCode reports whether s is a non-empty code of ASCII letters, digits, '-', '_' and '.'.
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// dayOf returns the calendar date of t (in t's own location) as a sortable integer YYYYMMDD.
func dayOf(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}
