package fhir

import (
	"regexp"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// The one-pass decoder is driven by tables built once from the R4 protos'
// descriptors and the FHIR annotations github.com/google/fhir/go reads
// itself: JSON names, choice types, primitive kinds, value regexes, required
// elements, valid reference types and code enums with their JSON spelling.

// msgKind says how a message type is read from JSON.
type msgKind uint8

const (
	kindMessage   msgKind = iota // an object of elements
	kindPrimitive                // a JSON scalar (plus "_name" for its id and extensions)
	kindReference                // an object, then Reference.reference normalised as the library does
	kindContained                // ContainedResource: a resource object selected by resourceType
	kindAny                      // google.protobuf.Any: a contained resource, packed
)

// primKind is the FHIR primitive a primitive message holds.
type primKind uint8

const (
	primUnknown primKind = iota
	primString
	primCode
	primID
	primOID
	primUUID
	primURI // uri, url, canonical
	primText
	primBoolean
	primInteger
	primPositiveInt
	primUnsignedInt
	primDecimal
	primDate
	primDateTime
	primInstant
	primTime
	primBase64
	primEnumCode   // a code bound to a value set, held as an enum
	primStringCode // a code bound to a value set, held as a string
)

// msgInfo is the decoding table of one message type.
type msgInfo struct {
	desc     protoreflect.MessageDescriptor
	kind     msgKind
	fields   map[string]*fieldInfo // JSON key → field ("_name" keys included for primitives)
	required []protoreflect.FieldDescriptor

	// Primitives.
	prim       primKind
	value      protoreflect.FieldDescriptor // "value" (or value_us for times)
	idField    protoreflect.FieldDescriptor // Element.id
	extField   protoreflect.FieldDescriptor // Element.extension
	regex      *regexp.Regexp               // Oid, Uuid
	enumByName map[string]protoreflect.EnumNumber
	enumOrig   map[string]protoreflect.EnumNumber
	enumLower  map[string]protoreflect.EnumNumber // "entered-in-error" → ENTERED_IN_ERROR, for the usual spelling
	tz, prec   protoreflect.FieldDescriptor
	precs      [7]protoreflect.EnumNumber // by Precision constant below

	// ContainedResource: resourceType → oneof field and the resource's table.
	resources map[string]resEntry

	// extInfo reads the object of a primitive's "_name" key: id and extension only.
	extInfo *msgInfo
	// newPrim allocates a primitive of a common R4 type directly (nil for the others, which
	// are made through protobuf reflection).
	newPrim func() protoreflect.Message
}

type resEntry struct {
	fd protoreflect.FieldDescriptor
	mi *msgInfo
}

// Precision slots of msgInfo.precs.
const (
	pYear = iota + 1
	pMonth
	pDay
	pSecond
	pMilli
	pMicro
)

// fieldInfo is one JSON key of a message.
type fieldInfo struct {
	fd       protoreflect.FieldDescriptor // the message's field
	sub      protoreflect.FieldDescriptor // for a choice key: the field inside fd's choice message
	ext      bool                         // a "_name" key: the primitive's id and extensions
	elem     *msgInfo                     // the value's type (sub's for a choice key)
	refTypes []string                     // valid_reference_type of the field a Reference is reached through
}

type tableSet struct {
	mu    sync.Mutex
	infos map[protoreflect.FullName]*msgInfo
	// Reference: resource type → typed id field of the oneof, and back.
	refFieldByType map[string]protoreflect.FieldDescriptor
	refTypeByField map[protoreflect.FullName]string
	root           *msgInfo
}

var tables = sync.OnceValue(buildTables)

func buildTables() *tableSet {
	ts := &tableSet{infos: map[protoreflect.FullName]*msgInfo{},
		refFieldByType: map[string]protoreflect.FieldDescriptor{}, refTypeByField: map[protoreflect.FullName]string{}}
	rd := (&dtpb.Reference{}).ProtoReflect().Descriptor()
	od := rd.Oneofs().ByName("reference")
	for i := 0; i < od.Fields().Len(); i++ {
		f := od.Fields().Get(i)
		t, _ := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string)
		if t == "" {
			continue
		}
		ts.refFieldByType[t] = f
		ts.refTypeByField[f.FullName()] = t
	}
	ts.mu.Lock()
	ts.root = ts.info((&bcrpb.ContainedResource{}).ProtoReflect().Descriptor())
	ts.mu.Unlock()
	return ts
}

