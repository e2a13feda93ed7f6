package fhir

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Message is a decoded, validated message value.
type Message struct {
	RootType string        // "Bundle" or "DiagnosticReport"
	Reports  []*ReportView // in document order, DiagnosticReports found anywhere (nested bundles too)
	// Root is the decoded root resource (*Bundle or *DiagnosticReport).
	Root Resource
}

// ReportView is one DiagnosticReport of a message with the resources it
// references resolved inside the message.
type ReportView struct {
	Path    string // FHIR path of the report, e.g. "Bundle.entry[2].resource" or "DiagnosticReport"
	FullURL string // the report's Bundle.entry.fullUrl ("" for a root report)
	Raw     []byte // the report's own JSON bytes as received (contained resources included)
	Report  *DiagnosticReport
	// Subject is the resolved subject (nil if not a Patient, display-only, or not in the message).
	Subject *Patient
	// Performers are the performer references that resolve to an
	// Organization, directly or through PractitionerRole.organization
	// (resultsInterpreter is not included), without duplicates.
	Performers []*Organization
	// PerformerRefs are all performer references as given.
	PerformerRefs []Reference
	Results       []*ResolvedObservation // result[] refs that resolve to an Observation, in order
	Imaging       []*ResolvedImagingStudy
	Specimens     []*Specimen
	BasedOn       []*ServiceRequest
	// Unresolved lists the literal references (subject, performer, result,
	// imagingStudy, specimen, basedOn, and PractitionerRole.organization of
	// a performer) that did not resolve in the message, or resolved to an
	// unexpected type. Display/identifier-only references are not listed.
	Unresolved []UnresolvedRef
}

// ResolvedObservation is a result Observation found in the message.
type ResolvedObservation struct {
	Path string
	Raw  []byte
	Obs  *Observation
}

// ResolvedImagingStudy is an ImagingStudy found in the message.
type ResolvedImagingStudy struct {
	Path  string
	Raw   []byte
	Study *ImagingStudy
}

// UnresolvedRef is a reference that could not be resolved in the message.
type UnresolvedRef struct {
	Path      string // FHIR path of the Reference element, e.g. "Bundle.entry[0].resource.result[2]"
	Reference string // Reference.reference as given
	Reason    string // why it did not resolve
}

var decoderPool = sync.Pool{New: func() any { return &decoder{segs: make([]seg, 0, 16)} }}

// ParseMessage decodes a message value (a Bundle, possibly with nested
// Bundles, or a DiagnosticReport), validates every typed resource in it,
// and resolves the references of each DiagnosticReport inside the message.
// The returned error is always an *Error. The Message aliases data: do not
// modify data while the Message is in use.
func ParseMessage(data []byte) (*Message, error) {
	d := decoderPool.Get().(*decoder)
	*d = decoder{data: data, segs: d.segs[:0], buf: d.buf[:0]}
	var root Resource
	var rt string
	err := d.run(func() {
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != '{' {
			if d.pos < len(d.data) {
				d.skip() // report broken JSON as such
				d.ws()
			}
			d.fail(CodeNotJSON, "not a JSON object")
		}
		fast := false
		if rescanFast {
			rt, fast = d.typeFast()
		}
		if !fast {
			rt, _ = d.scanTop(false)
		}
		switch rt {
		case "Bundle", "DiagnosticReport":
			d.root = rt
			if fast {
				// Decode with the type already found; on failure the validating look-ahead runs
				// as the root's did, with no root name in paths (see lookahead.go).
				root = d.guarded("", func() Resource { return d.resourceOf(rt) })
			} else {
				root = d.resourceVal()
			}
		default:
			if fast {
				d.scanTop(false) // the validating look-ahead reports first, as it always did
			}
			d.skip()
			d.ws()
			if d.pos != len(d.data) {
				d.syntax("trailing data after the root object")
			}
			switch {
			case rt == "" || rt == "\x00":
				d.fail(CodeResourceType, "missing resourceType: root must be a Bundle or DiagnosticReport")
			case !r4ResourceTypes[rt]:
				d.fail(CodeResourceType, "unknown resourceType \""+rt+"\": root must be a Bundle or DiagnosticReport")
			}
			d.fail(CodeResourceType, "root must be a Bundle or DiagnosticReport, got "+rt)
		}
		d.ws()
		if d.pos != len(d.data) {
			d.syntax("trailing data after the root object")
		}
	})
	d.data, d.key, d.whole = nil, nil, ""
	decoderPool.Put(d)
	if err != nil {
		return nil, err
	}
	m := &Message{RootType: rt, Root: root}
	r := &resolver{}
	switch x := root.(type) {
	case *Bundle:
		r.walk(x, "Bundle", "", nil)
	case *DiagnosticReport:
		e := &entry{res: x, path: "DiagnosticReport"}
		r.addContained(e)
		r.reports = append(r.reports, e)
	}
	for _, e := range r.reports {
		m.Reports = append(m.Reports, r.view(e))
	}
	if len(m.Reports) == 0 {
		return nil, &Error{Code: CodeNoReport, Path: rt, Msg: "the message holds no DiagnosticReport"}
	}
	return m, nil
}

