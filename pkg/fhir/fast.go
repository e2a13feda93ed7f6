package fhir

import (
	"encoding/base64"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// fastDecode reads a preflighted message (valid JSON, UTF-8, no repeated key,
// nesting bounded) once, token by token, into the library's R4 protos,
// checking in the same pass what the library's unmarshaller and fhirvalidate
// check. It reports ok=false, and the caller asks the library, on the first
// problem and on anything it does not handle itself: it never decides that a
// message is invalid, so the library's verdict and error stand whenever the
// two could differ. What it accepts equals (proto.Equal) what the library
// returns for the same bytes and zone; the differential test and fuzz target
// hold it to that.
func fastDecode(data []byte, loc *time.Location) (*bcrpb.ContainedResource, bool) {
	cr, _, ok := fastDecodeAt(data, loc)
	return cr, ok
}

// fastDecodeAt is fastDecode that also returns the byte offset where it
// stopped when it leaves the message to the library (for tests).
func fastDecodeAt(data []byte, loc *time.Location) (*bcrpb.ContainedResource, int, bool) {
	d := fastDecoder{r: reader{b: data}, loc: loc, tzName: loc.String(), ts: tables()}
	cr := &bcrpb.ContainedResource{}
	d.r.ws()
	if !d.resource(cr.ProtoReflect(), 0, true) {
		return nil, d.r.i, false
	}
	return cr, d.r.i, true
}

// maxDots bounds the library's element path depth (its MaxNestingDepth counts
// the dots of "Bundle.entry[0].resource.Bundle.…"), with a margin: deeper
// messages go to the library, which decides.
const maxDots = maxDepth - 4

type fastDecoder struct {
	r      reader
	loc    *time.Location
	tzName string
	ts     *tableSet
}

// resource reads a resource object into the ContainedResource message cr.
func (d *fastDecoder) resource(cr protoreflect.Message, dots int, validate bool) bool {
	rt, ok := d.r.resourceType()
	if !ok {
		return false
	}
	e, ok := d.ts.root.resources[rt]
	if !ok {
		return false
	}
	return d.object(cr.Mutable(e.fd).Message(), e.mi, dots+1, validate, true)
}

// object reads a JSON object into m, a message of type mi.
func (d *fastDecoder) object(m protoreflect.Message, mi *msgInfo, dots int, validate, isResource bool) bool {
	r := &d.r
	if !r.consume('{') {
		return false
	}
	var pending [4]protoreflect.Message // primitives given by "_name" (their value may be empty)
	var pendingInfo [4]*msgInfo
	np := 0
	for {
		r.ws()
		if r.i >= len(r.b) {
			return false
		}
		if r.b[r.i] == '}' {
			r.i++
			break
		}
		if r.b[r.i] == ',' {
			r.i++
			r.ws()
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		r.ws()
		if !r.consume(':') {
			return false
		}
		r.ws()
		if isResource && key == "resourceType" {
			r.skipValue()
			continue
		}
		fi := mi.fields[key]
		if fi == nil || dots+1 > maxDots {
			return false
		}
		switch {
		case fi.sub != nil:
			cm := m.Mutable(fi.fd).Message()
			if w := cm.WhichOneof(fi.sub.ContainingOneof()); w != nil && w != fi.sub {
				return false
			}
			if !d.value(cm.Mutable(fi.sub).Message(), fi.elem, fi.refTypes, dots+1, validate) {
				return false
			}
		case fi.ext:
			if np == len(pending) || r.peek() != '{' {
				return false
			}
			tgt := m.Mutable(fi.fd).Message()
			if !d.object(tgt, fi.elem.extInfo, dots+1, validate, false) {
				return false
			}
			if hasNoValueExt(tgt, fi.elem) {
				return false
			}
			pending[np], pendingInfo[np] = tgt, fi.elem
			np++
		case fi.fd.IsList():
			if !r.consume('[') {
				return false
			}
			l := m.Mutable(fi.fd).List()
			if l.Len() != 0 {
				return false
			}
			for {
				r.ws()
				if r.i >= len(r.b) {
					return false
				}
				if r.b[r.i] == ']' {
					r.i++
					break
				}
				if r.b[r.i] == ',' {
					r.i++
					r.ws()
				}
				if np := fi.elem.newPrim; np != nil {
					// A common primitive: made directly, then appended (cheaper than AppendMutable).
					c := np()
					if !d.value(c, fi.elem, nil, dots+1, validate) {
						return false
					}
					l.Append(protoreflect.ValueOfMessage(c))
					continue
				}
				if !d.value(l.AppendMutable().Message(), fi.elem, fi.refTypes, dots+1, validate) {
					return false
				}
			}
		default:
			if mk := fi.elem.newPrim; mk != nil && np == 0 {
				// A common primitive, its "_name" not seen before it: made directly, then set.
				c := mk()
				if !d.value(c, fi.elem, nil, dots+1, validate) {
					return false
				}
				m.Set(fi.fd, protoreflect.ValueOfMessage(c))
				continue
			}
			if !d.value(m.Mutable(fi.fd).Message(), fi.elem, fi.refTypes, dots+1, validate) {
				return false
			}
		}
	}
	for i, p := range pending[:np] {
		pi := pendingInfo[i]
		if primitiveEmpty(p, pi) {
			// The library validates the empty value too: an empty code, id, oid or
			// uuid does not match its pattern.
			if validate && (pi.prim == primCode || pi.prim == primID || pi.prim == primOID || pi.prim == primUUID) {
				return false
			}
			appendHasNoValue(p, pi)
		}
		if validate && !hasRequired(p, pi) {
			return false
		}
	}
	return !validate || hasRequired(m, mi)
}

// hasRequired reports whether m holds every element R4 requires of its type.
func hasRequired(m protoreflect.Message, mi *msgInfo) bool {
	for _, f := range mi.required {
		if !m.Has(f) {
			return false
		}
	}
	return true
}

// value reads one element value (a scalar for a primitive, an object
// otherwise) into m, a message of type mi.
func (d *fastDecoder) value(m protoreflect.Message, mi *msgInfo, refTypes []string, dots int, validate bool) bool {
	switch mi.kind {
	case kindPrimitive:
		return d.primitive(m, mi, validate) && (!validate || hasRequired(m, mi))
	case kindContained:
		if d.r.peek() != '{' {
			return false
		}
		return d.resource(m, dots, validate)
	case kindAny:
		if d.r.peek() != '{' {
			return false
		}
		// contained resources: parsed as the library does, packed into Any, and not
		// walked by its validator.
		cr := &bcrpb.ContainedResource{}
		if !d.resource(cr.ProtoReflect(), dots, false) {
			return false
		}
		a, ok := m.Interface().(*anypb.Any)
		if !ok || a.MarshalFrom(cr) != nil {
			return false
		}
		return true
	case kindReference:
		if d.r.peek() != '{' || !d.object(m, mi, dots, validate, false) {
			return false
		}
		ref, ok := m.Interface().(*dtpb.Reference)
		if !ok {
			return false
		}
		return d.normalizeReference(ref, refTypes, validate)
	}
	if d.r.peek() != '{' {
		return false
	}
	return d.object(m, mi, dots, validate, false)
}

// normalizeReference turns Reference.reference into the library's normal
// form ("#x" → fragment, "Type/id[/_history/v]" → the typed id) and checks
// the target type against the element's valid_reference_type.
func (d *fastDecoder) normalizeReference(ref *dtpb.Reference, refTypes []string, validate bool) bool {
	uri := ref.GetUri().GetValue()
	if uri != "" {
		if strings.HasPrefix(uri, "#") {
			ref.Reference = &dtpb.Reference_Fragment{Fragment: &dtpb.String{Value: uri[1:]}}
		} else if parts := strings.Split(uri, "/"); len(parts) == 2 || len(parts) == 4 && parts[2] == "_history" {
			if f := d.ts.refFieldByType[parts[0]]; f != nil {
				id := &dtpb.ReferenceId{Value: parts[1]}
				if len(parts) > 2 {
					if validate && !validID(parts[3]) {
						return false
					}
					id.History = &dtpb.Id{Value: parts[3]}
				}
				ref.ProtoReflect().Set(f, protoreflect.ValueOfMessage(id.ProtoReflect()))
			}
		}
	}
	if !validate || len(refTypes) == 0 {
		return true
	}
	m := ref.ProtoReflect()
	w := m.WhichOneof(m.Descriptor().Oneofs().ByName("reference"))
	if w == nil || !strings.HasSuffix(string(w.Name()), "_id") {
		return true
	}
	t, ok := d.ts.refTypeByField[w.FullName()]
	if !ok {
		return true
	}
	for _, v := range refTypes {
		if v == "Resource" || v == t {
			return true
		}
	}
	return false
}

const hasNoValueURL = "https://g.co/fhir/StructureDefinition/primitiveHasNoValue"

// hasNoValueExt reports whether a primitive's extensions already carry the
// library's own "no value" marker (which the library would merge away).
func hasNoValueExt(p protoreflect.Message, mi *msgInfo) bool {
	if mi.extField == nil {
		return true
	}
	l := p.Get(mi.extField).List()
	for i := 0; i < l.Len(); i++ {
		if e, ok := l.Get(i).Message().Interface().(*dtpb.Extension); !ok || e.GetUrl().GetValue() == hasNoValueURL {
			return true
		}
	}
	return false
}

// primitiveEmpty reports whether a primitive holds no value (its fields
// other than id and extension are all unset), as the library's proto.Size
// test of a parsed value does.
func primitiveEmpty(p protoreflect.Message, mi *msgInfo) bool {
	empty := true
	p.Range(func(f protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if f != mi.idField && f != mi.extField {
			empty = false
			return false
		}
		return true
	})
	return empty
}

// appendHasNoValue marks a primitive given only by its "_name" object as the
// library does.
func appendHasNoValue(p protoreflect.Message, mi *msgInfo) {
	e := &dtpb.Extension{
		Url:   &dtpb.Uri{Value: hasNoValueURL},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: true}}},
	}
	p.Mutable(mi.extField).List().Append(protoreflect.ValueOfMessage(e.ProtoReflect()))
}

