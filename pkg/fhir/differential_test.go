package fhir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// The differential test holds the one-pass decoder to the library: on every
// input both decode, the one-pass decoder accepting means the library accepts
// the same bytes and returns an equal proto (proto.Equal), and on the valid
// example files and fixtures the one-pass decoder accepts everything the
// library accepts (no fallback).

// oracle decodes with the library alone; fast with the one-pass decoder alone.
type diffResult struct {
	preflightRefused     bool
	fastOK, libOK, equal bool
	diff                 string
}

func differential(d *Decoder, data []byte) diffResult {
	var res diffResult
	if _, _, perr := preflight(data, false); perr != nil {
		res.preflightRefused = true
		return res
	}
	fcr, fok := fastDecode(data, d.loc)
	lcr, lerr := d.slow(data) // the library, and the hub's rule beyond it (no empty bound code)
	res.fastOK, res.libOK = fok, lerr == nil
	if fok && lerr == nil {
		res.equal = proto.Equal(fcr, lcr)
		if !res.equal {
			res.diff = diffProtos(lcr, fcr)
		}
	}
	return res
}

func diffProtos(lib, fast proto.Message) string {
	return fmt.Sprintf("library:\n%v\none-pass:\n%v", lib, fast)
}

// corpus returns the files the differential test starts from: every file of
// ../shared/fhir/examples (each NDJSON line on its own), docs/examples, this
// package's testdata and the committed fuzz corpus.
func corpus(t testing.TB) (inputs []corpusItem) {
	add := func(name string, data []byte) { inputs = append(inputs, corpusItem{name, data}) }
	walk := func(dir string) {
		_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return nil
			}
			data, rerr := os.ReadFile(p)
			if rerr != nil {
				return nil
			}
			switch {
			case strings.HasSuffix(p, ".ndjson"):
				sc := bufio.NewScanner(bytes.NewReader(data))
				sc.Buffer(make([]byte, 1<<20), 16<<20)
				for i := 1; sc.Scan(); i++ {
					add(p+":"+strconv.Itoa(i), append([]byte(nil), sc.Bytes()...))
				}
			case strings.Contains(p, "testdata/fuzz/"):
				// go test fuzz v1 files: one []byte("…") value per file.
				for _, line := range strings.Split(string(data), "\n") {
					if v, ok := strings.CutPrefix(line, "[]byte("); ok {
						if s, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
							add(p, []byte(s))
						}
					}
				}
			case strings.HasSuffix(p, ".json"):
				add(p, data)
			}
			return nil
		})
	}
	if _, err := os.Stat("../../../shared/fhir/examples"); err != nil {
		t.Logf("../shared/fhir/examples is absent: the differential test runs on docs/examples, testdata and the fuzz corpus only")
	}
	walk("../../../shared/fhir/examples")
	walk("../../docs/examples")
	walk("testdata")
	return inputs
}

type corpusItem struct {
	name string
	data []byte
}

func TestDifferentialDecoder(t *testing.T) {
	items := corpus(t)
	if len(items) == 0 {
		t.Fatal("no inputs")
	}
	zones := []*namedZone{{"UTC", nil}, {"Asia/Shanghai", mustZone(t, "Asia/Shanghai")}, {"fixed -03:30", time.FixedZone("X", -(3*3600 + 1800))}}
	var st diffStats
	rng := rand.New(rand.NewPCG(20261204, 1))
	mutations := 24
	if testing.Short() {
		mutations = 6
	}
	for zi, z := range zones {
		d := NewDecoder(z.loc)
		for _, it := range items {
			// The file as it is: the one-pass decoder must accept what the library accepts.
			r := differential(d, it.data)
			st.count(t, it.name+" in "+z.name, r, true)
			if zi > 0 {
				continue // mutations once, in UTC; the zones matter for times, which the originals carry
			}
			doc, err := parseOrdered(it.data)
			if err != nil {
				continue
			}
			for i := 0; i < mutations; i++ {
				m := mutate(rng, cloneOrdered(doc))
				data := serialize(rng, m)
				r := differential(d, data)
				if dir := *diffDump; dir != "" && (r.fastOK != r.libOK || r.fastOK && !r.equal) {
					_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-m%d.json", filepath.Base(it.name), i)), data, 0o644)
				}
				st.count(t, fmt.Sprintf("%s mutation %d", it.name, i), r, false)
			}
		}
	}
	t.Logf("differential: %d inputs tried (%d from files, %d mutated), %d refused by the preflight; library accepted %d, one-pass accepted %d (all equal to the library's), fallbacks %d (%d on unmutated files)",
		st.tried, st.files, st.tried-st.files, st.preflight, st.lib, st.fast, st.fallback, st.fileFallback)
	fmt.Printf("differential inputs=%d library_accepted=%d fast_accepted=%d fallbacks=%d file_fallbacks=%d\n", st.tried, st.lib, st.fast, st.fallback, st.fileFallback)
	if st.fast == 0 || st.lib == 0 {
		t.Fatal("nothing accepted: the corpus is not what the test expects")
	}
}

