package fhir

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	ispb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/imaging_study_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ptpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	sppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/specimen_go_proto"
)

// Message is a decoded, validated message value.
type Message struct {
	RootType string                   // "Bundle" or "DiagnosticReport"
	Root     *bcrpb.ContainedResource // the decoded root resource
	Reports  []*ReportView            // in document order, DiagnosticReports found anywhere (nested Bundles too)
}

// ReportView is one DiagnosticReport of a message with the resources it
// references resolved inside the message. The protos are the message's own:
// a caller that changes them changes what Canonical of them returns.
type ReportView struct {
	Path    string // FHIR path of the report, e.g. "Bundle.entry[2].resource" or "DiagnosticReport"
	FullURL string // the report's Bundle.entry.fullUrl ("" for a root report)
	Raw     []byte // the report's own JSON as received (contained resources included)
	Report  *drpb.DiagnosticReport
	// Subject is the resolved subject (nil if not a Patient, display-only, or not in the message).
	Subject *ptpb.Patient
	// Performers are the performer references that resolve to an
	// Organization, directly or through PractitionerRole.organization
	// (resultsInterpreter is not included), without duplicates.
	Performers []*orgpb.Organization
	// PerformerRefs are all performer references as given.
	PerformerRefs []*dtpb.Reference
	Results       []*ResolvedObservation // result[] refs that resolve to an Observation, in order
	Imaging       []*ResolvedImagingStudy
	Specimens     []*sppb.Specimen
	BasedOn       []*srpb.ServiceRequest
	// Unresolved lists the literal references (subject, performer, result,
	// imagingStudy, specimen, basedOn, and PractitionerRole.organization of
	// a performer) that did not resolve in the message, or resolved to an
	// unexpected type. Display/identifier-only references are not listed.
	Unresolved []UnresolvedRef
}

// ResolvedObservation is a result Observation found in the message.
type ResolvedObservation struct {
	Path string
	Raw  []byte // its JSON as received
	Obs  *obspb.Observation
}

// ResolvedImagingStudy is an ImagingStudy found in the message.
type ResolvedImagingStudy struct {
	Path  string
	Raw   []byte // its JSON as received
	Study *ispb.ImagingStudy
}

// UnresolvedRef is a reference that could not be resolved in the message.
type UnresolvedRef struct {
	Path      string // FHIR path of the Reference element, e.g. "Bundle.entry[0].resource.result[2]"
	Reference string // Reference.reference as given
	Reason    string // why it did not resolve
}

// Decoder decodes messages with github.com/google/fhir/go's validating R4
// unmarshaller. Times given without a zone are read in the Decoder's zone.
// A Decoder is safe for concurrent use.
type Decoder struct {
	u        *jsonformat.Unmarshaller
	loc      *time.Location
	fast     atomic.Int64
	fallback atomic.Int64
}

// DecodeStats counts how the messages a Decoder accepted or refused were
// decoded: by the one-pass decoder, or by the library after the one-pass
// decoder left them to it (a problem found, or a construct it does not read).
type DecodeStats struct{ Fast, Fallback int64 }

// Stats returns the Decoder's counts since it was made.
func (d *Decoder) Stats() DecodeStats {
	return DecodeStats{Fast: d.fast.Load(), Fallback: d.fallback.Load()}
}

// NewDecoder returns a Decoder that reads times sent without a zone in loc
// (UTC if nil).
func NewDecoder(loc *time.Location) *Decoder {
	if loc == nil {
		loc = time.UTC
	}
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		panic(fmt.Sprintf("fhir: R4 unmarshaller: %v", err)) // fixed arguments: cannot fail
	}
	if _, err := time.LoadLocation(loc.String()); err != nil || loc.String() == "Local" {
		// The library records the zone's name on partial dates and must read it back when
		// it marshals them: a zone it cannot load by name (time.FixedZone("CST", …)) is
		// replaced by the same fixed offset, named as FHIR writes offsets.
		_, off := time.Now().In(loc).Zone()
		loc = time.FixedZone(offsetName(off), off)
	}
	u.TimeZone = loc
	u.MaxNestingDepth = maxDepth
	zones.LoadOrStore(loc.String(), loc) // the name the library records for such times
	tables()                             // built once, before the first message
	return &Decoder{u: u, loc: loc}
}

func offsetName(sec int) string {
	sign := byte('+')
	if sec < 0 {
		sign, sec = '-', -sec
	}
	return fmt.Sprintf("%c%02d:%02d", sign, sec/3600, sec/60%60)
}

var defaultDecoder = sync.OnceValue(func() *Decoder { return NewDecoder(time.UTC) })