// primitive reads a JSON scalar into the primitive message m.
func (d *fastDecoder) primitive(m protoreflect.Message, mi *msgInfo, validate bool) bool {
	r := &d.r
	c := r.peek()
	switch mi.prim {
	case primBoolean:
		switch {
		case r.literal("true"):
			m.Set(mi.value, protoreflect.ValueOfBool(true))
			return true
		case r.literal("false"):
			return true
		}
		return false
	case primInteger, primPositiveInt, primUnsignedInt:
		num, ok := r.number()
		if !ok {
			return false
		}
		v, ok := parseInt(num)
		if !ok {
			return false
		}
		switch mi.prim {
		case primInteger:
			m.Set(mi.value, protoreflect.ValueOfInt32(int32(v)))
		case primPositiveInt:
			if v < 1 {
				return false
			}
			m.Set(mi.value, protoreflect.ValueOfUint32(uint32(v)))
		default:
			if v < 0 || num[0] == '-' {
				return false
			}
			if v != 0 {
				m.Set(mi.value, protoreflect.ValueOfUint32(uint32(v)))
			}
		}
		return true
	case primDecimal:
		num, ok := r.number()
		if !ok {
			return false
		}
		if x, ok := m.Interface().(*dtpb.Decimal); ok {
			x.Value = string(num)
		} else {
			m.Set(mi.value, protoreflect.ValueOfString(string(num)))
		}
		return true
	}
	if c != '"' {
		return false
	}
	s, ok := r.str()
	if !ok {
		return false
	}
	switch mi.prim {
	case primString:
		if validate && !validString(s) {
			return false
		}
	case primCode:
		if validate && !validCode(s) {
			return false
		}
	case primID:
		if validate && !validID(s) {
			return false
		}
	case primOID, primUUID:
		if validate && !mi.regex.MatchString(s) {
			return false
		}
	case primURI:
		if validate && !plainURL(s) {
			if _, err := url.Parse(s); err != nil {
				return false
			}
		}
	case primText, primStringCode:
	case primEnumCode:
		// The library's rule: the enum value named by the code upper-cased with "-" as "_",
		// else the first value whose original code is the code. The usual lower-case spelling
		// is looked up directly.
		if n, ok := mi.enumLower[s]; ok {
			m.Set(mi.value, protoreflect.ValueOfEnum(n))
			return true
		}
		n, ok := mi.enumByName[strings.ReplaceAll(strings.ToUpper(s), "-", "_")]
		if !ok || n == 0 {
			if n, ok = mi.enumOrig[s]; !ok {
				return false
			}
		}
		if n == 0 {
			// The library takes "" as the enum's zero, which it cannot write back; the hub
			// refuses it (Decoder.unmarshal), so the one-pass decoder leaves it to that path.
			return false
		}
		m.Set(mi.value, protoreflect.ValueOfEnum(n))
		return true
	case primDate, primDateTime, primInstant:
		return d.dateTime(m, mi, s)
	case primTime:
		return false // rare: the library reads it
	case primBase64:
		// The library decodes the JSON string's bytes as written, escapes included.
		if r.escapedStr {
			return false
		}
		return base64Value(m, mi, []byte(s))
	default:
		return false
	}
	if s != "" {
		setString(m, mi, s)
	}
	return true
}

