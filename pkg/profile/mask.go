package profile

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maskResource returns raw (one resource's JSON as received) with every string value that holds
// one of the subject's identity numbers replaced by that string with the number masked. It
// works on decoded values: each JSON string is decoded (so a number written with \uXXXX
// escapes, wholly or in part, or percent-encoded in a conditional reference, is found like a
// plain one) and a string that holds a number is written again, encoded, with the number
// masked. Every other byte is kept as received. used records which secrets occurred.
func maskResource(raw []byte, secrets []secret, used []bool) []byte {
	if len(secrets) == 0 {
		return raw
	}
	if bytes.IndexByte(raw, '\\') < 0 && bytes.IndexByte(raw, '%') < 0 && !holdsForm(raw, secrets) {
		return raw // no string can decode to a number: nothing to mask
	}
	var out []byte // nil until the first change
	last := 0
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		end, escaped := stringEnd(raw, i)
		if end < 0 {
			break // not valid JSON: the decoder has refused it already
		}
		tok := raw[i : end+1]
		if !escaped && bytes.IndexByte(tok, '%') < 0 && !holdsForm(tok, secrets) {
			i = end
			continue
		}
		var s string
		if escaped {
			if err := json.Unmarshal(tok, &s); err != nil {
				i = end
				continue
			}
		} else {
			s = string(tok[1 : len(tok)-1])
		}
		if m, ok := maskString(s, secrets, used); ok {
			if out == nil {
				out = make([]byte, 0, len(raw))
			}
			out = append(out, raw[last:i]...)
			out = appendJSONString(out, m)
			last = end + 1
		}
		i = end
	}
	if out == nil {
		return raw
	}
	return append(out, raw[last:]...)
}

func holdsForm(b []byte, secrets []secret) bool {
	for _, sc := range secrets {
		for _, f := range sc.forms {
			if bytes.Contains(b, f) {
				return true
			}
		}
	}
	return false
}

// stringEnd returns the index of the quote that closes the JSON string opening at raw[start],
// or -1, and whether the string holds an escape.
func stringEnd(raw []byte, start int) (int, bool) {
	escaped := false
	for j := start + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return -1, escaped
}

// maskString masks the identity numbers in one decoded string value, also when the string
// percent-encodes them (a conditional reference such as Patient?identifier=…%7C3302…).
func maskString(s string, secrets []secret, used []bool) (string, bool) {
	if m, ok := maskPlain(s, secrets, used); ok {
		return m, true
	}
	if strings.IndexByte(s, '%') >= 0 {
		if u, err := url.QueryUnescape(s); err == nil && u != s {
			if m, ok := maskPlain(u, secrets, used); ok {
				return m, true
			}
		}
		if u, err := url.PathUnescape(s); err == nil && u != s {
			if m, ok := maskPlain(u, secrets, used); ok {
				return m, true
			}
		}
	}
	return s, false
}

func maskPlain(s string, secrets []secret, used []bool) (string, bool) {
	for _, sc := range secrets {
		for _, f := range sc.forms {
			if strings.Contains(s, string(f)) {
				return string(redact([]byte(s), secrets, used)), true
			}
		}
	}
	return s, false
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters
// escaped, everything else (non-ASCII included) as it is.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}