// ParseMessage decodes data with a Decoder whose zone is UTC.
func ParseMessage(data []byte) (*Message, error) { return defaultDecoder().ParseMessage(data) }

// collector gathers the library's validation errors.
type collector struct{ issues []libIssue }

func (c *collector) ReportValidationError(path string, err error) error {
	for _, is := range libIssues(err) {
		if is.path == "" {
			is.path = path
		}
		c.issues = append(c.issues, is)
	}
	return nil
}

func (c *collector) ReportValidationWarning(string, error) error { return nil }

// ParseMessage decodes a message value (a Bundle, possibly with nested
// Bundles, or a DiagnosticReport), validates it as R4, and resolves the
// references of each DiagnosticReport inside the message. The returned error
// is always an *Error: the first problem found, with its FHIR path.
func (d *Decoder) ParseMessage(data []byte) (*Message, error) {
	rt, spans, perr := preflight(data, true)
	if perr != nil {
		return nil, perr
	}
	switch {
	case rt == "":
		return nil, &Error{Code: CodeResourceType, Msg: "missing resourceType: the root must be a Bundle or a DiagnosticReport"}
	case rt != "Bundle" && rt != "DiagnosticReport":
		if !isResourceType(rt) {
			return nil, &Error{Code: CodeResourceType, Msg: "unknown resourceType " + quoteName(rt) + ": the root must be a Bundle or a DiagnosticReport"}
		}
		return nil, &Error{Code: CodeResourceType, Msg: "root must be a Bundle or DiagnosticReport, got " + rt}
	}
	root, err := d.unmarshal(data)
	if err != nil {
		return nil, err
	}
	m := &Message{RootType: rt, Root: root}
	r := &resolver{spans: spans, root: rt}
	switch x := root.GetOneofResource().(type) {
	case *bcrpb.ContainedResource_Bundle:
		r.walk(x.Bundle, "Bundle", nil)
	case *bcrpb.ContainedResource_DiagnosticReport:
		e := &entry{res: x.DiagnosticReport, typ: "DiagnosticReport", path: "DiagnosticReport"}
		if err := r.add(e); err != nil {
			return nil, err
		}
		r.reports = append(r.reports, e)
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, e := range r.reports {
		m.Reports = append(m.Reports, r.view(e))
	}
	if len(m.Reports) == 0 {
		return nil, &Error{Code: CodeNoReport, Path: rt, Msg: "the message holds no DiagnosticReport"}
	}
	return m, nil
}

// Decode decodes and validates one resource of any R4 type with a Decoder
// whose zone is UTC.
func Decode(data []byte) (proto.Message, error) { return defaultDecoder().Decode(data) }

// Decode decodes and validates one resource of any R4 type (a stored
// resource, one line of an NDJSON export). Errors are *Error, as for
// ParseMessage.
func (d *Decoder) Decode(data []byte) (proto.Message, error) {
	rt, _, perr := preflight(data, false)
	if perr != nil {
		return nil, perr
	}
	if rt == "" {
		return nil, &Error{Code: CodeResourceType, Msg: "missing resourceType"}
	}
	cr, err := d.unmarshal(data)
	if err != nil {
		return nil, err
	}
	return Resource(cr), nil
}

// unmarshal decodes preflighted data: in one pass when the fast decoder
// accepts it, else with the library, whose verdict and error stand.
func (d *Decoder) unmarshal(data []byte) (*bcrpb.ContainedResource, *Error) {
	if cr, ok := fastDecode(data, d.loc); ok {
		d.fast.Add(1)
		return cr, nil
	}
	d.fallback.Add(1)
	return d.slow(data)
}

// slow decodes with the library and applies the hub's one rule beyond it (emptyCode).
func (d *Decoder) slow(data []byte) (*bcrpb.ContainedResource, *Error) {
	cr, err := d.library(data)
	if err != nil {
		return nil, err
	}
	if e := emptyCode(cr.ProtoReflect(), ""); e != nil {
		return nil, e
	}
	return cr, nil
}

// library runs the library's validating decoder on preflighted data.
func (d *Decoder) library(data []byte) (*bcrpb.ContainedResource, *Error) {
	c := &collector{}
	res, err := d.u.UnmarshalWithErrorReporter(data, c)
	if err != nil {
		return nil, firstError(libIssues(err))
	}
	if len(c.issues) > 0 {
		return nil, firstError(c.issues)
	}
	cr, ok := res.(*bcrpb.ContainedResource)
	if !ok || Resource(cr) == nil {
		return nil, &Error{Code: CodeResourceType, Msg: fmt.Sprintf("decoder returned %T", res)}
	}
	return cr, nil
}

// firstError picks the issue to report: the first in document order is not
// known (the library walks JSON objects as maps), so the most specific code
// wins — an unknown resource type, then an unknown element, then a missing
// element, then the rest — and among equals the shortest path, then the
// lexically first, so that the same message always gets the same error.
func firstError(issues []libIssue) *Error {
	rank := map[string]int{CodeResourceType: 0, CodeUnknownElement: 1, CodeRequired: 2, CodeInvalid: 3}
	var best *Error
	for _, is := range issues {
		e := fromIssue(is)
		if best == nil || rank[e.Code] < rank[best.Code] ||
			rank[e.Code] == rank[best.Code] && (len(e.Path) < len(best.Path) || len(e.Path) == len(best.Path) && e.Path < best.Path) {
			best = e
		}
	}
	return best
}

// Resource returns the resource a ContainedResource holds, or nil.
func Resource(cr *bcrpb.ContainedResource) proto.Message {
	if cr == nil {
		return nil
	}
	m := cr.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("oneof_resource")
	if od == nil {
		return nil
	}
	f := m.WhichOneof(od)
	if f == nil {
		return nil
	}
	return m.Get(f).Message().Interface()
}

// TypeName returns the FHIR resource type of a resource proto ("Observation").
func TypeName(res proto.Message) string {
	if res == nil {
		return ""
	}
	return string(res.ProtoReflect().Descriptor().Name())
}

// isResourceType reports whether name is an R4 resource type.
func isResourceType(name string) bool {
	_, ok := resourceTypes()[name]
	return ok
}

var resourceTypes = sync.OnceValue(func() map[string]struct{} {
	out := map[string]struct{}{}
	od := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs().ByName("oneof_resource")
	fs := od.Fields()
	for i := 0; i < fs.Len(); i++ {
		if md := fs.Get(i).Message(); md != nil {
			out[string(md.Name())] = struct{}{}
		}
	}
	return out
})

// fieldMessages returns the messages of a resource's message-typed field,
// given by its proto name: one for a singular field, each for a repeated one,
// none when it is absent or not a message field.
func fieldMessages(res proto.Message, name protoreflect.Name) []proto.Message {
	if res == nil {
		return nil
	}
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Message() == nil || !m.Has(fd) {
		return nil
	}
	v := m.Get(fd)
	if !fd.IsList() {
		return []proto.Message{v.Message().Interface()}
	}
	l := v.List()
	out := make([]proto.Message, l.Len())
	for i := range out {
		out[i] = l.Get(i).Message().Interface()
	}
	return out
}

// emptyCode finds, below m (a ContainedResource or an element; path is the hub's FHIR path of
// m), a code bound to a value set that is present but empty ("status": ""). The library decodes
// it as the enum's zero value and its marshaller then leaves the element out, so that the
// stored resource would not say what was sent; R4 codes have at least one character. The hub
// refuses it (CodeInvalid). The one-pass decoder never accepts such a code, so only messages the
// library decoded are walked.
func emptyCode(m protoreflect.Message, path string) *Error {
	ts := tables()
	var found *Error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		md := fd.Message()
		if md == nil {
			return true
		}
		p := path
		switch {
		case fd.ContainingOneof() != nil && md.Name() != "" && ts.root.resources[string(md.Name())].fd == fd:
			// the resource in a ContainedResource: the hub's path has no type step
			if p == "" {
				p = string(md.Name())
			}
		default:
			p = joinPath(path, fd.JSONName())
		}
		check := func(x protoreflect.Message, p string) bool {
			if mi := ts.infos[x.Descriptor().FullName()]; mi != nil && mi.prim == primEnumCode {
				if x.Get(mi.value).Enum() == 0 && !primitiveEmptyExt(x, mi) {
					found = &Error{Code: CodeInvalid, Path: p, Msg: "empty code: a code R4 binds to a value set has at least one character"}
					return false
				}
				return true
			}
			if a, ok := x.Interface().(*anypb.Any); ok {
				cr := &bcrpb.ContainedResource{}
				if a.UnmarshalTo(cr) == nil {
					found = emptyCode(cr.ProtoReflect(), p)
				}
				return found == nil
			}
			found = emptyCode(x, p)
			return found == nil
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if !check(l.Get(i).Message(), p+"["+strconv.Itoa(i)+"]") {
					return false
				}
			}
			return true
		}
		return check(v.Message(), p)
	})
	return found
}

// primitiveEmptyExt reports whether a code holds extensions only (its "_name" without a value),
// which the library writes back.
func primitiveEmptyExt(p protoreflect.Message, mi *msgInfo) bool {
	return mi.extField != nil && p.Get(mi.extField).List().Len() > 0
}
