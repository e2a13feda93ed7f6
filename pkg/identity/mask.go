package identity

import (
	"strings"
	"unicode/utf8"
)

// Mask returns value masked for display, after the same normalisation Hash applies:
//
//	nid (resident ID): first 4 and last 4 kept, e.g. 3302**********1234; values shorter
//	                   than 12 characters are fully masked
//	ins, mrn, phone and any other kind: last 4 kept, e.g. *******5678; values shorter than
//	                   8 characters are fully masked
//
// An empty value masks to "". The mask has as many characters as the normalised value.
func Mask(kind, value string) string {
	v := []rune(hashNormalize(kind, value))
	n := len(v)
	if n == 0 {
		return ""
	}
	keepHead, keepTail := 0, 4
	minLen := 8
	if kind == "nid" {
		keepHead, minLen = 4, 12
	}
	if n < minLen {
		return strings.Repeat("*", n)
	}
	var b strings.Builder
	b.Grow(n + utf8.UTFMax*(keepHead+keepTail))
	b.WriteString(string(v[:keepHead]))
	b.WriteString(strings.Repeat("*", n-keepHead-keepTail))
	b.WriteString(string(v[n-keepTail:]))
	return b.String()
}