// diffDump names a folder where the differential test writes the mutated inputs on which the two
// decoders disagree or the one-pass decoder falls back (go test ./pkg/fhir -args -diffdump DIR).
var diffDump = flag.String("diffdump", "", "write the mutated inputs the decoders disagree on, or that fall back, to this folder")

type namedZone struct {
	name string
	loc  *time.Location
}

func mustZone(t testing.TB, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("zone %s: %v", name, err)
	}
	return l
}

type diffStats struct {
	tried, files, preflight, lib, fast, fallback, fileFallback int
}

func (s *diffStats) count(t *testing.T, name string, r diffResult, file bool) {
	t.Helper()
	s.tried++
	if file {
		s.files++
	}
	if r.preflightRefused {
		s.preflight++
		return
	}
	if r.libOK {
		s.lib++
	}
	if r.fastOK {
		s.fast++
		if !r.libOK {
			t.Errorf("%s: the one-pass decoder accepted what the library refuses", name)
		} else if !r.equal {
			t.Errorf("%s: the one-pass decoder's proto differs from the library's:\n%s", name, r.diff)
		}
	}
	if r.libOK && !r.fastOK {
		s.fallback++
		if file {
			s.fileFallback++
			t.Errorf("%s: valid, but the one-pass decoder left it to the library", name)
		}
	}
}

// ordered JSON: objects keep their key order so that mutations and
// re-serialisation control it.
type ordObj struct {
	keys []string
	vals []any
}

func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readOrdered(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func readOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			o := &ordObj{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := readOrdered(dec)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, kt.(string))
				o.vals = append(o.vals, v)
			}
			_, err := dec.Token()
			return o, err
		case '[':
			var a []any
			for dec.More() {
				v, err := readOrdered(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			if a == nil {
				a = []any{}
			}
			return a, err
		}
	}
	return tok, nil
}

func cloneOrdered(v any) any {
	switch x := v.(type) {
	case *ordObj:
		o := &ordObj{keys: append([]string(nil), x.keys...)}
		for _, e := range x.vals {
			o.vals = append(o.vals, cloneOrdered(e))
		}
		return o
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = cloneOrdered(e)
		}
		return a
	}
	return v
}

// site is a place in the document a mutation can change.
type site struct {
	obj *ordObj
	i   int // key index in obj
}

func collectSites(v any, out *[]site) {
	switch x := v.(type) {
	case *ordObj:
		for i := range x.keys {
			*out = append(*out, site{x, i})
			collectSites(x.vals[i], out)
		}
	case []any:
		for _, e := range x {
			collectSites(e, out)
		}
	}
}

var badValues = []any{
	"", " ", "x  y", " lead", "trail ", "a\u0001b", "é", "%zz", "http://[::1", "urn:uuid:XYZ", "urn:oid:1.2.3",
	"2020", "2020-13", "2020-02-30", "2020-02-29", "2021-02-29", "2020-01-01T25:00:00Z", "2020-01-01T10:00:00",
	"2020-01-01T10:00:00.123+08:00", "2020-01-01T10:00:00.1234567891Z", "2020-01-01T10:00:60Z", "2020-01-01T10:00:00-00:00",
	"2020-01-01T10:00:00+14:30", "0999-01-01", "10:00:00", "final", "FINAL", "Final", "amended", "entered-in-error", "bogus-code",
	json.Number("0"), json.Number("-0"), json.Number("01"), json.Number("1.0"), json.Number("1e999"), json.Number("1E2"),
	json.Number("2147483648"), json.Number("-2147483649"), json.Number("4294967296"), json.Number("12345678901234567890123456789012345678901234567890"),
	true, false, nil, []any{}, []any{nil}, &ordObj{}, "Patient/x", "Organization/y", "Observation/z", "#c", "#", "Foo/1",
	"Patient/1/_history/2", "Patient/1/_history/bad id", "patient/1", "Patient/", "urn:uuid:3e8b1a02-2d5a-4c2e-9f00-1234567890ab",
	"aGVsbG8=", "aGVs bG8=", "not base64!",
}

