package fhir

import (
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// reader walks JSON tokens of a message the preflight has accepted (valid
// JSON, UTF-8, no repeated key), so it checks little of the syntax itself;
// where it meets anything it does not read exactly as the library's JSON
// reader does (a surrogate escape, a raw control character) it fails and
// the message goes to the library.
type reader struct {
	b []byte
	i int
	// escapedStr says whether the last string str read held an escape.
	escapedStr bool
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *reader) consume(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *reader) literal(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// number returns the bytes of a JSON number token. Numbers with an exponent,
// or longer than a decimal could ever need, are refused unless they are
// within float64's range: the library's JSON reader checks those by
// converting them.
func (r *reader) number() ([]byte, bool) {
	start := r.i
	exp := false
scan:
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.':
		case c == 'e' || c == 'E':
			exp = true
		default:
			break scan
		}
		r.i++
	}
	n := r.b[start:r.i]
	if len(n) == 0 || n[0] != '-' && (n[0] < '0' || n[0] > '9') {
		return nil, false
	}
	if exp || len(n) > 32 {
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return nil, false
		}
	}
	return n, true
}

// key reads an object key. Keys without escapes are returned without a copy
// for the map lookup (the caller does not keep them).
func (r *reader) key() (string, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	j := r.i + 1
	for j < len(r.b) {
		c := r.b[j]
		if c == '"' {
			k := r.b[r.i+1 : j]
			r.i = j + 1
			return unsafeString(k), true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		j++
	}
	return r.str()
}

// str reads a JSON string value.
func (r *reader) str() (string, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	r.escapedStr = false
	j := r.i + 1
	for j < len(r.b) {
		c := r.b[j]
		if c == '"' {
			s := string(r.b[r.i+1 : j])
			r.i = j + 1
			return s, true
		}
		if c == '\\' {
			r.escapedStr = true
			return r.escaped()
		}
		if c < 0x20 {
			return "", false
		}
		j++
	}
	return "", false
}

// escaped reads a string with escapes.
func (r *reader) escaped() (string, bool) {
	out := make([]byte, 0, 32)
	j := r.i + 1
	for j < len(r.b) {
		c := r.b[j]
		switch {
		case c == '"':
			r.i = j + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(r.b) {
			return "", false
		}
		e := r.b[j+1]
		j += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if j+4 > len(r.b) {
				return "", false
			}
			v, ok := hex4(r.b[j:])
			if !ok {
				return "", false
			}
			j += 4
			if v >= 0xD800 && v <= 0xDFFF {
				// A surrogate pair is one character; a lone surrogate is left to
				// the library's reader.
				if v >= 0xDC00 || j+6 > len(r.b) || r.b[j] != '\\' || r.b[j+1] != 'u' {
					return "", false
				}
				lo, ok := hex4(r.b[j+2:])
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return "", false
				}
				v = (v-0xD800)<<10 + (lo - 0xDC00) + 0x10000
				j += 6
			}
			out = utf8.AppendRune(out, rune(v))
		default:
			return "", false
		}
	}
	return "", false
}

func hex4(b []byte) (uint32, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v uint32
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}

// skipValue skips one JSON value.
func (r *reader) skipValue() bool {
	r.ws()
	if r.i >= len(r.b) {
		return false
	}
	switch r.b[r.i] {
	case '"':
		_, ok := r.skipString()
		return ok
	case '{', '[':
		depth := 0
		for r.i < len(r.b) {
			switch r.b[r.i] {
			case '"':
				if _, ok := r.skipString(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					r.i++
					return true
				}
			}
			r.i++
		}
		return false
	}
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return true
		}
		r.i++
	}
	return true
}

// skipString skips a string and reports whether it held an escape.
func (r *reader) skipString() (escaped, ok bool) {
	j := r.i + 1
	for j < len(r.b) {
		switch r.b[j] {
		case '"':
			r.i = j + 1
			return escaped, true
		case '\\':
			escaped = true
			j += 2
			continue
		}
		j++
	}
	return escaped, false
}

// resourceType finds the resourceType of the object at the reader's
// position, without moving it: a plain string naming the type.
func (r *reader) resourceType() (string, bool) {
	save := r.i
	defer func() { r.i = save }()
	if !r.consume('{') {
		return "", false
	}
	for {
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] == '}' {
			return "", false
		}
		if r.b[r.i] == ',' {
			r.i++
			r.ws()
		}
		k, ok := r.key()
		if !ok || !r.consume(':') {
			return "", false
		}
		r.ws()
		if k == "resourceType" {
			if r.peek() != '"' {
				return "", false
			}
			return r.str()
		}
		if !r.skipValue() {
			return "", false
		}
	}
}

// unsafeString views b as a string without copying; for map lookups and
// comparisons of keys that are not kept.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
