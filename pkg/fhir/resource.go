package fhir

import (
	"bytes"
	"encoding/json"
)

// Resource is a FHIR resource: one of the typed resources of this package
// or a *RawResource for the other R4 resource types.
type Resource interface {
	ResourceType() string
}

// RawResource is an R4 resource of a type this package does not model
// (Condition, Encounter, Claim, …). It is kept as received, syntax-checked
// only.
type RawResource struct {
	Type string          // resourceType
	ID   string          // id, if it is a JSON string
	JSON json.RawMessage // the resource's bytes as received
}

// ResourceType returns the resource's resourceType.
func (r *RawResource) ResourceType() string { return r.Type }

// Raw returns the resource's JSON as received.
func (r *RawResource) Raw() json.RawMessage { return r.JSON }

// MarshalJSON returns the resource's JSON (compacted).
func (r *RawResource) MarshalJSON() ([]byte, error) { return appendCompact(nil, r.JSON), nil }

// Extension is a FHIR extension (also used for modifierExtension). Its
// value[x] is kept as the JSON key (e.g. "valueCodeableConcept") and the raw
// JSON value, after strict validation against the value's R4 type.
type Extension struct {
	ID        string
	Extension []Extension
	URL       string
	URLExt    *Element
	// ValueKey is the value[x] element name, e.g. "valueString"; empty when
	// the extension has nested extensions instead of a value.
	ValueKey string
	// Value is the raw JSON of the value[x].
	Value json.RawMessage
	// ValueExt is the primitive extension of value[x] ("_valueString"), and
	// ValueExtKey its element name.
	ValueExtKey string
	ValueExt    *Element
}

// ValueString returns the value of a string-typed value[x] (valueString,
// valueCode, valueUri, valueDateTime, …) and whether it was one.
func (e *Extension) ValueString() (string, bool) {
	if len(e.Value) == 0 || e.Value[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(e.Value, &s) != nil {
		return "", false
	}
	return s, true
}

// MarshalJSON encodes e as FHIR JSON.
func (e *Extension) MarshalJSON() ([]byte, error) { return e.appendJSON(nil), nil }

// UnmarshalJSON decodes e strictly.
func (e *Extension) UnmarshalJSON(data []byte) error {
	d := &decoder{data: data, root: "Extension"}
	if err := d.run(func() {
		d.decExtension(e)
		d.ws()
		if d.pos != len(d.data) {
			d.syntax("trailing data")
		}
	}); err != nil {
		return err
	}
	return nil
}

func (d *decoder) decExtension(v *Extension) {
	d.objStart()
	for i := 0; d.objKey(i); i++ {
		switch k := string(d.key); k {
		case "id":
			d.str(&v.ID, kString)
		case "extension":
			v.Extension = decodeSlice(d, v.Extension, (*decoder).decExtension)
		case "url":
			d.str(&v.URL, kURI)
		case "_url":
			d.elem(&v.URLExt)
		default:
			if len(k) > 6 && k[0] == '_' {
				if v.ValueExt != nil {
					d.duplicate()
				}
				if !isExtensionValueKey(k[1:]) {
					d.unknown()
				}
				v.ValueExtKey = k
				d.elem(&v.ValueExt)
				break
			}
			start := d.begin()
			if !d.decExtensionValue(k) {
				d.unknown()
			}
			if v.ValueKey != "" {
				d.fail(CodeInvalid, "more than one value[x] in extension")
			}
			v.ValueKey = k
			v.Value = d.data[start:d.pos]
		}
		d.pop()
	}
	if v.URL == "" {
		d.required("url")
	}
	if v.ValueKey != "" && len(v.Extension) > 0 {
		d.fail(CodeInvalid, "extension has both a value[x] and nested extensions (ext-1)")
	}
	if v.ValueExtKey != "" && v.ValueKey != "" && v.ValueExtKey[1:] != v.ValueKey {
		d.fail(CodeInvalid, "primitive extension "+v.ValueExtKey+" does not match "+v.ValueKey)
	}
}

func isExtensionValueKey(k string) bool {
	_, ok := extensionValueKeys[k]
	return ok
}

func (e *Extension) appendJSON(b []byte) []byte {
	start := len(b)
	if e.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, e.ID)
	}
	if len(e.Extension) > 0 {
		b = append(b, `,"extension":`...)
		s := len(b)
		for i := range e.Extension {
			b = append(b, ',')
			b = e.Extension[i].appendJSON(b)
		}
		b[s] = '['
		b = append(b, ']')
	}
	if e.URL != "" {
		b = append(b, `,"url":`...)
		b = appendString(b, e.URL)
	}
	if e.URLExt != nil {
		b = append(b, `,"_url":`...)
		b = e.URLExt.appendJSON(b)
	}
	if e.ValueKey != "" && len(e.Value) > 0 {
		b = append(b, ',')
		b = appendString(b, e.ValueKey)
		b = append(b, ':')
		b = appendCompact(b, e.Value)
	}
	if e.ValueExt != nil && e.ValueExtKey != "" {
		b = append(b, ',')
		b = appendString(b, e.ValueExtKey)
		b = append(b, ':')
		b = e.ValueExt.appendJSON(b)
	}
	return closeObject(b, start)
}

