package fhir

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON objects and arrays in a message. Real
// reports nest about 12 levels (Bundle → entry → resource → contained →
// extension → value…); hostile input is refused before it reaches the
// library's recursive decoder.
const maxDepth = 64

// preflight checks what the library's decoder does not, in one pass over the
// bytes, before it runs: that the input is JSON (CodeNotJSON, with the byte
// offset), that its top-level value is an object (CodeNotObject), that no
// object repeats a key (CodeInvalid: the library keeps the last value
// silently, so two readers of the same message could see different reports),
// that strings are UTF-8 and nesting is bounded (CodeInvalid). It returns the
// root's resourceType when the root object names one with a plain string, and
// the error's path starts with it. With spans set it also returns the bytes of
// every object at a resource position — the root, each "….resource" and each
// "….contained[n]" — by its path from the root ("" for the root,
// "entry[0].resource", "entry[0].resource.contained[1]").
func preflight(data []byte, spans bool) (rootType string, raw map[string][]byte, err *Error) {
	p := &scanner{data: data}
	if spans {
		p.spans = map[string][]byte{}
	}
	rt, err := p.run()
	if err != nil && err.Path != "" && rt != "" {
		err.Path = rt + "." + err.Path
	}
	return rt, p.spans, err
}

func (p *scanner) run() (rootType string, err *Error) {
	data := p.data
	p.ws()
	if p.pos >= len(data) {
		return "", &Error{Code: CodeNotJSON, Msg: "empty message: want a JSON object"}
	}
	top := data[p.pos]
	if !p.value(0, "") {
		return p.rootType, p.err
	}
	p.ws()
	if p.pos != len(data) {
		return p.rootType, &Error{Code: CodeNotJSON, Msg: "invalid JSON: data after the top-level value at byte " + strconv.Itoa(p.pos)}
	}
	if top != '{' {
		return "", &Error{Code: CodeNotObject, Msg: "the message is " + jsonKind(top) + ", not a JSON object: publish one FHIR resource (a Bundle or a DiagnosticReport) per message"}
	}
	return p.rootType, nil
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "a JSON array"
	case '"':
		return "a JSON string"
	case 't', 'f':
		return "a JSON boolean"
	case 'n':
		return "JSON null"
	}
	return "a JSON number"
}

type scanner struct {
	data     []byte
	pos      int
	err      *Error
	rootType string
	keys     [][]byte // keys of the open objects, stacked
	spans    map[string][]byte
}

func (p *scanner) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *scanner) syntax(what string) bool {
	if p.err == nil {
		p.err = &Error{Code: CodeNotJSON, Msg: "invalid JSON: " + what + " at byte " + strconv.Itoa(p.pos)}
	}
	return false
}

func (p *scanner) invalid(path, msg string) bool {
	if p.err == nil {
		p.err = &Error{Code: CodeInvalid, Path: path, Msg: msg}
	}
	return false
}

// value scans one JSON value; path is the element path, for messages.
func (p *scanner) value(depth int, path string) bool {
	p.ws()
	if p.pos >= len(p.data) {
		return p.syntax("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= maxDepth {
			return p.invalid(path, "elements nested deeper than "+strconv.Itoa(maxDepth)+" levels")
		}
		start := p.pos
		if !p.object(depth+1, path) {
			return false
		}
		if p.spans != nil && resourcePosition(path) {
			p.spans[path] = p.data[start:p.pos]
		}
		return true
	case c == '[':
		if depth >= maxDepth {
			return p.invalid(path, "elements nested deeper than "+strconv.Itoa(maxDepth)+" levels")
		}
		p.pos++
		p.ws()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			return true
		}
		for i := 0; ; i++ {
			if !p.value(depth+1, path+"["+strconv.Itoa(i)+"]") {
				return false
			}
			if done, ok := p.next(']', "array"); done || !ok {
				return ok
			}
		}
	case c == '"':
		_, ok := p.str(path)
		return ok
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return p.syntax("unexpected character " + strconv.QuoteRune(rune(p.data[p.pos])))
}

