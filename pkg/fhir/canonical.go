package fhir

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

var marshaller = sync.OnceValue(func() *jsonformat.Marshaller {
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		panic(fmt.Sprintf("fhir: R4 marshaller: %v", err)) // fixed arguments: cannot fail
	}
	return m
})

// Marshal writes a resource proto (or a ContainedResource) as compact FHIR
// JSON with the library's marshaller: object keys sorted, no whitespace.
func Marshal(res proto.Message) ([]byte, error) {
	if cr, ok := res.(*bcrpb.ContainedResource); ok {
		return marshaller().Marshal(cr)
	}
	return marshaller().MarshalResource(res)
}

// Canonical returns the canonical form of a resource: bytes that two messages share exactly
// when they carry the same content. It is the deterministic protobuf serialisation of the
// resource as the library decoded it into its R4 protos — so key order, whitespace, escapes
// and reference spellings that decode alike give the same bytes — after these normalisations
// of a copy (res itself is not changed):
//
//   - meta.lastUpdated and meta.source of the resource are dropped: they describe the
//     exporter's copy, not the report (meta.versionId, profile, security and tag stay);
//   - the UTC offsets "+00:00" and "-00:00" of a dateTime or instant are written "Z" (FHIR: the
//     same instant, the same zone); other offsets stay as sent, since the local time they carry
//     is part of the value;
//   - a decimal's exponent is written in one way ("1.50E+2" → "1.50e2"); its digits, and so
//     its precision, stay as sent: FHIR treats 1.0 and 1.00 as different values;
//   - mask, when not nil, rewrites every string value (the hub masks identity numbers with it,
//     so that the form of stored, masked resources is the form of the received ones);
//
// and contained resources are normalised the same way. The serialisation is stable for one
// version of the library's R4 protos; after an upgrade that changes them, stored hashes are
// recomputed (mrhub rehash).
func Canonical(res proto.Message, mask func(string) string) ([]byte, error) {
	c := proto.Clone(res)
	m := c.ProtoReflect()
	if fd := m.Descriptor().Fields().ByName("meta"); fd != nil && m.Has(fd) {
		if meta, ok := m.Get(fd).Message().Interface().(*dtpb.Meta); ok {
			meta.LastUpdated, meta.Source = nil, nil
			if proto.Size(meta) == 0 {
				m.Clear(fd)
			}
		}
	}
	normalize(m, mask)
	return proto.MarshalOptions{Deterministic: true}.Marshal(c)
}

var (
	dateTimeName = (&dtpb.DateTime{}).ProtoReflect().Descriptor().FullName()
	instantName  = (&dtpb.Instant{}).ProtoReflect().Descriptor().FullName()
	decimalName  = (&dtpb.Decimal{}).ProtoReflect().Descriptor().FullName()
	anyName      = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()
)

// normalize rewrites, in m and every message below it, what Canonical documents.
func normalize(m protoreflect.Message, mask func(string) string) {
	switch m.Descriptor().FullName() {
	case dateTimeName:
		if x, ok := m.Interface().(*dtpb.DateTime); ok && isUTCOffset(x.Timezone) {
			x.Timezone = "Z"
		}
	case instantName:
		if x, ok := m.Interface().(*dtpb.Instant); ok && isUTCOffset(x.Timezone) {
			x.Timezone = "Z"
		}
	case decimalName:
		if x, ok := m.Interface().(*dtpb.Decimal); ok {
			x.Value = canonicalDecimal(x.Value)
		}
		return
	case anyName:
		if a, ok := m.Interface().(*anypb.Any); ok {
			cr := &bcrpb.ContainedResource{}
			if a.UnmarshalTo(cr) == nil {
				normalize(cr.ProtoReflect(), mask)
				_ = a.MarshalFrom(cr)
			}
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.StringKind && mask != nil && !fd.IsList() && !fd.IsMap():
			if s := v.String(); s != "" {
				if t := mask(s); t != s {
					m.Set(fd, protoreflect.ValueOfString(t))
				}
			}
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				normalize(l.Get(i).Message(), mask)
			}
		default:
			normalize(v.Message(), mask)
		}
		return true
	})
}

func isUTCOffset(tz string) bool { return tz == "+00:00" || tz == "-00:00" || tz == "UTC" }

// canonicalDecimal writes the exponent of a decimal in one way: a lower-case
// "e", no "+" sign, no leading zeros ("1.5E+02" → "1.5e2"). The mantissa is
// left alone.
func canonicalDecimal(s string) string {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return s
	}
	mant, exp := s[:i], s[i+1:]
	neg := false
	switch {
	case strings.HasPrefix(exp, "+"):
		exp = exp[1:]
	case strings.HasPrefix(exp, "-"):
		neg, exp = true, exp[1:]
	}
	exp = strings.TrimLeft(exp, "0")
	if exp == "" {
		return mant // e0, E+00: no exponent
	}
	if neg {
		exp = "-" + exp
	}
	return mant + "e" + exp
}
