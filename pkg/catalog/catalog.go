package catalog

import (
	"slices"
	"time"
)

// chinaTime is UTC+8: qualification dates are China calendar dates.
var chinaTime = time.FixedZone("CST", 8*3600)

// Catalog is an immutable, indexed snapshot of a Region for hot-path lookups. It is safe for
// concurrent use. Returned pointers point into the snapshot: do not modify what they point to.
type Catalog struct {
	region  Region
	insts   map[string]*Institution // by Code and by RegionCode
	mrn     map[string]*Institution // by MRN system
	items   map[string]*Item
	std     map[[2]string]*Item  // (CodeSystem, StdCode)
	maps    map[[3]string]*Item  // (institution Code, system, code)
	quals   map[[2]string][]qual // (institution Code, item) -> periods, by ValidFrom
	reasons map[int]*Reason
}

type qual struct {
	from, to int // YYYYMMDD, inclusive
	q        *Qualification
}

// NewCatalog builds a snapshot of r. r is deep-copied, so later changes to r do not affect the
// Catalog. NewCatalog does not validate: call r.Validate first. With invalid data (duplicates,
// dangling references) lookups follow the last record or simply miss.
func NewCatalog(r *Region) *Catalog {
	c := &Catalog{
		region: Region{
			Name:           r.Name,
			Districts:      slices.Clone(r.Districts),
			Communities:    slices.Clone(r.Communities),
			Institutions:   slices.Clone(r.Institutions),
			Items:          slices.Clone(r.Items),
			CodeMaps:       slices.Clone(r.CodeMaps),
			Qualifications: slices.Clone(r.Qualifications),
			Reasons:        slices.Clone(r.Reasons),
		},
		insts:   make(map[string]*Institution, 2*len(r.Institutions)),
		items:   make(map[string]*Item, len(r.Items)),
		std:     make(map[[2]string]*Item, len(r.Items)),
		maps:    make(map[[3]string]*Item, len(r.CodeMaps)),
		quals:   make(map[[2]string][]qual, len(r.Qualifications)),
		reasons: make(map[int]*Reason, len(r.Reasons)),
	}
	rg := &c.region
	c.mrn = map[string]*Institution{}
	for i := range rg.Institutions {
		in := &rg.Institutions[i]
		in.MRNSystems = slices.Clone(in.MRNSystems)
		if in.RegionCode != "" {
			c.insts[in.RegionCode] = in
		}
		for _, s := range in.MRNSystems {
			c.mrn[s] = in
		}
	}
	for i := range rg.Institutions { // codes win over colliding aliases
		c.insts[rg.Institutions[i].Code] = &rg.Institutions[i]
	}
	for i := range rg.Items {
		it := &rg.Items[i]
		c.items[it.Code] = it
		if it.CodeSystem != "" || it.StdCode != "" {
			c.std[[2]string{it.CodeSystem, it.StdCode}] = it
		}
	}
	for _, m := range rg.CodeMaps {
		if it := c.items[m.Item]; it != nil {
			c.maps[[3]string{m.Institution, m.System, m.Code}] = it
		}
	}
	for i := range rg.Qualifications {
		q := &rg.Qualifications[i]
		k := [2]string{q.Institution, q.Item}
		c.quals[k] = append(c.quals[k], qual{from: dayOf(q.ValidFrom), to: dayOf(q.ValidTo), q: q})
	}
	for k, qs := range c.quals {
		slices.SortStableFunc(qs, func(a, b qual) int { return a.from - b.from })
		c.quals[k] = qs
	}
	for i := range rg.Reasons {
		c.reasons[rg.Reasons[i].Code] = &rg.Reasons[i]
	}
	return c
}

// Region returns the snapshot's data, for listing. Do not modify it.
func (c *Catalog) Region() *Region { return &c.region }

// Institution finds an institution by its code (USCC) or its region code.
func (c *Catalog) Institution(code string) (*Institution, bool) {
	in, ok := c.insts[code]
	return in, ok
}

// MRNSystem finds the institution whose patient numbers (MRN) use identifier system
// (Institution.MRNSystems).
func (c *Catalog) MRNSystem(system string) (*Institution, bool) {
	in, ok := c.mrn[system]
	return in, ok
}

// Item finds a catalogue item by its catalogue code.
func (c *Catalog) Item(code string) (*Item, bool) {
	it, ok := c.items[code]
	return it, ok
}

// MapCode turns the code an institution sent into a catalogue item: first the institution's own
// code map for (system, code), then a catalogue item whose standard (CodeSystem, StdCode) is
// (system, code), from whichever institution. institution may be the USCC or the region code.
// Unmapped codes report false.
func (c *Catalog) MapCode(institution, system, code string) (*Item, bool) {
	if in, ok := c.insts[institution]; ok {
		if it, ok := c.maps[[3]string{in.Code, system, code}]; ok {
			return it, true
		}
	}
	if system == "" {
		return nil, false // a bare code is only meaningful in the sender's own map
	}
	it, ok := c.std[[2]string{system, code}]
	return it, ok
}

// Qualified reports whether institution (USCC or region code) held a qualification (HR mark) for
// item on the China (UTC+8) calendar date of at, and returns it. When several periods cover the
// date, the widest scope wins, then the latest valid_from.
func (c *Catalog) Qualified(institution, item string, at time.Time) (*Qualification, bool) {
	in, ok := c.insts[institution]
	if !ok {
		return nil, false
	}
	day := dayOf(at.In(chinaTime))
	var best *Qualification
	for _, q := range c.quals[[2]string{in.Code, item}] {
		if q.from > day {
			break
		}
		if day <= q.to && (best == nil || scopeRank(q.q.Scope) >= scopeRank(best.Scope)) {
			best = q.q
		}
	}
	return best, best != nil
}

func scopeRank(s string) int {
	switch s {
	case ScopeNational:
		return 3
	case ScopeProvince:
		return 2
	case ScopeRegion:
		return 1
	}
	return 0
}

// SameCommunity reports whether institutions a and b (USCC or region codes) are both known and
// members of the same medical community.
func (c *Catalog) SameCommunity(a, b string) bool {
	ia, ok1 := c.insts[a]
	ib, ok2 := c.insts[b]
	return ok1 && ok2 && ia.Community != "" && ia.Community == ib.Community
}

// Reason finds a decline reason by its code.
func (c *Catalog) Reason(code int) (*Reason, bool) {
	r, ok := c.reasons[code]
	return r, ok
}
