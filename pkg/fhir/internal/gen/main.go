// Command gen generates the FHIR R4 Go types, strict decoders and encoders of
// package fhir from the official R4 JSON Schema (../shared/fhir/fhir-r4.schema.json).
//
// Usage (from pkg/fhir): go run ./internal/gen -schema <path> -out .
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// roots are the resources decoded into typed structs; every datatype they
// use is generated too.
var roots = []string{"Bundle", "DiagnosticReport", "Observation", "ImagingStudy", "Specimen",
	"ServiceRequest", "Patient", "Organization", "Practitioner", "PractitionerRole"}

// extraRequired lists R4 elements with min cardinality 1 that the JSON schema
// does not mark required (primitives mostly).
var extraRequired = map[string][]string{
	"DiagnosticReport":               {"status", "code"},
	"DiagnosticReport_Media":         {"link"},
	"Observation":                    {"status", "code"},
	"Observation_Component":          {"code"},
	"ImagingStudy":                   {"status", "subject"},
	"ImagingStudy_Series":            {"uid", "modality"},
	"ImagingStudy_Instance":          {"uid", "sopClass"},
	"ImagingStudy_Performer":         {"actor"},
	"ServiceRequest":                 {"status", "intent", "subject"},
	"Bundle":                         {"type"},
	"Bundle_Link":                    {"relation", "url"},
	"Bundle_Request":                 {"method", "url"},
	"Bundle_Response":                {"status"},
	"Patient_Link":                   {"other", "type"},
	"Patient_Communication":          {"language"},
	"Narrative":                      {"status", "div"},
	"Practitioner_Qualification":     {"code"},
	"PractitionerRole_NotAvailable":  {"description"},
	"SampledData":                    {"origin", "period", "dimensions"},
	"Signature":                      {"type", "when", "who"},
	"UsageContext":                   {"code"},
	"RelatedArtifact":                {"type"},
	"ParameterDefinition":            {"use", "type"},
	"DataRequirement":                {"type"},
	"DataRequirement_Sort":           {"path", "direction"},
	"Expression":                     {"language"},
	"TriggerDefinition":              {"type"},
	"Contributor":                    {"type", "name"},
	"Meta":                           nil,
	"Specimen_Container":             nil,
	"PractitionerRole_AvailableTime": nil,
}

// hooks are datatypes with hand-written invariant checks (check<GoName>).
var hooks = map[string]bool{"Reference": true, "Period": true}

type prop struct {
	JSON   string
	Go     string
	Kind   string // prim, complex, resource, elem
	Prim   string
	Type   string
	Array  bool
	EnumFn string
}

type def struct {
	Name, Go   string
	Resource   bool
	Props      []*prop
	Required   []string
	Choices    [][]string // json names per choice group
	Hook       bool
	Extension  bool
	ValueProps []*prop // Extension only
}

type rawDef struct {
	Properties json.RawMessage `json:"properties"`
	Required   []string        `json:"required"`
	OneOf      json.RawMessage `json:"oneOf"`
	Pattern    string          `json:"pattern"`
	Type       string          `json:"type"`
}

type rawProp struct {
	Ref     string   `json:"$ref"`
	Type    string   `json:"type"`
	Pattern string   `json:"pattern"`
	Enum    []string `json:"enum"`
	Const   string   `json:"const"`
	Items   *rawProp `json:"items"`
}

var (
	defs     map[string]rawDef
	prims    = map[string]bool{}
	enumFns  = map[string]string{} // joined values -> fn name
	enumVals = map[string][]string{}
	gen      = map[string]*def{}
	order    []string
	allRes   []string
)

