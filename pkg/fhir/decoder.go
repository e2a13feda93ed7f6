package fhir

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds JSON nesting so hostile input cannot exhaust the stack.
const maxDepth = 256

// seg is one step of the current FHIR path: an element name, or an array
// index when key is nil.
type seg struct {
	key []byte
	idx int
}

// decoder is a strict, single-pass FHIR JSON decoder over an in-memory
// document. Failures abort decoding with panic(*Error), recovered by run.
type decoder struct {
	data  []byte
	pos   int
	depth int
	root  string
	segs  []seg
	key   []byte // current object key (valid until the next key is read)
	buf   []byte // scratch for unescaping
	// whole is data as one string, so that unescaped string values are
	// substrings of it instead of one allocation each; strLo/strHi locate
	// the last string read when it had no escapes (strHi < 0 otherwise).
	whole        string
	strLo, strHi int
}

// text returns the last string read, as a Go string.
func (d *decoder) text(b []byte) string {
	if d.strHi >= 0 {
		return d.sub(d.strLo, d.strHi)
	}
	return string(b)
}

// sub returns data[lo:hi] as a substring of whole (one copy of data for all of them).
func (d *decoder) sub(lo, hi int) string {
	if d.whole == "" {
		d.whole = string(d.data)
	}
	return d.whole[lo:hi]
}

// run executes f, converting an abort into an *Error.
func (d *decoder) run(f func()) (err *Error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	f()
	return nil
}

func (d *decoder) path() string {
	b := make([]byte, 0, 64)
	b = append(b, d.root...)
	for _, s := range d.segs {
		if s.key == nil {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.idx), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	return string(b)
}

func (d *decoder) fail(code, msg string) {
	panic(&Error{Code: code, Path: d.path(), Msg: msg})
}

func (d *decoder) syntax(msg string) {
	if d.pos >= len(d.data) {
		d.fail(CodeNotJSON, "invalid JSON: unexpected end of input")
	}
	d.fail(CodeNotJSON, "invalid JSON at offset "+strconv.Itoa(d.pos)+": "+msg)
}

func (d *decoder) push(key []byte) { d.segs = append(d.segs, seg{key: key}) }
func (d *decoder) pushIdx(i int)   { d.segs = append(d.segs, seg{idx: i}) }
func (d *decoder) pop()            { d.segs = d.segs[:len(d.segs)-1] }

func (d *decoder) unknown() {
	d.fail(CodeUnknownElement, "unknown element \""+string(d.key)+"\"")
}

func (d *decoder) duplicate() { d.fail(CodeInvalid, "duplicate element") }

func (d *decoder) required(name string) {
	d.push([]byte(name))
	d.fail(CodeRequired, "missing required element \""+name+"\"")
}

func (d *decoder) ws() { d.pos = skipWS(d.data, d.pos) }

// begin skips whitespace and returns the offset where the next value starts.
func (d *decoder) begin() int {
	d.ws()
	return d.pos
}

func (d *decoder) peek() byte {
	d.ws()
	if d.pos >= len(d.data) {
		d.syntax("")
	}
	return d.data[d.pos]
}

// typeErr reports the JSON type found where want was expected.
func (d *decoder) typeErr(want string) {
	var got string
	switch d.peek() {
	case '{':
		got = "object"
	case '[':
		got = "array"
	case '"':
		got = "string"
	case 't', 'f':
		got = "boolean"
	case 'n':
		d.literal("null")
		d.fail(CodeInvalid, "null is not allowed")
	default:
		if c := d.data[d.pos]; c == '-' || (c >= '0' && c <= '9') {
			got = "number"
		} else {
			d.syntax("invalid character " + strconv.QuoteRune(rune(c)))
		}
	}
	d.fail(CodeInvalid, "expected "+want+", got "+got)
}

func (d *decoder) literal(lit string) {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		d.syntax("invalid literal")
	}
	d.pos += len(lit)
}

func (d *decoder) enter() {
	d.depth++
	if d.depth > maxDepth {
		d.fail(CodeInvalid, "nesting too deep")
	}
}

// objStart consumes '{' of a non-empty object.
func (d *decoder) objStart() {
	if d.peek() != '{' {
		d.typeErr("object")
	}
	d.enter()
	d.pos++
	if d.peek() == '}' {
		d.fail(CodeInvalid, "empty object is not allowed")
	}
}

// objKey reads the i-th key of the current object and pushes it on the
// path; it returns false (consuming '}') when the object ends.
func (d *decoder) objKey(i int) bool {
	c := d.peek()
	if i > 0 {
		if c == '}' {
			d.pos++
			d.depth--
			return false
		}
		if c != ',' {
			d.syntax("expected ',' or '}'")
		}
		d.pos++
		c = d.peek()
	}
	if c != '"' {
		d.syntax("expected object key")
	}
	d.key = d.readString()
	if d.peek() != ':' {
		d.syntax("expected ':'")
	}
	d.pos++
	d.push(d.key)
	return true
}