func mutate(rng *rand.Rand, doc any) any {
	var sites []site
	collectSites(doc, &sites)
	if len(sites) == 0 {
		return doc
	}
	n := 1 + rng.IntN(3)
	for k := 0; k < n; k++ {
		s := sites[rng.IntN(len(sites))]
		if s.i >= len(s.obj.keys) {
			continue
		}
		key := s.obj.keys[s.i]
		switch rng.IntN(14) {
		case 0: // drop
			s.obj.keys = append(s.obj.keys[:s.i], s.obj.keys[s.i+1:]...)
			s.obj.vals = append(s.obj.vals[:s.i], s.obj.vals[s.i+1:]...)
		case 1: // rename
			names := []string{"foo", strings.ToUpper(key[:1]) + key[1:], "_" + key, key + "X", "valueString", "valueQuantity", "resourceType", "fhir_comments"}
			s.obj.keys[s.i] = names[rng.IntN(len(names))]
		case 2, 3, 4: // bad or other primitive values
			s.obj.vals[s.i] = cloneOrdered(badValues[rng.IntN(len(badValues))])
		case 5: // retype: wrap in an array, or unwrap one
			if a, ok := s.obj.vals[s.i].([]any); ok && len(a) > 0 {
				s.obj.vals[s.i] = a[0]
			} else {
				s.obj.vals[s.i] = []any{s.obj.vals[s.i]}
			}
		case 6: // duplicate an array element
			if a, ok := s.obj.vals[s.i].([]any); ok && len(a) > 0 {
				s.obj.vals[s.i] = append(a, cloneOrdered(a[rng.IntN(len(a))]))
			}
		case 7: // a primitive extension beside the element
			ext := &ordObj{keys: []string{"extension"}, vals: []any{[]any{&ordObj{keys: []string{"url", "valueString"}, vals: []any{"http://example.org/x", "y"}}}}}
			if rng.IntN(3) == 0 {
				ext = &ordObj{keys: []string{"id"}, vals: []any{"e1"}}
			}
			var v any = ext
			if _, ok := s.obj.vals[s.i].([]any); ok {
				v = []any{nil, ext}
			}
			s.obj.keys = append(s.obj.keys, "_"+key)
			s.obj.vals = append(s.obj.vals, v)
			if rng.IntN(2) == 0 { // extension only
				s.obj.keys[s.i] = "_drop_" + key
			}
		case 8: // unknown element
			s.obj.keys = append(s.obj.keys, "unknownElement")
			s.obj.vals = append(s.obj.vals, "x")
		case 9: // contained resource
			p := &ordObj{keys: []string{"resourceType", "id", "name"}, vals: []any{"Patient", "c", []any{&ordObj{keys: []string{"family"}, vals: []any{"Wang"}}}}}
			s.obj.keys = append(s.obj.keys, "contained")
			s.obj.vals = append(s.obj.vals, []any{p})
		case 10: // nested Bundle around an object that is a resource
			if o, ok := s.obj.vals[s.i].(*ordObj); ok && len(o.keys) > 0 {
				entry := &ordObj{keys: []string{"fullUrl", "resource"}, vals: []any{"urn:uuid:3e8b1a02-2d5a-4c2e-9f00-1234567890ab", o}}
				s.obj.vals[s.i] = &ordObj{keys: []string{"resourceType", "type", "entry"}, vals: []any{"Bundle", "collection", []any{entry}}}
			}
		case 11: // deep nesting
			var v any = &ordObj{keys: []string{"url", "valueString"}, vals: []any{"http://example.org/d", "deep"}}
			depth := 20 + rng.IntN(50)
			for j := 0; j < depth; j++ {
				v = &ordObj{keys: []string{"url", "extension"}, vals: []any{"http://example.org/d", []any{v}}}
			}
			s.obj.keys = append(s.obj.keys, "extension")
			s.obj.vals = append(s.obj.vals, []any{v})
		case 12: // null
			s.obj.vals[s.i] = nil
		case 13: // a reference
			s.obj.vals[s.i] = &ordObj{keys: []string{"reference"}, vals: []any{badValues[rng.IntN(len(badValues))]}}
		}
	}
	for _, s := range sites { // "_drop_" marks a key whose element is dropped, its extension kept
		for i := 0; i < len(s.obj.keys); i++ {
			if strings.HasPrefix(s.obj.keys[i], "_drop_") {
				s.obj.keys = append(s.obj.keys[:i], s.obj.keys[i+1:]...)
				s.obj.vals = append(s.obj.vals[:i], s.obj.vals[i+1:]...)
				i--
			}
		}
	}
	return doc
}