func main() {
	schema := flag.String("schema", "../../../shared/fhir/fhir-r4.schema.json", "R4 JSON schema")
	out := flag.String("out", ".", "output directory")
	flag.Parse()
	data, err := os.ReadFile(*schema)
	if err != nil {
		log.Fatal(err)
	}
	var s struct {
		Definitions map[string]rawDef `json:"definitions"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		log.Fatal(err)
	}
	defs = s.Definitions
	for name, d := range defs {
		if d.Properties == nil && d.OneOf == nil {
			prims[name] = true
		}
		if d.Properties != nil {
			var p map[string]rawProp
			_ = json.Unmarshal(d.Properties, &p)
			if rt, ok := p["resourceType"]; ok && rt.Const == name {
				allRes = append(allRes, name)
			}
		}
	}
	sort.Strings(allRes)
	todo := append([]string{"Element"}, roots...)
	for len(todo) > 0 {
		n := todo[0]
		todo = todo[1:]
		if gen[n] != nil {
			continue
		}
		d := build(n)
		gen[n] = d
		order = append(order, n)
		for _, p := range d.Props {
			if p.Kind == "complex" {
				todo = append(todo, p.Type)
			}
		}
		for _, p := range d.ValueProps {
			if p.Kind == "complex" {
				todo = append(todo, p.Type)
			}
		}
	}
	sort.Strings(order)
	write(filepath.Join(*out, "types_gen.go"), genTypes())
	write(filepath.Join(*out, "codec_gen.go"), genCodec())
	for _, n := range order {
		if len(gen[n].Choices) > 0 {
			fmt.Fprintln(os.Stderr, "choices", n, gen[n].Choices)
		}
	}
}

func write(path string, src []byte) {
	out, err := format.Source(src)
	if err != nil {
		os.WriteFile(path+".broken", src, 0o644)
		log.Fatalf("%s: %v", path, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		log.Fatal(err)
	}
}

func orderedKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	tok, _ := dec.Token() // {
	_ = tok
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			log.Fatal(err)
		}
	}
	return keys
}

func goType(n string) string { return strings.ReplaceAll(n, "_", "") }

func upperFirst(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func goField(j string) string {
	switch j {
	case "id":
		return "ID"
	case "url":
		return "URL"
	case "uid":
		return "UID"
	}
	g := upperFirst(j)
	if strings.HasSuffix(g, "Id") {
		g = g[:len(g)-2] + "ID"
	}
	if strings.HasSuffix(g, "Uid") {
		g = g[:len(g)-3] + "UID"
	}
	g = strings.ReplaceAll(g, "Url", "URL")
	return g
}

func inferPrim(name string, rp rawProp) string {
	best := ""
	for p := range prims {
		if strings.HasSuffix(name, upperFirst(p)) && len(p) > len(best) {
			best = p
		}
	}
	if best != "" {
		return best
	}
	var cands []string
	for p := range prims {
		if defs[p].Pattern == rp.Pattern && defs[p].Type == rp.Type {
			cands = append(cands, p)
		}
	}
	for _, c := range cands {
		if strings.HasSuffix(name, upperFirst(c)) {
			return c
		}
	}
	if len(cands) == 1 {
		return cands[0]
	}
	log.Fatalf("cannot infer primitive of %s (%v)", name, cands)
	return ""
}

func enumFn(owner, name string, vals []string) string {
	key := strings.Join(vals, "|")
	if fn, ok := enumFns[key]; ok {
		return fn
	}
	fn := "enum" + goType(owner) + goField(name)
	enumFns[key] = fn
	enumVals[fn] = vals
	return fn
}

func build(n string) *def {
	rd, ok := defs[n]
	if !ok {
		log.Fatalf("no definition %s", n)
	}
	d := &def{Name: n, Go: goType(n), Hook: hooks[n], Extension: n == "Extension"}
	var props map[string]rawProp
	if err := json.Unmarshal(rd.Properties, &props); err != nil {
		log.Fatal(err)
	}
	req := map[string]bool{}
	for _, r := range rd.Required {
		if r != "resourceType" {
			req[r] = true
		}
	}
	for _, r := range extraRequired[n] {
		req[r] = true
	}
	for r := range req {
		d.Required = append(d.Required, r)
	}
	for _, k := range orderedKeys(rd.Properties) {
		rp := props[k]
		if k == "resourceType" {
			d.Resource = true
			continue
		}
		p := &prop{JSON: k, Go: goField(k)}
		if strings.HasPrefix(k, "_") {
			p.Go = goField(k[1:]) + "Ext"
			p.Kind = "elem"
			p.Array = rp.Type == "array"
		} else {
			item := rp
			if rp.Type == "array" {
				p.Array = true
				item = *rp.Items
			}
			switch {
			case item.Ref != "":
				t := item.Ref[strings.LastIndex(item.Ref, "/")+1:]
				switch {
				case t == "ResourceList":
					p.Kind = "resource"
				case prims[t]:
					p.Kind, p.Prim = "prim", t
				default:
					p.Kind, p.Type = "complex", t
				}
			case item.Enum != nil:
				p.Kind, p.Prim = "prim", "code"
				p.EnumFn = enumFn(n, k, item.Enum)
			case item.Pattern != "":
				p.Kind, p.Prim = "prim", inferPrim(k, item)
			default:
				log.Fatalf("%s.%s: unknown shape", n, k)
			}
		}
		if d.Extension && strings.HasPrefix(strings.TrimPrefix(k, "_"), "value") {
			if p.Kind != "elem" {
				d.ValueProps = append(d.ValueProps, p)
			}
			continue
		}
		d.Props = append(d.Props, p)
	}
	// choice groups
	groups := map[string][]string{}
	var bases []string
	for _, p := range d.Props {
		if p.Kind == "elem" || p.Kind == "resource" || p.Array {
			continue // choice elements are 0..1
		}
		t := p.Prim
		if p.Kind == "complex" {
			t = p.Type
		}
		if p.EnumFn != "" {
			continue
		}
		if strings.HasSuffix(p.JSON, upperFirst(t)) && len(p.JSON) > len(t) {
			base := p.JSON[:len(p.JSON)-len(t)]
			if groups[base] == nil {
				bases = append(bases, base)
			}
			groups[base] = append(groups[base], p.JSON)
		}
	}
	for _, b := range bases {
		if len(groups[b]) > 1 {
			d.Choices = append(d.Choices, groups[b])
		}
	}
	return d
}

var primKind = map[string]string{
	"string": "kString", "markdown": "kString", "code": "kCode", "id": "kID", "uri": "kURI",
	"url": "kURI", "canonical": "kURI", "oid": "kOID", "uuid": "kUUID", "base64Binary": "kBase64",
	"date": "kDate", "dateTime": "kDateTime", "instant": "kInstant", "time": "kTime", "xhtml": "kXHTML",
	"integer": "kInteger", "positiveInt": "kPositiveInt", "unsignedInt": "kUnsignedInt",
}

func fieldType(p *prop) string {
	var t string
	switch p.Kind {
	case "elem":
		if p.Array {
			return "[]*Element"
		}
		return "*Element"
	case "resource":
		t = "Resource"
		if p.Array {
			return "[]Resource"
		}
		return t
	case "complex":
		if p.Array {
			return "[]" + goType(p.Type)
		}
		return "*" + goType(p.Type)
	}
	switch p.Prim {
	case "boolean":
		t = "*bool"
		if p.Array {
			return "[]bool"
		}
	case "integer", "positiveInt", "unsignedInt":
		t = "*int"
		if p.Array {
			return "[]int"
		}
	case "decimal":
		t = "json.Number"
		if p.Array {
			return "[]json.Number"
		}
	default:
		t = "string"
		if p.Array {
			return "[]string"
		}
	}
	return t
}

func genTypes() []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/gen from the FHIR R4 JSON schema; DO NOT EDIT.\n\npackage fhir\n\nimport \"encoding/json\"\n\n")
	for _, n := range order {
		d := gen[n]
		if d.Extension {
			continue // hand-written
		}
		if d.Resource {
			fmt.Fprintf(&b, "// %s is the FHIR R4 %s resource.\n", d.Go, n)
		} else {
			fmt.Fprintf(&b, "// %s is the FHIR R4 %s element.\n", d.Go, strings.ReplaceAll(n, "_", "."))
		}
		fmt.Fprintf(&b, "type %s struct {\n", d.Go)
		for _, p := range d.Props {
			fmt.Fprintf(&b, "\t%s %s `json:\"%s,omitempty\"`\n", p.Go, fieldType(p), p.JSON)
		}
		if d.Resource {
			b.WriteString("\n\traw json.RawMessage\n")
		}
		b.WriteString("}\n\n")
		if d.Resource {
			fmt.Fprintf(&b, "// ResourceType returns %q.\nfunc (*%s) ResourceType() string { return %q }\n\n", n, d.Go, n)
			fmt.Fprintf(&b, "// Raw returns the resource's JSON as received, or nil if it was not decoded from JSON.\nfunc (v *%s) Raw() json.RawMessage { return v.raw }\n\n", d.Go)
			fmt.Fprintf(&b, "// UnmarshalJSON decodes and validates v strictly (see Decode).\nfunc (v *%s) UnmarshalJSON(data []byte) error {\n\treturn unmarshalResource(data, %q, func(d *decoder) { d.dec%s(v) })\n}\n\n", d.Go, n, d.Go)
		}
		fmt.Fprintf(&b, "// MarshalJSON encodes v as FHIR JSON.\nfunc (v *%s) MarshalJSON() ([]byte, error) { return v.appendJSON(nil), nil }\n\n", d.Go)
	}
	// resource names
	b.WriteString("// r4ResourceTypes is every resource type defined by FHIR R4.\nvar r4ResourceTypes = map[string]bool{\n")
	for _, r := range allRes {
		fmt.Fprintf(&b, "\t%q: true,\n", r)
	}
	b.WriteString("}\n\n")
	// enums
	var fns []string
	for fn := range enumVals {
		fns = append(fns, fn)
	}
	sort.Strings(fns)
	for _, fn := range fns {
		fmt.Fprintf(&b, "func %s(s string) bool {\n\tswitch s {\n\tcase ", fn)
		for i, v := range enumVals[fn] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", v)
		}
		b.WriteString(":\n\t\treturn true\n\t}\n\treturn false\n}\n\n")
	}
	return b.Bytes()
}