// setString sets a string primitive's value: directly on the common R4 types, through
// reflection on the others.
func setString(m protoreflect.Message, mi *msgInfo, s string) {
	switch x := m.Interface().(type) {
	case *dtpb.String:
		x.Value = s
	case *dtpb.Code:
		x.Value = s
	case *dtpb.Uri:
		x.Value = s
	case *dtpb.Id:
		x.Value = s
	case *dtpb.Markdown:
		x.Value = s
	case *dtpb.Canonical:
		x.Value = s
	case *dtpb.Url:
		x.Value = s
	case *dtpb.Xhtml:
		x.Value = s
	default:
		m.Set(mi.value, protoreflect.ValueOfString(s))
	}
}

// base64Value decodes base64Binary as the library does: data broken into
// chunks of one length by runs of spaces of one length is decoded without
// them, and the chunking kept in its separator-stride extension.
func base64Value(m protoreflect.Message, mi *msgInfo, p []byte) bool {
	n, stride, sep, ok := filterBase64Spaces(p)
	if !ok {
		return false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(n))
	k, err := base64.StdEncoding.Decode(out, p[:n])
	if err != nil {
		return false
	}
	if stride > 0 {
		e := &dtpb.Extension{
			Url: &dtpb.Uri{Value: "https://g.co/fhir/StructureDefinition/base64Binary-separatorStride"},
			Extension: []*dtpb.Extension{
				{Url: &dtpb.Uri{Value: "separator"}, Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: strings.Repeat(" ", sep)}}}},
				{Url: &dtpb.Uri{Value: "stride"}, Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_PositiveInt{PositiveInt: &dtpb.PositiveInt{Value: uint32(stride)}}}},
			},
		}
		m.Mutable(mi.extField).List().Append(protoreflect.ValueOfMessage(e.ProtoReflect()))
	}
	if k > 0 {
		m.Set(mi.value, protoreflect.ValueOfBytes(out[:k]))
	}
	return true
}