// info returns the table of d, building it (and those of the types it
// reaches) on first use. ts.mu is held.
func (ts *tableSet) info(d protoreflect.MessageDescriptor) *msgInfo {
	if mi, ok := ts.infos[d.FullName()]; ok {
		return mi
	}
	mi := &msgInfo{desc: d}
	ts.infos[d.FullName()] = mi
	switch {
	case d.FullName() == "google.protobuf.Any":
		mi.kind = kindAny
		return mi
	case d.Name() == "ContainedResource":
		mi.kind = kindContained
		mi.resources = map[string]resEntry{}
		fs := d.Oneofs().ByName("oneof_resource").Fields()
		for i := 0; i < fs.Len(); i++ {
			f := fs.Get(i)
			mi.resources[string(f.Message().Name())] = resEntry{fd: f, mi: ts.info(f.Message())}
		}
		return mi
	case isPrimitiveDesc(d):
		mi.kind = kindPrimitive
		ts.primitive(mi)
	case proto.HasExtension(d.Options(), apb.E_FhirReferenceType):
		mi.kind = kindReference
	}
	mi.fields = map[string]*fieldInfo{}
	fs := d.Fields()
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		if proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement) == apb.Requirement_REQUIRED_BY_FHIR {
			mi.required = append(mi.required, f)
		}
		if f.Message() == nil {
			continue // a primitive's own value: not a JSON key of an object
		}
		if mi.kind == kindReference && f.ContainingOneof() != nil && f.Name() != "uri" {
			continue // typed ids and fragment are the library's normal form, not JSON keys
		}
		refTypes, _ := proto.GetExtension(f.Options(), apb.E_ValidReferenceType).([]string)
		if proto.HasExtension(f.Message().Options(), apb.E_IsChoiceType) {
			cd := f.Message()
			ts.info(cd)
			cfs := cd.Fields()
			for j := 0; j < cfs.Len(); j++ {
				c := cfs.Get(j)
				if c.Message() == nil {
					continue
				}
				cRef, _ := proto.GetExtension(c.Options(), apb.E_ValidReferenceType).([]string)
				mi.fields[f.JSONName()+upperFirst(c.JSONName())] = &fieldInfo{fd: f, sub: c, elem: ts.info(c.Message()), refTypes: cRef}
			}
			continue
		}
		fi := &fieldInfo{fd: f, elem: ts.info(f.Message()), refTypes: refTypes}
		mi.fields[f.JSONName()] = fi
		if fi.elem.kind == kindPrimitive && !f.IsList() {
			mi.fields["_"+f.JSONName()] = &fieldInfo{fd: f, ext: true, elem: fi.elem}
		}
	}
	if mi.kind == kindPrimitive {
		mi.extInfo = &msgInfo{desc: d, fields: map[string]*fieldInfo{}}
		for _, k := range []string{"id", "extension"} {
			if fi := mi.fields[k]; fi != nil {
				mi.extInfo.fields[k] = fi
			}
		}
	}
	return mi
}

