package fhir

import "bytes"

// A resource's JSON names its type in "resourceType", which FHIR recommends as the first key but
// does not require: publishers that marshal maps sort the keys, and resourceType then follows
// entry, contained, code… The decoder must know the type before it decodes the object, so it
// looks ahead. scanTop does that while validating every byte it passes, so a sorted message was
// validated once per level of nesting and then decoded: three passes over a Bundle's entries.
//
// typeFast looks ahead without validating (it only follows strings and nesting), and the
// validation is left to the decoding pass, which is strict over every byte anyway. What keeps
// the outcome the same is the order of errors: the validating look-ahead reported a syntax error
// before the decoder saw anything of the object, so when decoding an object whose type was found
// by typeFast fails, guarded runs scanTop over the object first and reports what it finds.
// Success means every byte was decoded strictly, so the type typeFast found was the one scanTop
// would have found. TestRescanFastChangesNoOutcome compares both ways on every example, sorted
// and damaged.

// rescanFast enables typeFast (a test compares every outcome with it off).
var rescanFast = true

// typeFast returns the "resourceType" of the object at pos without consuming or validating
// anything; ok is false when it cannot be sure — not an object, an escape in a key or in the
// type, a type that is not a non-empty string, no resourceType, the data ends — and scanTop has
// to decide.
func (d *decoder) typeFast() (rt string, ok bool) {
	data := d.data
	p := skipWS(data, d.pos)
	if p >= len(data) || data[p] != '{' {
		return "", false
	}
	p++
	for {
		p = skipWS(data, p)
		if p >= len(data) || data[p] != '"' {
			return "", false
		}
		k0 := p + 1
		e := bytes.IndexByte(data[k0:], '"')
		if e < 0 {
			return "", false
		}
		key := data[k0 : k0+e]
		if bytes.IndexByte(key, '\\') >= 0 {
			return "", false
		}
		p = skipWS(data, k0+e+1)
		if p >= len(data) || data[p] != ':' {
			return "", false
		}
		p = skipWS(data, p+1)
		if string(key) == "resourceType" {
			if p >= len(data) || data[p] != '"' {
				return "", false
			}
			v0 := p + 1
			e := bytes.IndexByte(data[v0:], '"')
			if e <= 0 || bytes.IndexByte(data[v0:v0+e], '\\') >= 0 {
				return "", false
			}
			return d.sub(v0, v0+e), true
		}
		if p, ok = skipFast(data, p); !ok {
			return "", false
		}
		p = skipWS(data, p)
		if p >= len(data) || data[p] != ',' {
			return "", false // '}' (no resourceType) or broken
		}
		p++
	}
}

// guarded decodes an object whose type typeFast found: when decoding fails, scanTop validates
// the object's look-ahead region first and reports a syntax error there instead, as it would
// have before decoding started. root is the d.root the validating look-ahead ran with.
func (d *decoder) guarded(root string, decode func() Resource) Resource {
	pos, depth, nsegs := d.pos, d.depth, len(d.segs)
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(*Error); ok {
				saved := d.root
				d.pos, d.depth, d.segs, d.root = pos, depth, d.segs[:nsegs], root
				d.scanTop(false) // panics with the first syntax error it meets, if any
				d.root = saved
			}
			panic(p)
		}
	}()
	return decode()
}

// skipWS returns the offset of the first non-whitespace byte at or after p.
func skipWS(data []byte, p int) int {
	for p < len(data) {
		switch data[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

// skipFast returns the end of the JSON value at p (after whitespace), following only strings
// and nesting; ok is false when the data ends first. It validates nothing.
func skipFast(data []byte, p int) (int, bool) {
	p = skipWS(data, p)
	depth := 0
	for p < len(data) {
		switch data[p] {
		case '"':
			p++
			for {
				i := bytes.IndexByte(data[p:], '"')
				if i < 0 {
					return len(data), false
				}
				p += i + 1
				// escaped when preceded by an odd number of backslashes
				bs := 0
				for q := p - 2; q >= 0 && data[q] == '\\'; q-- {
					bs++
				}
				if bs%2 == 0 {
					break
				}
			}
			if depth == 0 {
				return p, true
			}
		case '{', '[':
			depth++
			p++
		case '}', ']':
			depth--
			p++
			if depth <= 0 {
				return p, depth == 0
			}
		default:
			if depth == 0 { // a number, true, false or null
				for p < len(data) {
					switch data[p] {
					case ',', '}', ']', ' ', '\t', '\n', '\r':
						return p, true
					}
					p++
				}
				return p, true
			}
			p++
		}
	}
	return p, false
}