func decodeStmt(p *prop, dst string) string {
	switch p.Kind {
	case "elem":
		if p.Array {
			return fmt.Sprintf("d.elems(&%s)", dst)
		}
		return fmt.Sprintf("d.elem(&%s)", dst)
	case "resource":
		if p.Array {
			return fmt.Sprintf("d.resources(&%s)", dst)
		}
		return fmt.Sprintf("d.resource(&%s)", dst)
	case "complex":
		g := goType(p.Type)
		if p.Array {
			return fmt.Sprintf("%s = decodeSlice(d, %s, (*decoder).dec%s)", dst, dst, g)
		}
		return fmt.Sprintf("if %s != nil {\n d.duplicate()\n}\n%s = new(%s)\nd.dec%s(%s)", dst, dst, g, g, dst)
	}
	switch p.Prim {
	case "boolean":
		if p.Array {
			return fmt.Sprintf("d.bools(&%s)", dst)
		}
		return fmt.Sprintf("d.boolean(&%s)", dst)
	case "integer", "positiveInt", "unsignedInt":
		if p.Array {
			return fmt.Sprintf("d.ints(&%s, %s)", dst, primKind[p.Prim])
		}
		return fmt.Sprintf("d.integer(&%s, %s)", dst, primKind[p.Prim])
	case "decimal":
		if p.Array {
			return fmt.Sprintf("d.decimals(&%s)", dst)
		}
		return fmt.Sprintf("d.decimal(&%s)", dst)
	}
	if p.EnumFn != "" {
		if p.Array {
			return fmt.Sprintf("d.codes(&%s, %s)", dst, p.EnumFn)
		}
		return fmt.Sprintf("d.code(&%s, %s)", dst, p.EnumFn)
	}
	if p.Array {
		return fmt.Sprintf("d.strs(&%s, %s)", dst, primKind[p.Prim])
	}
	return fmt.Sprintf("d.str(&%s, %s)", dst, primKind[p.Prim])
}