// filterBase64Spaces is the library's: it removes the spaces of p in place
// and returns the length left, the chunk length (stride) and the length of
// the runs of spaces (sep), failing when either varies.
func filterBase64Spaces(p []byte) (nn, stride, sep int, ok bool) {
	n := len(p)
	chunkStart := 0
	for i := 0; i < n; i++ {
		c := p[i]
		if c != ' ' {
			if i != nn {
				p[nn] = c
			}
			nn++
			continue
		}
		curStride := i - chunkStart
		if stride == 0 {
			stride = curStride
		}
		if curStride != stride {
			return 0, 0, 0, false
		}
		chunkStart = i
		for ; i < n && p[i] == ' '; i++ {
		}
		curSep := i - chunkStart
		if sep == 0 {
			sep = curSep
		}
		if curSep != sep {
			return 0, 0, 0, false
		}
		chunkStart = i
		i--
	}
	return nn, stride, sep, true
}

// plainURL reports whether s is a URL that net/url.Parse certainly accepts: http(s)://
// followed only by letters, digits and "._~/-" (no port, user, query, escape or bracket), or
// urn: followed only by letters, digits and "._:-". Others are parsed.
func plainURL(s string) bool {
	var rest string
	colon := false
	switch {
	case strings.HasPrefix(s, "http://"):
		rest = s[7:]
	case strings.HasPrefix(s, "https://"):
		rest = s[8:]
	case strings.HasPrefix(s, "urn:"):
		rest, colon = s[4:], true
	default:
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-' ||
			c == '/' && !colon || c == ':' && colon) {
			return false
		}
	}
	return true
}