// resourcePosition reports whether an object at path holds a resource: the root, a Bundle
// entry's resource, or a contained resource.
func resourcePosition(path string) bool {
	if path == "" || path == "resource" || strings.HasSuffix(path, ".resource") {
		return true
	}
	i := strings.LastIndexByte(path, '.')
	return strings.HasPrefix(path[i+1:], "contained[")
}

func (p *scanner) lit(s string) bool {
	if len(p.data)-p.pos < len(s) || string(p.data[p.pos:p.pos+len(s)]) != s {
		return p.syntax("invalid literal")
	}
	p.pos += len(s)
	return true
}

func (p *scanner) number() bool {
	d := p.data
	i := p.pos
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		p.pos = i
		return p.syntax("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return p.syntax("invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return p.syntax("invalid number")
		}
	}
	p.pos = i
	return true
}

// str scans a string and returns its raw bytes between the quotes (escapes
// left as they are).
func (p *scanner) str(path string) ([]byte, bool) {
	d := p.data
	start := p.pos + 1
	i := start
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return d[start:i], true
		case c == '\\':
			if i+1 >= len(d) {
				p.pos = i
				return nil, p.syntax("unterminated string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex4(d[i+2:i+6]) {
					p.pos = i
					return nil, p.syntax("invalid \\u escape")
				}
				i += 6
			default:
				p.pos = i
				return nil, p.syntax("invalid escape")
			}
		case c < 0x20:
			p.pos = i
			return nil, p.syntax("control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && n == 1 {
				p.pos = i
				return nil, p.invalid(path, "string is not valid UTF-8 (FHIR JSON is UTF-8)")
			}
			i += n
		}
	}
	p.pos = len(d)
	return nil, p.syntax("unterminated string")
}

// unescape returns the text of a JSON string's raw bytes (escapes resolved);
// the bytes were already checked by str.
func unescape(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return raw
	}
	return []byte(s)
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *scanner) object(depth int, path string) bool {
	p.pos++ // '{'
	base := len(p.keys)
	var seen map[string]struct{}
	defer func() { p.keys = p.keys[:base] }()
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return true
	}
	for {
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.syntax("expected a string key")
		}
		key, ok := p.str(path)
		if !ok {
			return false
		}
		key = unescape(key)
		dup := false
		if seen != nil {
			_, dup = seen[string(key)]
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range p.keys[base:] {
				if string(k) == string(key) {
					dup = true
					break
				}
			}
			p.keys = append(p.keys, key)
			if len(p.keys)-base > 32 { // a large object: a set instead of a linear scan
				seen = make(map[string]struct{}, 64)
				for _, k := range p.keys[base:] {
					seen[string(k)] = struct{}{}
				}
			}
		}
		if dup {
			return p.invalid(joinPath(path, string(key)), "duplicate key "+quoteName(string(key))+" in one JSON object: send each element once")
		}
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.syntax("expected ':'")
		}
		p.pos++
		p.ws()
		if depth == 1 && string(key) == "resourceType" && p.pos < len(p.data) && p.data[p.pos] == '"' {
			v, ok := p.str(path)
			if !ok {
				return false
			}
			p.rootType = string(unescape(v))
		} else if !p.value(depth, joinPath(path, string(key))) {
			return false
		}
		if done, ok := p.next('}', "object"); done || !ok {
			return ok
		}
	}
}

// next reads what follows an element of an array or an object: its closing
// byte (done) or a comma.
func (p *scanner) next(closer byte, kind string) (done, ok bool) {
	p.ws()
	switch {
	case p.pos >= len(p.data):
		return false, p.syntax("unterminated " + kind)
	case p.data[p.pos] == closer:
		p.pos++
		return true, true
	case p.data[p.pos] != ',':
		return false, p.syntax("expected ',' or '" + string(closer) + "'")
	}
	p.pos++
	return false, true
}