// serialize writes v as JSON with a random key order (as given, sorted,
// shuffled), random escapes and random white space. Keys repeated by a
// mutation make the preflight refuse the message, which is counted.
func serialize(rng *rand.Rand, v any) []byte {
	order := rng.IntN(3)
	escape := rng.IntN(4) == 0
	space := rng.IntN(3) == 0
	var b bytes.Buffer
	var w func(v any)
	ws := func() {
		if space {
			b.WriteString([]string{"", " ", "\n  ", "\t"}[rng.IntN(4)])
		}
	}
	str := func(s string) {
		if !escape {
			q, _ := json.Marshal(s)
			b.Write(q)
			return
		}
		b.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r < 0x20 || rng.IntN(3) == 0:
				fmt.Fprintf(&b, "\\u%04x", r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	}
	w = func(v any) {
		ws()
		switch x := v.(type) {
		case *ordObj:
			idx := make([]int, len(x.keys))
			for i := range idx {
				idx[i] = i
			}
			switch order {
			case 1:
				sort.Slice(idx, func(i, j int) bool { return x.keys[idx[i]] < x.keys[idx[j]] })
			case 2:
				rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			}
			b.WriteByte('{')
			for n, i := range idx {
				if n > 0 {
					b.WriteByte(',')
				}
				ws()
				str(x.keys[i])
				ws()
				b.WriteByte(':')
				w(x.vals[i])
			}
			ws()
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteByte(',')
				}
				w(e)
			}
			ws()
			b.WriteByte(']')
		case string:
			str(x)
		case json.Number:
			b.WriteString(string(x))
		case bool:
			b.WriteString(strconv.FormatBool(x))
		case nil:
			b.WriteString("null")
		}
		ws()
	}
	w(v)
	return b.Bytes()
}

// FuzzFastDecoder: on any input the preflight accepts, the one-pass decoder
// accepting means the library accepts it too, with an equal proto.
func FuzzFastDecoder(f *testing.F) {
	for _, it := range corpus(f) {
		if len(it.data) < 8<<10 {
			f.Add(it.data)
		}
	}
	d := NewDecoder(time.FixedZone("CST", 8*3600))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := differential(d, data)
		if r.fastOK && !r.libOK {
			t.Fatalf("the one-pass decoder accepted what the library refuses: %q", data)
		}
		if r.fastOK && !r.equal {
			t.Fatalf("protos differ for %q:\n%s", data, r.diff)
		}
		if r.fastOK {
			cr, _ := fastDecode(data, d.loc)
			got, err1 := Canonical(Resource(cr), nil)
			want, err2 := canonicalByClone(Resource(cr), nil)
			if err1 == nil && err2 == nil && !bytes.Equal(got, want) {
				t.Fatalf("canonical forms differ for %q", data)
			}
		}
	})
}

// TestCanonicalEncoderMatchesClone: the canonical encoder writes, for every resource of every
// file the decoder accepts (and their mutations), exactly the bytes of the normalised copy
// marshalled by the protobuf library — with no mask and with one that rewrites strings.
func TestCanonicalEncoderMatchesClone(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 12))
	masks := map[string]func(string) string{
		"no mask": nil,
		"digits masked": func(s string) string {
			if r := []rune(s); strings.ContainsAny(s, "0123456789") && len(r) > 3 {
				return string(r[:2]) + strings.Repeat("*", len(r)-2)
			}
			return s
		},
		"some emptied": func(s string) string {
			if len(s)%5 == 0 {
				return ""
			}
			return s
		},
	}
	d := NewDecoder(mustZone(t, "Asia/Shanghai"))
	compared := 0
	check := func(name string, data []byte) {
		cr, err := d.unmarshal(data)
		if err != nil {
			return
		}
		var resources []proto.Message
		var collect func(m proto.Message)
		collect = func(m proto.Message) {
			resources = append(resources, m)
			for _, e := range fieldMessages(m, "entry") {
				for _, r := range fieldMessages(e, "resource") {
					if rr := Resource(r.(*bcrpb.ContainedResource)); rr != nil {
						collect(rr)
					}
				}
			}
		}
		collect(Resource(cr))
		for _, res := range resources {
			for mn, mask := range masks {
				got, err1 := Canonical(res, mask)
				want, err2 := canonicalByClone(res, mask)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: %v / %v", name, err1, err2)
				}
				compared++
				if !bytes.Equal(got, want) {
					t.Errorf("%s, %s (%s): the encoder's canonical form differs from the copy's", name, TypeName(res), mn)
				}
			}
		}
	}
	for _, it := range corpus(t) {
		check(it.name, it.data)
		doc, err := parseOrdered(it.data)
		if err != nil {
			continue
		}
		for i := 0; i < 4; i++ {
			check(it.name+" mutated", serialize(rng, mutate(rng, cloneOrdered(doc))))
		}
	}
	t.Logf("%d canonical forms compared", compared)
	if compared == 0 {
		t.Fatal("nothing compared")
	}
}

// TestPlainURLParses: every string plainURL passes, net/url parses.
func TestPlainURLParses(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	alphabet := "aZ09._~/-:%@?#[]! "
	n := 0
	for i := 0; i < 200000; i++ {
		var b strings.Builder
		b.WriteString([]string{"http://", "https://", "urn:", "ftp://", ""}[rng.IntN(5)])
		for j := rng.IntN(12); j > 0; j-- {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		if plainURL(s) {
			n++
			if _, err := url.Parse(s); err != nil {
				t.Fatalf("%q passes plainURL but url.Parse says %v", s, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no string passed plainURL")
	}
}