// entry is a resource of the message with where it was found.
type entry struct {
	res       Resource
	path      string
	fullURL   string
	scope     *scope // the bundle holding it (nil for a root resource)
	container *entry // for contained resources
}

type scope struct {
	parent  *scope
	entries []*entry
	byURL   map[string][]*entry
}

type resolver struct {
	all     []*entry // every resource of the message, contained ones included
	reports []*entry
}

func (r *resolver) walk(b *Bundle, path, _ string, parent *scope) {
	sc := &scope{parent: parent}
	for i := range b.Entry {
		be := &b.Entry[i]
		if be.Resource == nil {
			continue
		}
		e := &entry{res: be.Resource, path: path + ".entry[" + strconv.Itoa(i) + "].resource", fullURL: be.FullURL, scope: sc}
		sc.entries = append(sc.entries, e)
		if e.fullURL != "" {
			if sc.byURL == nil {
				sc.byURL = make(map[string][]*entry, len(b.Entry))
			}
			sc.byURL[e.fullURL] = append(sc.byURL[e.fullURL], e)
		}
		r.addContained(e)
		switch x := be.Resource.(type) {
		case *DiagnosticReport:
			r.reports = append(r.reports, e)
		case *Bundle:
			r.walk(x, e.path, e.fullURL, sc)
		}
	}
}

func (r *resolver) addContained(e *entry) {
	r.all = append(r.all, e)
	for j, c := range containedOf(e.res) {
		r.all = append(r.all, &entry{res: c, path: e.path + ".contained[" + strconv.Itoa(j) + "]", fullURL: e.fullURL, scope: e.scope, container: e})
	}
}

// Resolve styles: "#id" (contained), "Type?identifier=sys|val" (conditional),
// absolute URLs and urn:uuid/urn:oid (fullUrl match), and "Type/id[/_history/v]"
// (fullUrl base + Type/id per the Bundle resolution rules, then Type+id).
func (r *resolver) resolve(ref string, from *entry) (*entry, string) {
	switch {
	case strings.HasPrefix(ref, "#"):
		c := from
		if c.container != nil {
			c = c.container
		}
		id := ref[1:]
		if id == "" {
			return c, ""
		}
		for _, e := range r.all {
			if e.container == c && resourceID(e.res) == id {
				return e, ""
			}
		}
		return nil, "no contained resource with id " + id
	case strings.Contains(ref, "?"):
		return r.conditional(ref)
	case strings.HasPrefix(ref, "urn:") || strings.Contains(ref, "://"):
		u, ver := splitHistory(ref)
		if e, why := lookupURL(from.scope, u, ver); e != nil || why != "" {
			return e, why
		}
		return nil, "no entry with fullUrl " + u + " in the message"
	}
	rel, ver := splitHistory(ref)
	typ, id, ok := strings.Cut(rel, "/")
	if !ok || !r4ResourceTypes[typ] || !ValidID(id) {
		return nil, "not a resolvable reference (want Type/id, an absolute URL, urn:, #id or Type?identifier=)"
	}
	if base := restBase(from.fullURL); base != "" {
		if e, why := lookupURL(from.scope, base+"/"+rel, ver); e != nil || why != "" {
			return e, why
		}
	}
	for sc := from.scope; sc != nil; sc = sc.parent {
		var found *entry
		n := 0
		for _, e := range sc.entries {
			if e.res.ResourceType() == typ && resourceID(e.res) == id && versionMatches(e, ver) {
				found = e
				n++
			}
		}
		if n == 1 {
			return found, ""
		}
		if n > 1 {
			return nil, "ambiguous: " + strconv.Itoa(n) + " resources " + rel + " in the bundle"
		}
	}
	return nil, rel + " is not in the message"
}

// splitHistory splits ".../_history/v" into the unversioned reference and v.
func splitHistory(ref string) (string, string) {
	if i := strings.LastIndex(ref, "/_history/"); i > 0 {
		return ref[:i], ref[i+len("/_history/"):]
	}
	return ref, ""
}

func versionMatches(e *entry, ver string) bool {
	if ver == "" {
		return true
	}
	m := resourceMeta(e.res)
	return m == nil || m.VersionID == "" || m.VersionID == ver
}

// lookupURL finds the entry with fullUrl u, innermost bundle first.
func lookupURL(sc *scope, u, ver string) (*entry, string) {
	for ; sc != nil; sc = sc.parent {
		var found *entry
		n := 0
		for _, e := range sc.byURL[u] {
			if versionMatches(e, ver) {
				found = e
				n++
			}
		}
		if n == 1 {
			return found, ""
		}
		if n > 1 {
			return nil, "ambiguous: " + strconv.Itoa(n) + " entries with fullUrl " + u
		}
	}
	return nil, ""
}

