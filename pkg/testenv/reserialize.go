package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Reserialize writes the JSON value data again as another exporter might: object keys
// shuffled at every level, random whitespace, strings re-escaped (\u escapes for some
// characters, "\/" for slashes), decimals respelled with an equivalent exponent ("4.5" →
// "4.5e0", "4.5E+00"), UTC offsets spelled "+00:00" instead of "Z", the entries of a Bundle
// shuffled, and the exporter's meta.lastUpdated and meta.source set on every resource. The
// content, as FHIR reads it, is unchanged. It fails the test on input that is not JSON.
func Reserialize(rng *rand.Rand, data []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		panic(fmt.Sprintf("testenv.Reserialize: not JSON: %v", err))
	}
	noise(rng, v, "")
	var b bytes.Buffer
	write(rng, &b, v)
	return b.Bytes()
}

// noise shuffles Bundle entries and sets exporter metadata on resources.
func noise(rng *rand.Rand, v any, key string) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["resourceType"]; ok && key != "contained" {
			meta, _ := x["meta"].(map[string]any)
			if meta == nil {
				meta = map[string]any{}
				x["meta"] = meta
			}
			meta["lastUpdated"] = fmt.Sprintf("2026-%02d-%02dT%02d:%02d:00Z", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60))
			meta["source"] = fmt.Sprintf("http://exporter-%d.example/fhir", rng.IntN(1000))
			if x["resourceType"] == "Bundle" {
				if es, ok := x["entry"].([]any); ok {
					rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
				}
			}
		}
		for k, c := range x {
			noise(rng, c, k)
		}
	case []any:
		for _, c := range x {
			noise(rng, c, key)
		}
	}
}

func ws(rng *rand.Rand, b *bytes.Buffer) {
	for range rng.IntN(3) {
		b.WriteByte(" \n\t "[rng.IntN(4)])
	}
}

func write(rng *rand.Rand, b *bytes.Buffer, v any) {
	ws(rng, b)
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			ws(rng, b)
			writeString(rng, b, k)
			ws(rng, b)
			b.WriteByte(':')
			write(rng, b, x[k])
		}
		ws(rng, b)
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, c := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			write(rng, b, c)
		}
		ws(rng, b)
		b.WriteByte(']')
	case string:
		if strings.HasSuffix(x, "Z") && len(x) > 19 && x[10] == 'T' && rng.IntN(2) == 0 {
			x = strings.TrimSuffix(x, "Z") + "+00:00"
		}
		writeString(rng, b, x)
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, "eE") || !strings.Contains(s, ".") {
			b.WriteString(s) // integers stay integers (integer elements refuse exponents)
			break
		}
		switch rng.IntN(4) {
		case 0:
			s += "e0"
		case 1:
			s += "E+00"
		case 2:
			s += "e-0"
		}
		b.WriteString(s)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	}
	ws(rng, b)
}

func writeString(rng *rand.Rand, b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		case r == '/' && rng.IntN(2) == 0:
			b.WriteString(`\/`)
		case r > 0x7f && r <= 0xffff && rng.IntN(2) == 0, r >= 'a' && r <= 'z' && rng.IntN(16) == 0:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
