package fhir

import (
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	annotations "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	ispb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/imaging_study_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ptpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

// Elements describes the top-level elements of one R4 resource type: their names, which are
// mandatory (minimum cardinality 1) and which are summary elements (isSummary). Names and
// cardinalities come from the library's R4 protos; the protos do not carry isSummary, so the
// summary elements are the R4 base definitions' (StructureDefinition isSummary), kept in a table
// for the types the hub serves.
type Elements struct {
	Type      string
	names     map[string]bool   // base names: effective, value, deceased …
	keys      map[string]string // JSON property (choice types spelt out: effectiveDateTime) → base name
	mandatory []string
	summary   map[string]bool
	// nested summary elements of backbone elements that are themselves summary elements
	// (ImagingStudy.series: its instance list is not), base name → child names kept.
	nested map[string]map[string]bool
}

// resourceElements holds the types the hub serves.
var resourceElements = map[string]*Elements{}

// summaryElements are, per type, the top-level elements R4 marks isSummary, beyond the
// Resource elements every type shares (id, meta, implicitRules).
var summaryElements = map[string][]string{
	"DiagnosticReport": {"identifier", "status", "category", "code", "subject", "encounter", "effective", "issued", "performer",
		"resultsInterpreter", "media"},
	"Observation": {"identifier", "basedOn", "partOf", "status", "code", "subject", "focus", "encounter", "effective", "issued",
		"performer", "value", "hasMember", "derivedFrom", "component"},
	"ImagingStudy": {"identifier", "status", "modality", "subject", "encounter", "started", "basedOn", "referrer", "interpreter",
		"endpoint", "numberOfSeries", "numberOfInstances", "procedureReference", "procedureCode", "location", "reasonCode",
		"reasonReference", "description", "series"},
	"Patient":      {"identifier", "active", "name", "telecom", "gender", "birthDate", "deceased", "address", "managingOrganization", "link"},
	"Organization": {"identifier", "active", "type", "name", "partOf"},
}

// nestedSummary lists, for summary backbone elements some of whose children are not summary
// elements, the children that are (modifierExtension, a modifier, always is).
var nestedSummary = map[string]map[string][]string{
	"DiagnosticReport": {"media": {"link"}},
	"Observation":      {"component": {"code", "value"}},
	"ImagingStudy": {"series": {"uid", "number", "modality", "description", "numberOfInstances", "endpoint", "bodySite",
		"laterality", "specimen", "started", "performer"}},
}

func init() {
	for _, m := range []proto.Message{&drpb.DiagnosticReport{}, &obspb.Observation{}, &ispb.ImagingStudy{}, &ptpb.Patient{}, &orgpb.Organization{}} {
		e := elementsOf(m.ProtoReflect().Descriptor())
		e.summary = map[string]bool{"id": true, "meta": true, "implicitRules": true}
		for _, n := range summaryElements[e.Type] {
			if !e.names[n] {
				panic("fhir: summary element " + e.Type + "." + n + " is not an element of the R4 protos")
			}
			e.summary[n] = true
		}
		e.nested = map[string]map[string]bool{}
		for parent, kids := range nestedSummary[e.Type] {
			set := map[string]bool{"modifierExtension": true}
			for _, k := range kids {
				set[k] = true
			}
			e.nested[parent] = set
		}
		resourceElements[e.Type] = e
	}
}

// elementsOf reads the top-level elements of a resource message of the R4 protos.
func elementsOf(md protoreflect.MessageDescriptor) *Elements {
	e := &Elements{Type: string(md.Name()), names: map[string]bool{}, keys: map[string]string{}}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := f.JSONName()
		e.names[name] = true
		e.keys[name] = name
		if proto.GetExtension(f.Options(), annotations.E_ValidationRequirement) == annotations.Requirement_REQUIRED_BY_FHIR {
			e.mandatory = append(e.mandatory, name)
		}
		if f.Kind() == protoreflect.MessageKind && proto.GetExtension(f.Message().Options(), annotations.E_IsChoiceType) == true {
			choices := f.Message().Fields()
			for j := 0; j < choices.Len(); j++ {
				c := choices.Get(j).JSONName()
				e.keys[name+strings.ToUpper(c[:1])+c[1:]] = name
			}
		}
	}
	sort.Strings(e.mandatory)
	return e
}

// ResourceElements returns the elements of a resource type the hub serves (DiagnosticReport,
// Observation, ImagingStudy, Patient, Organization).
func ResourceElements(resourceType string) (*Elements, bool) {
	e, ok := resourceElements[resourceType]
	return e, ok
}

// Base is the element a JSON property of a resource of this type belongs to: itself, the choice
// element of a spelt-out choice ("effectiveDateTime" → "effective"), or the element whose
// primitive extension it carries ("_status" → "status"). ok is false for a property that is no
// element of the type (resourceType included).
func (e *Elements) Base(key string) (string, bool) {
	b, ok := e.keys[strings.TrimPrefix(key, "_")]
	return b, ok
}

// Mandatory returns the elements of minimum cardinality 1, sorted.
func (e *Elements) Mandatory() []string { return e.mandatory }

// IsMandatory says whether element name (a base name) has minimum cardinality 1.
func (e *Elements) IsMandatory(name string) bool {
	for _, m := range e.mandatory {
		if m == name {
			return true
		}
	}
	return false
}

// IsSummary says whether element name (a base name) is a summary element.
func (e *Elements) IsSummary(name string) bool { return e.summary[name] }

// NestedSummary returns, for a summary backbone element some of whose children are not summary
// elements, the children that are; nil when the whole element is summary.
func (e *Elements) NestedSummary(name string) map[string]bool { return e.nested[name] }