func isSet(p *prop, v string) string {
	f := v + "." + p.Go
	if p.Array || strings.HasPrefix(fieldType(p), "*") || p.Kind == "resource" {
		if p.Array {
			return "len(" + f + ") > 0"
		}
		return f + " != nil"
	}
	return f + ` != ""`
}

func encodeStmt(p *prop) string {
	f := "v." + p.Go
	key := fmt.Sprintf("%q", ","+`"`+p.JSON+`":`)
	var val string
	switch p.Kind {
	case "elem":
		if p.Array {
			return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n b = appendElems(b, %s)\n}", f, key, f)
		}
		val = f + ".appendJSON(b)"
	case "resource":
		if p.Array {
			return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n b = appendResources(b, %s)\n}", f, key, f)
		}
		val = "appendResource(b, " + f + ")"
	case "complex":
		if p.Array {
			return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n start := len(b)\n for i := range %s {\n b = append(b, ',')\n b = %s[i].appendJSON(b)\n }\n b[start] = '['\n b = append(b, ']')\n}", f, key, f, f)
		}
		val = f + ".appendJSON(b)"
	default:
		switch p.Prim {
		case "boolean":
			if p.Array {
				return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n b = appendBools(b, %s)\n}", f, key, f)
			}
			val = "strconv.AppendBool(b, *" + f + ")"
		case "integer", "positiveInt", "unsignedInt":
			if p.Array {
				return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n b = appendInts(b, %s)\n}", f, key, f)
			}
			val = "strconv.AppendInt(b, int64(*" + f + "), 10)"
		case "decimal":
			if p.Array {
				return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n b = appendDecimals(b, %s)\n}", f, key, f)
			}
			val = "append(b, " + f + "...)"
		default:
			if p.Array {
				return fmt.Sprintf("if len(%s) > 0 {\n b = append(b, %s...)\n b = appendStrings(b, %s)\n}", f, key, f)
			}
			val = "appendString(b, " + f + ")"
		}
	}
	return fmt.Sprintf("if %s {\n b = append(b, %s...)\n b = %s\n}", isSet(p, "v"), key, val)
}

