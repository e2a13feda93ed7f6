package fhir

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	ispb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/imaging_study_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ptpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	sppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/specimen_go_proto"
)

// entry is a resource of the message with where it was found.
type entry struct {
	res       proto.Message
	typ       string
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
	err     *Error
	spans   map[string][]byte // bytes of each resource as received, by path below the root
	root    string            // the root's type: the first step of every path
}

// raw returns the bytes of the resource at path as received.
func (r *resolver) raw(path string) []byte {
	if path == r.root {
		return r.spans[""]
	}
	return r.spans[strings.TrimPrefix(path, r.root+".")]
}

func (r *resolver) walk(b *bcrpb.Bundle, path string, parent *scope) {
	sc := &scope{parent: parent}
	for i, be := range b.GetEntry() {
		res := Resource(be.GetResource())
		if res == nil {
			continue
		}
		e := &entry{res: res, typ: TypeName(res), path: path + ".entry[" + strconv.Itoa(i) + "].resource", fullURL: be.GetFullUrl().GetValue(), scope: sc}
		sc.entries = append(sc.entries, e)
		if e.fullURL != "" {
			if sc.byURL == nil {
				sc.byURL = make(map[string][]*entry, len(b.GetEntry()))
			}
			sc.byURL[e.fullURL] = append(sc.byURL[e.fullURL], e)
		}
		if err := r.add(e); err != nil && r.err == nil {
			r.err = err
		}
		switch x := res.(type) {
		case *drpb.DiagnosticReport:
			r.reports = append(r.reports, e)
		case *bcrpb.Bundle:
			r.walk(x, e.path, sc)
		}
	}
}

// add records e and the resources it contains.
func (r *resolver) add(e *entry) *Error {
	r.all = append(r.all, e)
	for j, c := range Contained(e.res) {
		if c == nil {
			return &Error{Code: CodeInvalid, Path: e.path + ".contained[" + strconv.Itoa(j) + "]", Msg: "contained resource cannot be read back"}
		}
		r.all = append(r.all, &entry{res: c, typ: TypeName(c), path: e.path + ".contained[" + strconv.Itoa(j) + "]", fullURL: e.fullURL, scope: e.scope, container: e})
	}
	return nil
}

// Contained returns the contained resources of res, in order (nil for one
// that cannot be unpacked, which the library's decoder never produces).
func Contained(res proto.Message) []proto.Message {
	ms := fieldMessages(res, "contained")
	if len(ms) == 0 {
		return nil
	}
	out := make([]proto.Message, len(ms))
	for i, m := range ms {
		cr := &bcrpb.ContainedResource{}
		if a, ok := m.(interface{ UnmarshalTo(proto.Message) error }); ok && a.UnmarshalTo(cr) == nil {
			out[i] = Resource(cr)
		}
	}
	return out
}

// ID returns a resource's logical id ("" if none).
func ID(res proto.Message) string {
	for _, m := range fieldMessages(res, "id") {
		if x, ok := m.(*dtpb.Id); ok {
			return x.GetValue()
		}
	}
	return ""
}

// Identifiers returns a resource's identifier elements (nil when it has none
// or its type has no identifier).
func Identifiers(res proto.Message) []*dtpb.Identifier {
	var out []*dtpb.Identifier
	for _, m := range fieldMessages(res, "identifier") {
		if id, ok := m.(*dtpb.Identifier); ok {
			out = append(out, id)
		}
	}
	return out
}

func versionID(res proto.Message) string {
	for _, m := range fieldMessages(res, "meta") {
		if x, ok := m.(*dtpb.Meta); ok {
			return x.GetVersionId().GetValue()
		}
	}
	return ""
}

// RefString returns Reference.reference as it is written in FHIR JSON
// ("Patient/1", "urn:uuid:…", "#p1", "Patient?identifier=…"), or "" for a
// display- or identifier-only reference.
func RefString(ref *dtpb.Reference) string {
	switch x := ref.GetReference().(type) {
	case nil:
		return ""
	case *dtpb.Reference_Uri:
		return x.Uri.GetValue()
	case *dtpb.Reference_Fragment:
		return "#" + x.Fragment.GetValue()
	}
	c := proto.Clone(ref).(*dtpb.Reference)
	if err := jsonformat.DenormalizeReference(c); err != nil {
		return ""
	}
	return c.GetUri().GetValue()
}