// arrStart consumes '[' of a non-empty array.
func (d *decoder) arrStart() {
	if d.peek() != '[' {
		d.typeErr("array")
	}
	d.enter()
	d.pos++
	if d.peek() == ']' {
		d.fail(CodeInvalid, "empty array is not allowed")
	}
}

// arrNext positions on the i-th element; false (consuming ']') at the end.
func (d *decoder) arrNext(i int) bool {
	if i == 0 {
		return true
	}
	c := d.peek()
	if c == ']' {
		d.pos++
		d.depth--
		return false
	}
	if c != ',' {
		d.syntax("expected ',' or ']'")
	}
	d.pos++
	return true
}

// readString reads a JSON string at pos (which holds '"') and returns its
// unescaped bytes; the result aliases data when there are no escapes.
func (d *decoder) readString() []byte {
	d.pos++
	start := d.pos
	ascii := true
	// Eight bytes at a time while none of them ends the string, starts an escape or is a
	// control character (long narratives and attachments are most of a report's bytes); the
	// byte loop below handles the word that holds one.
	for d.pos+8 <= len(d.data) {
		x := binary.LittleEndian.Uint64(d.data[d.pos:])
		if hasLess(x, 0x20)|hasZero(x^(lsb*'"'))|hasZero(x^(lsb*'\\')) != 0 {
			break
		}
		if x&msb != 0 {
			ascii = false
		}
		d.pos += 8
	}
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.data[start:d.pos]
			d.strLo, d.strHi = start, d.pos
			d.pos++
			if !ascii && !utf8.Valid(s) {
				d.fail(CodeNotJSON, "invalid UTF-8 in string")
			}
			return s
		case c == '\\':
			return d.readEscaped(start)
		case c < 0x20:
			d.syntax("control character in string")
		case c >= 0x80:
			ascii = false
		}
		d.pos++
	}
	d.syntax("unterminated string")
	return nil
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasZero is non-zero when a byte of x is zero (exact: no false positive without a zero byte).
func hasZero(x uint64) uint64 { return (x - lsb) &^ x & msb }

// hasLess is non-zero when a byte of x is below n (n <= 128; exact in the same sense).
func hasLess(x uint64, n uint64) uint64 { return (x - lsb*n) &^ x & msb }

func (d *decoder) readEscaped(start int) []byte {
	d.strHi = -1
	b := append(d.buf[:0], d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if !utf8.Valid(b) {
				d.fail(CodeNotJSON, "invalid UTF-8 in string")
			}
			d.buf = b
			return append([]byte(nil), b...)
		case c < 0x20:
			d.syntax("control character in string")
		case c != '\\':
			b = append(b, c)
			d.pos++
			continue
		}
		d.pos++
		if d.pos >= len(d.data) {
			break
		}
		e := d.data[d.pos]
		d.pos++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := d.hex4()
			if utf16High(r) {
				if d.pos+6 <= len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
					d.pos += 2
					r2 := d.hex4()
					if r2 >= 0xDC00 && r2 <= 0xDFFF {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					} else {
						b = utf8.AppendRune(b, utf8.RuneError)
						r = r2
					}
				} else {
					r = utf8.RuneError
				}
			}
			if r >= 0xD800 && r <= 0xDFFF {
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default:
			d.pos--
			d.syntax("invalid escape")
		}
	}
	d.syntax("unterminated string")
	return nil
}

func utf16High(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }

func (d *decoder) hex4() rune {
	if d.pos+4 > len(d.data) {
		d.syntax("invalid \\u escape")
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			d.syntax("invalid \\u escape")
		}
	}
	d.pos += 4
	return r
}

// readNumber reads a JSON number and returns its text.
func (d *decoder) readNumber() []byte {
	start := d.pos
	p := d.pos
	n := len(d.data)
	if p < n && d.data[p] == '-' {
		p++
	}
	switch {
	case p < n && d.data[p] == '0':
		p++
	case p < n && d.data[p] >= '1' && d.data[p] <= '9':
		for p < n && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
		}
	default:
		d.pos = p
		d.syntax("invalid number")
	}
	if p < n && d.data[p] == '.' {
		p++
		q := p
		for p < n && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
		}
		if p == q {
			d.pos = p
			d.syntax("invalid number")
		}
	}
	if p < n && (d.data[p] == 'e' || d.data[p] == 'E') {
		p++
		if p < n && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		q := p
		for p < n && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
		}
		if p == q {
			d.pos = p
			d.syntax("invalid number")
		}
	}
	d.pos = p
	return d.data[start:p]
}

// skip validates and skips any JSON value (nulls and empties allowed).
func (d *decoder) skip() {
	switch c := d.peek(); c {
	case '{':
		d.enter()
		d.pos++
		if d.peek() == '}' {
			d.pos++
			d.depth--
			return
		}
		for {
			if d.peek() != '"' {
				d.syntax("expected object key")
			}
			d.readString()
			if d.peek() != ':' {
				d.syntax("expected ':'")
			}
			d.pos++
			d.skip()
			switch d.peek() {
			case ',':
				d.pos++
			case '}':
				d.pos++
				d.depth--
				return
			default:
				d.syntax("expected ',' or '}'")
			}
		}
	case '[':
		d.enter()
		d.pos++
		if d.peek() == ']' {
			d.pos++
			d.depth--
			return
		}
		for {
			d.skip()
			switch d.peek() {
			case ',':
				d.pos++
			case ']':
				d.pos++
				d.depth--
				return
			default:
				d.syntax("expected ',' or ']'")
			}
		}
	case '"':
		d.readString()
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			d.readNumber()
			return
		}
		d.syntax("invalid character " + strconv.QuoteRune(rune(c)))
	}
}