// ---- resources in Bundle.entry.resource / contained ----

// scanTop reads the top-level "resourceType" (and, if wantID, "id") of the
// object at pos without consuming it.
func (d *decoder) scanTop(wantID bool) (rt, id string) {
	save, depth := d.pos, d.depth
	defer func() { d.pos, d.depth = save, depth }()
	if d.peek() != '{' {
		d.typeErr("object (a resource)")
	}
	d.pos++
	if d.peek() == '}' {
		d.pos = save
		d.fail(CodeInvalid, "empty object is not allowed")
	}
	haveRT := false
	for {
		if d.peek() != '"' {
			d.syntax("expected object key")
		}
		k := d.readString()
		if d.peek() != ':' {
			d.syntax("expected ':'")
		}
		d.pos++
		switch {
		case string(k) == "resourceType" && !haveRT:
			haveRT = true
			if d.peek() != '"' {
				d.skip()
				rt = ""
			} else {
				rt = d.text(d.readString())
				if rt == "" {
					rt = "\x00"
				}
			}
			if !wantID {
				return rt, ""
			}
		case string(k) == "id" && wantID && d.peek() == '"':
			id = d.text(d.readString())
		default:
			d.skip()
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			return rt, id
		default:
			d.syntax("expected ',' or '}'")
		}
	}
}

// resourceTypeKey handles "resourceType" inside a typed resource, already
// dispatched on: it must be the expected string.
func (d *decoder) resourceTypeKey(want string, seen *bool) {
	if *seen {
		d.duplicate()
	}
	*seen = true
	if d.peek() != '"' {
		d.typeErr("string")
	}
	if got := d.readString(); string(got) != want {
		d.fail(CodeResourceType, "resourceType "+string(got)+" where "+want+" was expected")
	}
}

// resourceVal decodes one resource, dispatching on its resourceType.
func (d *decoder) resourceVal() Resource {
	if rescanFast {
		if rt, ok := d.typeFast(); ok {
			return d.guarded(d.root, func() Resource { return d.resourceOf(rt) })
		}
	}
	rt, _ := d.scanTop(false)
	return d.resourceOf(rt)
}

