package fhir

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// readStringOnce runs readString on data (which starts with '"') and reports the value, the
// position after it and whether it failed.
func readStringOnce(data []byte) (val string, end int, failed bool) {
	d := &decoder{data: data}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(*Error); !ok {
				panic(r)
			}
			failed = true
		}
	}()
	v := d.readString()
	return string(v), d.pos, false
}

// TestReadStringAgreesWithEncodingJSON checks the word-at-a-time string scanner against
// encoding/json on random strings that put quotes, escapes, control characters, invalid UTF-8
// and multi-byte characters at every alignment of the eight-byte words.
func TestReadStringAgreesWithEncodingJSON(t *testing.T) {
	pieces := []string{"a", "Z", "0", " ", "/", "\\\"", "\\\\", "\\n", "\\u00e9", "\\ud83d\\ude00", "血", "é", "😀",
		"\x01", "\x1f", "\t", "\xff", "\xc3", "\x7f", "~", "abcdefgh", "ABCDEFGHIJKLMNOP"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		body := ""
		for n := rng.IntN(12); n > 0; n-- {
			body += pieces[rng.IntN(len(pieces))]
		}
		for pad := 0; pad < 9; pad++ {
			raw := "\"" + body + "\""
			data := []byte(raw + ",\"next\"")
			got, end, failed := readStringOnce(data)
			var want string
			err := json.Unmarshal([]byte(raw), &want)
			// encoding/json replaces invalid UTF-8 instead of failing; FHIR JSON must be UTF-8.
			wantFail := err != nil || !utf8.ValidString(raw)
			if failed != wantFail {
				t.Fatalf("%q: failed=%v, encoding/json error %v, valid UTF-8 %v", raw, failed, err, utf8.ValidString(raw))
			}
			if failed {
				continue
			}
			if got != want || end != len(raw) {
				t.Fatalf("%q: got %q ending at %d, want %q ending at %d", raw, got, end, want, len(raw))
			}
			// the same string after a prefix, so that it starts at every word offset
			prefix := make([]byte, pad)
			for j := range prefix {
				prefix[j] = ' '
			}
			d := &decoder{data: append(prefix, data...), pos: pad}
			if v := d.readString(); string(v) != want || d.pos != pad+len(raw) {
				t.Fatalf("%q at offset %d: got %q ending at %d", raw, pad, v, d.pos)
			}
		}
	}
}