// ---- primitives ----

// strVal reads a non-empty JSON string validated as kind.
func (d *decoder) strVal(kind primKind) string {
	if d.peek() != '"' {
		d.typeErr("string")
	}
	b := d.readString()
	if len(b) == 0 {
		d.fail(CodeInvalid, "empty string is not allowed")
	}
	if msg := checkPrim(kind, b); msg != "" {
		d.fail(CodeInvalid, msg)
	}
	return d.text(b)
}

func (d *decoder) str(dst *string, kind primKind) {
	if *dst != "" {
		d.duplicate()
	}
	*dst = d.strVal(kind)
}

func (d *decoder) strs(dst *[]string, kind primKind) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	out := make([]string, 0, 2)
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		out = append(out, d.strVal(kind))
		d.pop()
	}
	*dst = out
}

func (d *decoder) codeVal(valid func(string) bool) string {
	s := d.strVal(kCode)
	if !valid(s) {
		d.fail(CodeInvalid, "code \""+s+"\" is not in the required value set")
	}
	return s
}

func (d *decoder) code(dst *string, valid func(string) bool) {
	if *dst != "" {
		d.duplicate()
	}
	*dst = d.codeVal(valid)
}

func (d *decoder) codes(dst *[]string, valid func(string) bool) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	var out []string
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		out = append(out, d.codeVal(valid))
		d.pop()
	}
	*dst = out
}

func (d *decoder) boolVal() bool {
	switch d.peek() {
	case 't':
		d.literal("true")
		return true
	case 'f':
		d.literal("false")
		return false
	}
	d.typeErr("boolean")
	return false
}

func (d *decoder) boolean(dst **bool) {
	if *dst != nil {
		d.duplicate()
	}
	v := d.boolVal()
	*dst = &v
}

func (d *decoder) bools(dst *[]bool) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	var out []bool
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		out = append(out, d.boolVal())
		d.pop()
	}
	*dst = out
}

func (d *decoder) numText() []byte {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		d.typeErr("number")
	}
	return d.readNumber()
}

func (d *decoder) intVal(kind primKind) int {
	b := d.numText()
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		d.fail(CodeInvalid, "invalid integer "+strconv.Quote(string(b)))
	}
	switch {
	case kind == kPositiveInt && n < 1:
		d.fail(CodeInvalid, "positiveInt must be >= 1")
	case kind == kUnsignedInt && n < 0:
		d.fail(CodeInvalid, "unsignedInt must be >= 0")
	}
	return int(n)
}

func (d *decoder) integer(dst **int, kind primKind) {
	if *dst != nil {
		d.duplicate()
	}
	v := d.intVal(kind)
	*dst = &v
}

func (d *decoder) ints(dst *[]int, kind primKind) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	var out []int
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		out = append(out, d.intVal(kind))
		d.pop()
	}
	*dst = out
}

func (d *decoder) decimal(dst *json.Number) {
	if *dst != "" {
		d.duplicate()
	}
	*dst = json.Number(d.numText())
}

func (d *decoder) decimals(dst *[]json.Number) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	var out []json.Number
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		out = append(out, json.Number(d.numText()))
		d.pop()
	}
	*dst = out
}

// elem decodes a primitive's extension sibling ("_status").
func (d *decoder) elem(dst **Element) {
	if *dst != nil {
		d.duplicate()
	}
	*dst = new(Element)
	d.decElement(*dst)
}

// elems decodes "_given"-style arrays, where null aligns with values that
// carry no extension.
func (d *decoder) elems(dst *[]*Element) {
	if *dst != nil {
		d.duplicate()
	}
	d.arrStart()
	var out []*Element
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		if d.peek() == 'n' {
			d.literal("null")
			out = append(out, nil)
		} else {
			e := new(Element)
			d.decElement(e)
			out = append(out, e)
		}
		d.pop()
	}
	*dst = out
}

// decodeSlice decodes a non-empty array of complex values.
func decodeSlice[T any](d *decoder, dst []T, f func(*decoder, *T)) []T {
	if dst != nil {
		d.duplicate()
	}
	d.arrStart()
	dst = make([]T, 0, 2)
	var zero T
	for i := 0; d.arrNext(i); i++ {
		d.pushIdx(i)
		dst = append(dst, zero)
		f(d, &dst[len(dst)-1])
		d.pop()
	}
	return dst
}

// choice fails when more than one alternative of a value[x] is present.
func (d *decoder) choice(set ...bool) {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	if n > 1 {
		d.fail(CodeInvalid, "more than one type given for a choice element [x]")
	}
}
