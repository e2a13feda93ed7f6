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

// Canonical returns the canonical form of a resource: the FHIR JSON that two
// messages share exactly when they carry the same content. It is the
// library's compact serialisation of the decoded resource (so key order,
// whitespace, escapes and reference spellings that decode alike serialise
// alike) after these normalisations:
//
//   - meta.lastUpdated and meta.source of the resource are dropped: they
//     describe the exporter's copy, not the report (meta.versionId,
//     profile, security and tag stay);
//   - the UTC offsets "+00:00" and "-00:00" of a dateTime, instant or time
//     are written "Z" (FHIR: the same instant, the same zone); other offsets
//     stay as sent, since the local time they carry is part of the value;
//   - a decimal's exponent is written in one way ("1.50E+2" → "1.50e2"); its
//     digits, and so its precision, stay as sent: FHIR treats 1.0 and 1.00
//     as different values;
//
// and contained resources are normalised the same way. Canonical changes res
// in place only where the change is invisible to FHIR (the zone and exponent
// spellings); meta is restored before it returns.
func Canonical(res proto.Message) ([]byte, error) {
	normalize(res.ProtoReflect())
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("meta")
	if fd != nil && m.Has(fd) {
		orig, ok := m.Get(fd).Message().Interface().(*dtpb.Meta)
		if ok && (orig.GetLastUpdated() != nil || orig.GetSource() != nil) {
			trimmed := proto.Clone(orig).(*dtpb.Meta)
			trimmed.LastUpdated, trimmed.Source = nil, nil
			if proto.Size(trimmed) == 0 {
				m.Clear(fd)
			} else {
				m.Set(fd, protoreflect.ValueOfMessage(trimmed.ProtoReflect()))
			}
			defer m.Set(fd, protoreflect.ValueOfMessage(orig.ProtoReflect()))
		}
	}
	return Marshal(res)
}

var (
	dateTimeName = (&dtpb.DateTime{}).ProtoReflect().Descriptor().FullName()
	instantName  = (&dtpb.Instant{}).ProtoReflect().Descriptor().FullName()
	decimalName  = (&dtpb.Decimal{}).ProtoReflect().Descriptor().FullName()
	anyName      = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()
)

// normalize rewrites, in m and every message below it, the spellings that
// Canonical documents.
func normalize(m protoreflect.Message) {
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
				normalize(cr.ProtoReflect())
				_ = a.MarshalFrom(cr)
			}
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				normalize(l.Get(i).Message())
			}
		} else if !fd.IsMap() {
			normalize(v.Message())
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
