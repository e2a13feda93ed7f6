package fhir

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/encoding/protowire"
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
	e := canonEncoder{mask: mask}
	if err := e.message(res.ProtoReflect(), true); err != nil {
		return canonicalByClone(res, mask) // a shape the encoder does not write
	}
	return e.buf, nil
}

// canonicalByClone is Canonical as a normalised copy marshalled by the protobuf library: the
// definition the encoder below must match byte for byte (the tests compare them), and the
// path for what the encoder does not write itself (contained resources).
func canonicalByClone(res proto.Message, mask func(string) string) ([]byte, error) {
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

// canonEncoder writes the protobuf wire form of a resource with Canonical's normalisations
// applied on the way, without copying the resource: fields in field-number order (as the
// protobuf library marshals generated messages, oneofs last), each nested message's length
// before it.
type canonEncoder struct {
	buf      []byte
	mask     func(string) string
	metaSkip bool // the next message is the resource's meta: leave out lastUpdated and source
}

func isExporterMeta(fd protoreflect.FieldDescriptor) bool {
	return fd.Name() == "last_updated" || fd.Name() == "source"
}

var layouts sync.Map // protoreflect.FullName → *wireLayout

// wireLayout is the order in which the protobuf library marshals a generated message: fields
// outside a oneof by number, then each oneof (in declaration order) — "to preserve
// compatibility with historic wire output, marshal oneofs last".
type wireLayout struct {
	plain  []protoreflect.FieldDescriptor
	oneofs []protoreflect.OneofDescriptor
}

func layoutOf(d protoreflect.MessageDescriptor) *wireLayout {
	if v, ok := layouts.Load(d.FullName()); ok {
		return v.(*wireLayout)
	}
	l := &wireLayout{}
	fs := d.Fields()
	for i := 0; i < fs.Len(); i++ {
		if f := fs.Get(i); f.ContainingOneof() == nil || f.ContainingOneof().IsSynthetic() {
			l.plain = append(l.plain, f)
		}
	}
	slices.SortFunc(l.plain, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number()) - int(b.Number()) })
	for i := 0; i < d.Oneofs().Len(); i++ {
		if od := d.Oneofs().Get(i); !od.IsSynthetic() {
			l.oneofs = append(l.oneofs, od)
		}
	}
	layouts.Store(d.FullName(), l)
	return l
}

func (e *canonEncoder) message(m protoreflect.Message, top bool) error {
	name := m.Descriptor().FullName()
	switch name {
	case decimalName:
		x, ok := m.Interface().(*dtpb.Decimal)
		if !ok {
			break
		}
		// Decimals: the value with its exponent written one way; nothing below is masked.
		if x.Id == nil && len(x.Extension) == 0 {
			if v := canonicalDecimal(x.Value); v != "" {
				e.tag(m.Descriptor().Fields().ByName("value").Number(), protowire.BytesType)
				e.buf = protowire.AppendString(e.buf, v)
			}
			return nil
		}
		c := proto.Clone(x).(*dtpb.Decimal)
		c.Value = canonicalDecimal(x.Value)
		return e.raw(c)
	case anyName:
		a, ok := m.Interface().(*anypb.Any)
		if !ok {
			break
		}
		// Contained resources: normalised and packed again, as the copy would be.
		c := proto.Clone(a)
		normalize(c.ProtoReflect(), e.mask)
		return e.raw(c)
	}
	skip := e.metaSkip
	e.metaSkip = false
	l := layoutOf(m.Descriptor())
	for _, fd := range l.plain {
		if !m.Has(fd) || skip && isExporterMeta(fd) {
			continue
		}
		if err := e.field(m, fd, top); err != nil {
			return err
		}
	}
	for _, od := range l.oneofs {
		if fd := m.WhichOneof(od); fd != nil {
			if err := e.field(m, fd, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// field writes one populated field of m.
func (e *canonEncoder) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, top bool) error {
	v := m.Get(fd)
	if top && fd.Name() == "meta" {
		if meta, ok := v.Message().Interface().(*dtpb.Meta); ok && (meta.Source != nil || meta.LastUpdated != nil) {
			// The resource's meta without lastUpdated and source, or none if nothing else is in it.
			mm := v.Message()
			kept := false
			mm.Range(func(f protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
				kept = !isExporterMeta(f)
				return !kept
			})
			if !kept {
				return nil
			}
			e.tag(fd.Number(), protowire.BytesType)
			e.metaSkip = true
			err := e.nested(mm)
			e.metaSkip = false
			return err
		}
	}
	switch {
	case fd.IsMap():
		return errors.New("canonical form: map fields are not written")
	case fd.IsList():
		if fd.Message() == nil {
			return errors.New("canonical form: repeated scalars are not written")
		}
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			e.tag(fd.Number(), protowire.BytesType)
			if err := e.nested(l.Get(i).Message()); err != nil {
				return err
			}
		}
	case fd.Message() != nil:
		e.tag(fd.Number(), protowire.BytesType)
		return e.nested(v.Message())
	default:
		return e.scalar(m, fd, v)
	}
	return nil
}

// scalar writes a populated singular scalar field.
func (e *canonEncoder) scalar(m protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s := v.String()
		if fd.Name() == "timezone" && isUTCOffset(s) {
			switch m.Descriptor().FullName() {
			case dateTimeName, instantName:
				s = "Z"
			}
		}
		if e.mask != nil && s != "" {
			s = e.mask(s)
		}
		if s == "" {
			return nil // a masked string that became empty is not written, as proto3 omits it
		}
		e.tag(fd.Number(), protowire.BytesType)
		e.buf = protowire.AppendString(e.buf, s)
	case protoreflect.BytesKind:
		e.tag(fd.Number(), protowire.BytesType)
		e.buf = protowire.AppendBytes(e.buf, v.Bytes())
	case protoreflect.BoolKind:
		e.tag(fd.Number(), protowire.VarintType)
		e.buf = protowire.AppendVarint(e.buf, protowire.EncodeBool(v.Bool()))
	case protoreflect.EnumKind:
		e.tag(fd.Number(), protowire.VarintType)
		e.buf = protowire.AppendVarint(e.buf, uint64(int64(v.Enum())))
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		e.tag(fd.Number(), protowire.VarintType)
		e.buf = protowire.AppendVarint(e.buf, uint64(v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		e.tag(fd.Number(), protowire.VarintType)
		e.buf = protowire.AppendVarint(e.buf, v.Uint())
	default:
		return fmt.Errorf("canonical form: field kind %v is not written", fd.Kind())
	}
	return nil
}

func (e *canonEncoder) tag(n protoreflect.FieldNumber, t protowire.Type) {
	e.buf = protowire.AppendTag(e.buf, n, t)
}

// nested writes a message's length and then the message: one byte is reserved for the
// length and the bytes moved when it needs more.
func (e *canonEncoder) nested(m protoreflect.Message) error {
	at := len(e.buf)
	e.buf = append(e.buf, 0)
	if err := e.message(m, false); err != nil {
		return err
	}
	n := len(e.buf) - at - 1
	if n < 0x80 {
		e.buf[at] = byte(n)
		return nil
	}
	k := protowire.SizeVarint(uint64(n))
	e.buf = append(e.buf, make([]byte, k-1)...)
	copy(e.buf[at+k:], e.buf[at+1:at+1+n])
	protowire.AppendVarint(e.buf[at:at], uint64(n))
	return nil
}

// raw appends a message marshalled by the protobuf library, deterministically.
func (e *canonEncoder) raw(m proto.Message) error {
	var err error
	e.buf, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(e.buf, m)
	return err
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