// parseInt reads a JSON integer in the range of int32: no sign but '-', no
// leading zero, no fraction or exponent (anything else goes to the library).
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 10 || b[0] == '0' && (len(b) > 1 || neg) {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	if v > math.MaxInt32 || v < math.MinInt32 {
		return 0, false
	}
	return v, true
}

// validString is the library's check of a string: at most 1 MiB, none of the
// control characters R4 forbids.
func validString(s string) bool {
	if len(s) > 1024*1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func isRE2Space(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// validCode matches R4's code: [^\s]+(\s[^\s]+)* — no leading, trailing or
// doubled white space.
func validCode(s string) bool {
	if s == "" || isRE2Space(s[0]) || isRE2Space(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isRE2Space(s[i]) && isRE2Space(s[i-1]) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// dateTime reads a date, dateTime or instant in the forms real messages use
// (YYYY, YYYY-MM, YYYY-MM-DD, and YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm)), as
// the library records them: the lowest instant in µs, the precision, and the
// zone ("Z", the offset as "+hh:mm", or the decoder's zone for partial dates).
func (d *fastDecoder) dateTime(m protoreflect.Message, mi *msgInfo, s string) bool {
	l, ok := lexStrict(s)
	if !ok {
		return false
	}
	switch mi.prim {
	case primDate:
		if l.prec == PrecisionSecond {
			return false
		}
	case primInstant:
		if l.prec != PrecisionSecond {
			return false
		}
	}
	var t time.Time
	var tz string
	prec := 0
	if l.prec == PrecisionSecond {
		t = time.Date(l.year, time.Month(l.month), l.day, l.hour, l.min, l.sec, l.nsec, time.FixedZone("", l.zoneSec))
		switch {
		case l.utc:
			tz = "Z"
		default:
			tz = offsetName(l.zoneSec)
		}
		switch {
		case l.fracDigits >= 4:
			prec = pMicro
		case l.fracDigits >= 1:
			prec = pMilli
		default:
			prec = pSecond
		}
	} else {
		month, day := l.month, l.day
		if month == 0 {
			month = 1
		}
		if day == 0 {
			day = 1
		}
		t = time.Date(l.year, time.Month(month), day, 0, 0, 0, 0, d.loc)
		tz = d.tzName
		switch l.prec {
		case PrecisionYear:
			prec = pYear
		case PrecisionMonth:
			prec = pMonth
		default:
			prec = pDay
		}
	}
	pn := mi.precs[prec]
	if pn == 0 {
		return false
	}
	us := t.Unix()*1e6 + int64(t.Nanosecond()/1000)
	switch x := m.Interface().(type) {
	case *dtpb.DateTime:
		x.ValueUs, x.Timezone, x.Precision = us, tz, dtpb.DateTime_Precision(pn)
		return true
	case *dtpb.Instant:
		x.ValueUs, x.Timezone, x.Precision = us, tz, dtpb.Instant_Precision(pn)
		return true
	case *dtpb.Date:
		x.ValueUs, x.Timezone, x.Precision = us, tz, dtpb.Date_Precision(pn)
		return true
	}
	if us != 0 {
		m.Set(mi.value, protoreflect.ValueOfInt64(us))
	}
	if mi.tz != nil && tz != "" {
		m.Set(mi.tz, protoreflect.ValueOfString(tz))
	}
	m.Set(mi.prec, protoreflect.ValueOfEnum(pn))
	return true
}

// lexStrict lexes the common forms of a FHIR date/dateTime/instant that
// both the library's regular expressions and time.Parse accept: years 1000
// to 9999, real calendar days, seconds 00–59, a zone (Z or ±hh:mm within
// R4's range) whenever a time is given. Other spellings (valid or not) are
// left to the library.
func lexStrict(s string) (lexed, bool) {
	l, ok := lexDateLenient([]byte(s), true, false, false)
	if !ok || l.year < 1000 || l.prec == PrecisionSecond && l.sec > 59 {
		return l, false
	}
	return l, true
}