func genCodec() []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/gen from the FHIR R4 JSON schema; DO NOT EDIT.\n\npackage fhir\n\nimport (\n\"encoding/json\"\n\"strconv\"\n)\n\nvar _ = strconv.AppendInt\nvar _ json.Number\n\n")
	for _, n := range order {
		d := gen[n]
		byJSON := map[string]*prop{}
		for _, p := range d.Props {
			byJSON[p.JSON] = p
		}
		if d.Extension {
			// value[x] validation for Extension.
			b.WriteString("// decExtensionValue strictly decodes an Extension value[x] of the given key and reports whether the key is a value[x].\nfunc (d *decoder) decExtensionValue(key string) bool {\n\tswitch key {\n")
			for _, p := range d.ValueProps {
				fmt.Fprintf(&b, "\tcase %q:\n\t\tvar x %s\n\t\t%s\n", p.JSON, fieldType(p), decodeStmt(p, "x"))
				if p.Kind == "complex" && !p.Array {
					b.WriteString("\t\t_ = x\n")
				}
			}
			b.WriteString("\tdefault:\n\t\treturn false\n\t}\n\treturn true\n}\n\n")
			b.WriteString("var extensionValueKeys = map[string]struct{}{\n")
			for _, p := range d.ValueProps {
				fmt.Fprintf(&b, "\t%q: {},\n", p.JSON)
			}
			b.WriteString("}\n\n")
			continue
		}
		// decoder
		fmt.Fprintf(&b, "func (d *decoder) dec%s(v *%s) {\n", d.Go, d.Go)
		if d.Resource {
			b.WriteString("\tstart := d.begin()\n\tseenType := false\n")
		}
		b.WriteString("\td.objStart()\n\tfor i := 0; d.objKey(i); i++ {\n\t\tswitch string(d.key) {\n")
		if d.Resource {
			fmt.Fprintf(&b, "\t\tcase \"resourceType\":\n\t\t\td.resourceTypeKey(%q, &seenType)\n", n)
		}
		for _, p := range d.Props {
			fmt.Fprintf(&b, "\t\tcase %q:\n\t\t\t%s\n", p.JSON, decodeStmt(p, "v."+p.Go))
		}
		b.WriteString("\t\tdefault:\n\t\t\td.unknown()\n\t\t}\n\t\td.pop()\n\t}\n")
		req := append([]string(nil), d.Required...)
		sort.Strings(req)
		for _, r := range req {
			p := byJSON[r]
			if p == nil {
				log.Fatalf("%s: required %s not a property", n, r)
			}
			fmt.Fprintf(&b, "\tif !(%s) {\n\t\td.required(%q)\n\t}\n", isSet(p, "v"), r)
		}
		for _, c := range d.Choices {
			b.WriteString("\td.choice(")
			for i, m := range c {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(isSet(byJSON[m], "v"))
			}
			fmt.Fprintf(&b, ")\n")
		}
		if d.Hook {
			fmt.Fprintf(&b, "\td.check%s(v)\n", d.Go)
		}
		if d.Resource {
			b.WriteString("\tv.raw = d.data[start:d.pos]\n")
			if byJSON["contained"] != nil {
				b.WriteString("\td.checkContained(v.Contained)\n")
			}
		}
		b.WriteString("}\n\n")
		// encoder
		fmt.Fprintf(&b, "func (v *%s) appendJSON(b []byte) []byte {\n\tstart := len(b)\n", d.Go)
		if d.Resource {
			fmt.Fprintf(&b, "\tb = append(b, %q...)\n", `,"resourceType":"`+n+`"`)
		}
		for _, p := range d.Props {
			b.WriteString(encodeStmt(p) + "\n")
		}
		b.WriteString("\treturn closeObject(b, start)\n}\n\n")
	}
	return b.Bytes()
}