// resourceOf decodes the object at pos as a resource of type rt (as the look-ahead found it).
func (d *decoder) resourceOf(rt string) Resource {
	var r Resource
	switch rt {
	case "":
		d.fail(CodeResourceType, "missing resourceType")
	case "Bundle":
		v := new(Bundle)
		d.decBundle(v)
		r = v
	case "DiagnosticReport":
		v := new(DiagnosticReport)
		d.decDiagnosticReport(v)
		r = v
	case "Observation":
		v := new(Observation)
		d.decObservation(v)
		r = v
	case "ImagingStudy":
		v := new(ImagingStudy)
		d.decImagingStudy(v)
		r = v
	case "Specimen":
		v := new(Specimen)
		d.decSpecimen(v)
		r = v
	case "ServiceRequest":
		v := new(ServiceRequest)
		d.decServiceRequest(v)
		r = v
	case "Patient":
		v := new(Patient)
		d.decPatient(v)
		r = v
	case "Organization":
		v := new(Organization)
		d.decOrganization(v)
		r = v
	case "Practitioner":
		v := new(Practitioner)
		d.decPractitioner(v)
		r = v
	case "PractitionerRole":
		v := new(PractitionerRole)
		d.decPractitionerRole(v)
		r = v
	default:
		if !r4ResourceTypes[rt] {
			if rt == "\x00" {
				rt = ""
			}
			d.fail(CodeResourceType, "unknown resourceType \""+rt+"\"")
		}
		_, id := d.scanTop(true)
		start := d.begin()
		d.skip()
		r = &RawResource{Type: rt, ID: id, JSON: d.data[start:d.pos]}
	}
	return r
}

func (d *decoder) resource(dst *Resource) {
	if *dst != nil {
		d.duplicate()
	}
	*dst = d.resourceVal()
}

func (d *decoder) resources(dst *[]Resource) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	var out []Resource
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		out = append(out, d.resourceVal())
		d.pop()
	}
	*dst = out
}

// Decode strictly decodes and validates one resource of any R4 type: the
// types of this package are decoded into their structs (*Patient, …),
// others into *RawResource. Errors are *Error with paths rooted at the
// resource type.
func Decode(data []byte) (Resource, error) {
	d := &decoder{data: data}
	var r Resource
	if err := d.run(func() {
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != '{' {
			d.fail(CodeNotJSON, "not a JSON object")
		}
		rt, _ := d.scanTop(false)
		if rt != "\x00" && r4ResourceTypes[rt] {
			d.root = rt
		}
		r = d.resourceVal()
		d.ws()
		if d.pos != len(d.data) {
			d.syntax("trailing data after the resource")
		}
	}); err != nil {
		return nil, err
	}
	return r, nil
}

func unmarshalResource(data []byte, rt string, f func(*decoder)) error {
	d := &decoder{data: data, root: rt}
	if err := d.run(func() {
		f(d)
		d.ws()
		if d.pos != len(d.data) {
			d.syntax("trailing data after the resource")
		}
	}); err != nil {
		return err
	}
	return nil
}

// ---- encoding ----

type appender interface{ appendJSON([]byte) []byte }

// Marshal encodes v as FHIR JSON. Resources of this package get their
// "resourceType"; empty elements are omitted. Other values go through
// encoding/json.
func Marshal(v any) ([]byte, error) {
	switch x := v.(type) {
	case appender:
		return x.appendJSON(nil), nil
	case *RawResource:
		return appendCompact(nil, x.JSON), nil
	}
	return json.Marshal(v)
}

func appendResource(b []byte, r Resource) []byte {
	switch x := r.(type) {
	case appender:
		return x.appendJSON(b)
	case *RawResource:
		return appendCompact(b, x.JSON)
	}
	j, err := json.Marshal(r)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

func appendResources(b []byte, rs []Resource) []byte {
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendResource(b, r)
	}
	return append(b, ']')
}

func appendCompact(b []byte, raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(b, raw...)
	}
	return append(b, buf.Bytes()...)
}

// closeObject finishes an object whose members were appended from start,
// each prefixed with ','.
func closeObject(b []byte, start int) []byte {
	if len(b) == start {
		return append(b, "{}"...)
	}
	b[start] = '{'
	return append(b, '}')
}

func appendElems(b []byte, es []*Element) []byte {
	b = append(b, '[')
	for i, e := range es {
		if i > 0 {
			b = append(b, ',')
		}
		if e == nil {
			b = append(b, "null"...)
		} else {
			b = e.appendJSON(b)
		}
	}
	return append(b, ']')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendBools(b []byte, vs []bool) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if v {
			b = append(b, "true"...)
		} else {
			b = append(b, "false"...)
		}
	}
	return append(b, ']')
}

func appendInts(b []byte, vs []int) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInt(b, v)
	}
	return append(b, ']')
}

func appendDecimals(b []byte, vs []json.Number) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v...)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