func isPrimitiveDesc(d protoreflect.MessageDescriptor) bool {
	k, _ := proto.GetExtension(d.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	return k == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE
}

// primitive fills the primitive part of mi as the library's parsePrimitiveType
// dispatches: by the type's name, then a value-set-bound code.
func (ts *tableSet) primitive(mi *msgInfo) {
	d := mi.desc
	mi.value = d.Fields().ByName("value")
	mi.idField = d.Fields().ByName("id")
	mi.extField = d.Fields().ByName("extension")
	switch d.Name() {
	case "String":
		mi.prim = primString
	case "Code":
		mi.prim = primCode
	case "Id":
		mi.prim = primID
	case "Oid":
		mi.prim = primOID
	case "Uuid":
		mi.prim = primUUID
	case "Uri", "Url", "Canonical":
		mi.prim = primURI
	case "Markdown", "Xhtml":
		mi.prim = primText
	case "Boolean":
		mi.prim = primBoolean
	case "Integer":
		mi.prim = primInteger
	case "PositiveInt":
		mi.prim = primPositiveInt
	case "UnsignedInt":
		mi.prim = primUnsignedInt
	case "Decimal":
		mi.prim = primDecimal
	case "Date":
		mi.prim = primDate
	case "DateTime":
		mi.prim = primDateTime
	case "Instant":
		mi.prim = primInstant
	case "Time":
		mi.prim = primTime
	case "Base64Binary":
		mi.prim = primBase64
	case "ReferenceId":
		mi.prim = primUnknown
	default:
		if proto.HasExtension(d.Options(), apb.E_FhirValuesetUrl) && mi.value != nil {
			switch mi.value.Kind() {
			case protoreflect.EnumKind:
				mi.prim = primEnumCode
				mi.enumByName = map[string]protoreflect.EnumNumber{}
				mi.enumOrig = map[string]protoreflect.EnumNumber{}
				mi.enumLower = map[string]protoreflect.EnumNumber{}
				vs := mi.value.Enum().Values()
				for i := 0; i < vs.Len(); i++ {
					v := vs.Get(i)
					mi.enumByName[string(v.Name())] = v.Number()
					if v.Number() != 0 {
						mi.enumLower[strings.ToLower(strings.ReplaceAll(string(v.Name()), "_", "-"))] = v.Number()
					}
					// As the library: the first value whose original code is the
					// string (values without one have "", so "" matches the first of them).
					o, _ := proto.GetExtension(v.Options(), apb.E_FhirOriginalCode).(string)
					if _, dup := mi.enumOrig[o]; !dup {
						mi.enumOrig[o] = v.Number()
					}
				}
			case protoreflect.StringKind:
				mi.prim = primStringCode
			}
		}
	}
	mi.newPrim = newPrimitiveFunc(d.FullName())
	switch mi.prim {
	case primOID, primUUID:
		if re, _ := proto.GetExtension(d.Options(), apb.E_ValueRegex).(string); re != "" {
			mi.regex = regexp.MustCompile("^" + re + "$")
		} else {
			mi.prim = primUnknown
		}
	case primDate, primDateTime, primInstant, primTime:
		mi.value = d.Fields().ByName("value_us")
		mi.tz = d.Fields().ByName("timezone")
		mi.prec = d.Fields().ByName("precision")
		if mi.value == nil || mi.prec == nil {
			mi.prim = primUnknown
			break
		}
		vs := mi.prec.Enum().Values()
		for slot, name := range map[int]protoreflect.Name{pYear: "YEAR", pMonth: "MONTH", pDay: "DAY", pSecond: "SECOND", pMilli: "MILLISECOND", pMicro: "MICROSECOND"} {
			if v := vs.ByName(name); v != nil {
				mi.precs[slot] = v.Number()
			}
		}
	}
}

// newPrimitiveFunc returns an allocator of the R4 primitive named, for the common types.
func newPrimitiveFunc(name protoreflect.FullName) func() protoreflect.Message {
	for _, c := range []struct {
		m  proto.Message
		fn func() protoreflect.Message
	}{
		{&dtpb.String{}, func() protoreflect.Message { return (&dtpb.String{}).ProtoReflect() }},
		{&dtpb.Code{}, func() protoreflect.Message { return (&dtpb.Code{}).ProtoReflect() }},
		{&dtpb.Uri{}, func() protoreflect.Message { return (&dtpb.Uri{}).ProtoReflect() }},
		{&dtpb.Id{}, func() protoreflect.Message { return (&dtpb.Id{}).ProtoReflect() }},
		{&dtpb.Markdown{}, func() protoreflect.Message { return (&dtpb.Markdown{}).ProtoReflect() }},
		{&dtpb.Canonical{}, func() protoreflect.Message { return (&dtpb.Canonical{}).ProtoReflect() }},
		{&dtpb.Url{}, func() protoreflect.Message { return (&dtpb.Url{}).ProtoReflect() }},
		{&dtpb.Xhtml{}, func() protoreflect.Message { return (&dtpb.Xhtml{}).ProtoReflect() }},
		{&dtpb.DateTime{}, func() protoreflect.Message { return (&dtpb.DateTime{}).ProtoReflect() }},
		{&dtpb.Instant{}, func() protoreflect.Message { return (&dtpb.Instant{}).ProtoReflect() }},
		{&dtpb.Date{}, func() protoreflect.Message { return (&dtpb.Date{}).ProtoReflect() }},
		{&dtpb.Decimal{}, func() protoreflect.Message { return (&dtpb.Decimal{}).ProtoReflect() }},
		{&dtpb.Boolean{}, func() protoreflect.Message { return (&dtpb.Boolean{}).ProtoReflect() }},
		{&dtpb.Integer{}, func() protoreflect.Message { return (&dtpb.Integer{}).ProtoReflect() }},
		{&dtpb.PositiveInt{}, func() protoreflect.Message { return (&dtpb.PositiveInt{}).ProtoReflect() }},
		{&dtpb.UnsignedInt{}, func() protoreflect.Message { return (&dtpb.UnsignedInt{}).ProtoReflect() }},
	} {
		if c.m.ProtoReflect().Descriptor().FullName() == name {
			return c.fn
		}
	}
	return nil
}
