package fhir

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
)

// Code returns the FHIR code of a bound code element (a status, a use, a
// gender…), e.g. "entered-in-error" for ENTERED_IN_ERROR, or "" when it is
// absent. The library keeps such codes as enums; this is the spelling its
// marshaller writes.
func Code(c interface {
	proto.Message
}) string {
	if c == nil {
		return ""
	}
	m := c.ProtoReflect()
	if !m.IsValid() {
		return ""
	}
	fd := m.Descriptor().Fields().ByName("value")
	if fd == nil || fd.Enum() == nil {
		return ""
	}
	ev := fd.Enum().Values().ByNumber(m.Get(fd).Enum())
	if ev == nil || m.Get(fd).Enum() == 0 {
		return ""
	}
	return enumCode(ev)
}

func enumCode(ev protoreflect.EnumValueDescriptor) string {
	if orig, ok := proto.GetExtension(ev.Options(), apb.E_FhirOriginalCode).(string); ok && orig != "" {
		return orig
	}
	return strings.ReplaceAll(strings.ToLower(string(ev.Name())), "_", "-")
}