// validID reports whether s is a FHIR id ([A-Za-z0-9\-\.]{1,64}).
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// resolve styles: "#id" (contained), "Type?identifier=sys|val" (conditional),
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
			if e.container == c && ID(e.res) == id {
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
	if !ok || !isResourceType(typ) || !validID(id) {
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
			if e.typ == typ && ID(e.res) == id && versionMatches(e, ver) {
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
	v := versionID(e.res)
	return v == "" || v == ver
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
	if i < 0 || !validID(u[i+1:]) {
		return ""
	}
	j := strings.LastIndexByte(u[:i], '/')
	if j < 0 || !isResourceType(u[j+1:i]) {
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
	if !isResourceType(typ) {
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
		if e.typ != typ {
			continue
		}
		for _, id := range Identifiers(e.res) {
			if (!hasSys || id.GetSystem().GetValue() == sys) && (value == "" || id.GetValue().GetValue() == value) {
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
		return nil, "no " + typ + " in the message matches the identifier"
	}
	return nil, "ambiguous: " + strconv.Itoa(n) + " resources match the identifier"
}

func (r *resolver) view(e *entry) *ReportView {
	dr := e.res.(*drpb.DiagnosticReport)
	v := &ReportView{Path: e.path, FullURL: e.fullURL, Raw: r.raw(e.path), Report: dr, PerformerRefs: dr.GetPerformer()}
	// one resolves a reference element; it returns nil for display-only
	// references and records unresolved literal ones.
	one := func(ref *dtpb.Reference, path string, from *entry, want string) *entry {
		s := RefString(ref)
		if s == "" {
			return nil
		}
		t, why := r.resolve(s, from)
		if t == nil {
			v.Unresolved = append(v.Unresolved, UnresolvedRef{Path: path, Reference: s, Reason: why})
			return nil
		}
		if want != "" && t.typ != want {
			v.Unresolved = append(v.Unresolved, UnresolvedRef{Path: path, Reference: s, Reason: "resolves to a " + t.typ + ", not a " + want})
			return nil
		}
		return t
	}
	if s := RefString(dr.GetSubject()); s != "" {
		if t, why := r.resolve(s, e); t == nil {
			v.Unresolved = append(v.Unresolved, UnresolvedRef{Path: e.path + ".subject", Reference: s, Reason: why})
		} else if p, ok := t.res.(*ptpb.Patient); ok {
			v.Subject = p
		}
	}
	addOrg := func(o *orgpb.Organization) {
		for _, x := range v.Performers {
			if x == o {
				return
			}
		}
		v.Performers = append(v.Performers, o)
	}
	for i, ref := range dr.GetPerformer() {
		t := one(ref, e.path+".performer["+strconv.Itoa(i)+"]", e, "")
		if t == nil {
			continue
		}
		switch x := t.res.(type) {
		case *orgpb.Organization:
			addOrg(x)
		case *prpb.PractitionerRole:
			if o := one(x.GetOrganization(), t.path+".organization", t, "Organization"); o != nil {
				addOrg(o.res.(*orgpb.Organization))
			}
		}
	}
	for i, ref := range dr.GetResult() {
		if t := one(ref, e.path+".result["+strconv.Itoa(i)+"]", e, "Observation"); t != nil {
			v.Results = append(v.Results, &ResolvedObservation{Path: t.path, Raw: r.raw(t.path), Obs: t.res.(*obspb.Observation)})
		}
	}
	for i, ref := range dr.GetImagingStudy() {
		if t := one(ref, e.path+".imagingStudy["+strconv.Itoa(i)+"]", e, "ImagingStudy"); t != nil {
			v.Imaging = append(v.Imaging, &ResolvedImagingStudy{Path: t.path, Raw: r.raw(t.path), Study: t.res.(*ispb.ImagingStudy)})
		}
	}
	for i, ref := range dr.GetSpecimen() {
		if t := one(ref, e.path+".specimen["+strconv.Itoa(i)+"]", e, "Specimen"); t != nil {
			v.Specimens = append(v.Specimens, t.res.(*sppb.Specimen))
		}
	}
	for i, ref := range dr.GetBasedOn() {
		if t := one(ref, e.path+".basedOn["+strconv.Itoa(i)+"]", e, ""); t != nil {
			if sr, ok := t.res.(*srpb.ServiceRequest); ok {
				v.BasedOn = append(v.BasedOn, sr)
			}
		}
	}
	return v
}