// restBase returns the service base of a RESTful absolute fullUrl
// ("https://example.com/base/DiagnosticReport/101" → "https://example.com/base").
func restBase(fullURL string) string {
	if !strings.HasPrefix(fullURL, "http://") && !strings.HasPrefix(fullURL, "https://") {
		return ""
	}
	u, _ := splitHistory(fullURL)
	i := strings.LastIndexByte(u, '/')
	if i < 0 || !ValidID(u[i+1:]) {
		return ""
	}
	j := strings.LastIndexByte(u[:i], '/')
	if j < 0 || !r4ResourceTypes[u[j+1:i]] {
		return ""
	}
	if j <= len("https://") {
		return ""
	}
	return u[:j]
}

// conditional resolves "Type?identifier=[system|]value" when exactly one
// resource of the message matches.
func (r *resolver) conditional(ref string) (*entry, string) {
	typ, query, _ := strings.Cut(ref, "?")
	if !r4ResourceTypes[typ] {
		return nil, "conditional reference to unknown type " + typ
	}
	param, val, ok := strings.Cut(query, "=")
	if !ok || param != "identifier" || strings.Contains(val, "&") {
		return nil, "conditional reference: only a single identifier= search is resolved"
	}
	if strings.Contains(val, "%") {
		if v, err := url.QueryUnescape(val); err == nil {
			val = v
		}
	}
	sys, value, hasSys := strings.Cut(val, "|")
	if !hasSys {
		value = val
	}
	var found *entry
	n := 0
	for _, e := range r.all {
		if e.res.ResourceType() != typ {
			continue
		}
		for _, id := range resourceIdentifiers(e.res) {
			if (!hasSys || id.System == sys) && (value == "" || id.Value == value) {
				if found != e {
					n++
				}
				found = e
				break
			}
		}
	}
	switch n {
	case 1:
		return found, ""
	case 0:
		return nil, "no " + typ + " in the message matches " + val
	}
	return nil, "ambiguous: " + strconv.Itoa(n) + " resources match " + val
}

func (r *resolver) view(e *entry) *ReportView {
	dr := e.res.(*DiagnosticReport)
	v := &ReportView{Path: e.path, FullURL: e.fullURL, Raw: dr.raw, Report: dr, PerformerRefs: dr.Performer}
	// one resolves a reference element; it returns nil for display-only
	// references and records unresolved literal ones.
	one := func(ref *Reference, path string, from *entry, want string) *entry {
		if ref == nil || ref.Reference == "" {
			return nil
		}
		t, why := r.resolve(ref.Reference, from)
		if t == nil {
			v.Unresolved = append(v.Unresolved, UnresolvedRef{Path: path, Reference: ref.Reference, Reason: why})
			return nil
		}
		if want != "" && t.res.ResourceType() != want {
			v.Unresolved = append(v.Unresolved, UnresolvedRef{Path: path, Reference: ref.Reference,
				Reason: "resolves to a " + t.res.ResourceType() + ", not a " + want})
			return nil
		}
		return t
	}
	if dr.Subject != nil && dr.Subject.Reference != "" {
		if t, why := r.resolve(dr.Subject.Reference, e); t == nil {
			v.Unresolved = append(v.Unresolved, UnresolvedRef{Path: e.path + ".subject", Reference: dr.Subject.Reference, Reason: why})
		} else if p, ok := t.res.(*Patient); ok {
			v.Subject = p
		}
	}
	addOrg := func(o *Organization) {
		for _, x := range v.Performers {
			if x == o {
				return
			}
		}
		v.Performers = append(v.Performers, o)
	}
	for i := range dr.Performer {
		path := e.path + ".performer[" + strconv.Itoa(i) + "]"
		t := one(&dr.Performer[i], path, e, "")
		if t == nil {
			continue
		}
		switch x := t.res.(type) {
		case *Organization:
			addOrg(x)
		case *PractitionerRole:
			if o := one(x.Organization, t.path+".organization", t, "Organization"); o != nil {
				addOrg(o.res.(*Organization))
			}
		}
	}
	for i := range dr.Result {
		if t := one(&dr.Result[i], e.path+".result["+strconv.Itoa(i)+"]", e, "Observation"); t != nil {
			v.Results = append(v.Results, &ResolvedObservation{Path: t.path, Raw: rawOf(t.res), Obs: t.res.(*Observation)})
		}
	}
	for i := range dr.ImagingStudy {
		if t := one(&dr.ImagingStudy[i], e.path+".imagingStudy["+strconv.Itoa(i)+"]", e, "ImagingStudy"); t != nil {
			v.Imaging = append(v.Imaging, &ResolvedImagingStudy{Path: t.path, Raw: rawOf(t.res), Study: t.res.(*ImagingStudy)})
		}
	}
	for i := range dr.Specimen {
		if t := one(&dr.Specimen[i], e.path+".specimen["+strconv.Itoa(i)+"]", e, "Specimen"); t != nil {
			v.Specimens = append(v.Specimens, t.res.(*Specimen))
		}
	}
	for i := range dr.BasedOn {
		if t := one(&dr.BasedOn[i], e.path+".basedOn["+strconv.Itoa(i)+"]", e, ""); t != nil {
			if sr, ok := t.res.(*ServiceRequest); ok {
				v.BasedOn = append(v.BasedOn, sr)
			}
		}
	}
	return v
}
