package httpapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/mrhub/mrhub/pkg/fhir"
)

// The general parameters of FHIR R4 (_format, _pretty, _summary, _elements) apply to every
// read, vread, history, search and $everything, and the Prefer header chooses what happens to
// parameters the hub does not support:
//
//   - handling=strict (the default): a parameter, modifier, _include/_revinclude target or _sort
//     key that the CapabilityStatement does not list is refused with 400 and an
//     OperationOutcome naming it;
//   - handling=lenient: it is ignored, the answer carries Preference-Applied: handling=lenient,
//     and a searchset's self link shows only the parameters that were applied.
//
// Under either, a listed parameter with a value it cannot take (date=xx, _count=0, an unknown
// status code) is refused with 400: ignoring it would widen the search behind the client's back.

// Handling values of the Prefer header.
const (
	handlingStrict  = "strict"
	handlingLenient = "lenient"
)

// SUBSETTED marks a resource served without some of its elements (R4 search, _summary and _elements).
const (
	subsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	subsettedCode   = "SUBSETTED"
)

// general holds the general parameters of one request.
type general struct {
	lenient  bool
	pretty   bool
	summary  string          // "", "true", "text", "data", "false", "count"
	elements map[string]bool // base element names asked for; nil without _elements
	// applied are the general parameters that were applied, for the links of a searchset.
	applied url.Values
}

// notAcceptable is a format the hub does not serve (406).
type notAcceptable struct{ msg string }

func (e *notAcceptable) Error() string { return e.msg }

// preferHandling reads handling=… from the Prefer header(s); strict when absent.
func preferHandling(r *http.Request) string {
	h := handlingStrict
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "handling") {
				switch strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`)) {
				case handlingLenient:
					h = handlingLenient
				case handlingStrict:
					h = handlingStrict
				}
			}
		}
	}
	return h
}

// jsonFormats are the _format values (and Accept media types) answered with FHIR JSON.
var jsonFormats = map[string]bool{
	"json": true, "application/json": true, "application/fhir+json": true, "application/json+fhir": true, "text/json": true,
}

// checkFormat refuses a _format (or an Accept header that accepts no JSON) the hub cannot serve.
func checkFormat(format string) error {
	mt := strings.ToLower(strings.TrimSpace(format))
	if parsed, _, err := mime.ParseMediaType(mt); err == nil {
		mt = parsed
	}
	if jsonFormats[mt] {
		return nil
	}
	return &notAcceptable{"_format=" + format + " is not served: this server serves FHIR JSON only (_format=json or application/fhir+json)"}
}

// acceptsJSON says whether an Accept header lets the hub answer in JSON.
func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		if jsonFormats[mt] || mt == "*/*" || mt == "application/*" {
			return true
		}
	}
	return false
}

// generalParams takes the general parameters out of vals for an interaction on resources of
// type rt ("" for Bundles of several types) and returns them with the parameters left over.
// search says whether the interaction is a search (where _summary=count is allowed).
func generalParams(r *http.Request, rt string, vals url.Values, search bool) (*general, url.Values, error) {
	g := &general{lenient: preferHandling(r) == handlingLenient, applied: url.Values{}}
	if !acceptsJSON(r.Header.Get("Accept")) {
		return nil, nil, &notAcceptable{"Accept: " + r.Header.Get("Accept") + " names no format this server serves: it serves FHIR JSON only (application/fhir+json)"}
	}
	rest := url.Values{}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := vals[k]
		switch k {
		case "_format", "_pretty", "_summary", "_elements":
			if len(vs) > 1 {
				return nil, nil, badf("%s is given %d times; give it once", k, len(vs))
			}
		default:
			rest[k] = vs
			continue
		}
		v := vs[0]
		switch k {
		case "_format":
			if err := checkFormat(v); err != nil {
				return nil, nil, err
			}
			g.applied.Set(k, v)
		case "_pretty":
			switch v {
			case "true", "false":
				g.pretty = v == "true"
				g.applied.Set(k, v)
			default:
				return nil, nil, badf("_pretty must be true or false, got %q", v)
			}
		case "_summary":
			switch v {
			case "true", "text", "data", "false":
				g.summary = v
			case "count":
				if !search {
					if g.lenient {
						continue
					}
					return nil, nil, badf("_summary=count is for searches only")
				}
				g.summary = v
			default:
				return nil, nil, badf("_summary must be one of true, text, data, count, false; got %q", v)
			}
			g.applied.Set(k, v)
		case "_elements":
			var kept []string
			g.elements = map[string]bool{}
			for _, name := range strings.Split(v, ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				base, ok := elementName(rt, name)
				if !ok {
					if g.lenient {
						continue
					}
					return nil, nil, badf("_elements: %q is not an element of %s", name, typeLabel(rt))
				}
				g.elements[base] = true
				kept = append(kept, name)
			}
			if len(kept) == 0 {
				g.elements = nil // nothing applicable (ignored under lenient handling): the whole resource
				continue
			}
			g.applied.Set(k, strings.Join(kept, ","))
		}
	}
	return g, rest, nil
}

func typeLabel(rt string) string {
	if rt == "" {
		return "the resources served here"
	}
	return rt
}

// elementName maps a name given in _elements to its base element: an element of rt, or, for a
// Bundle of several types (rt ""), of any type the hub serves.
func elementName(rt, name string) (string, bool) {
	if name == "id" || name == "meta" {
		return name, true
	}
	types := []string{rt}
	if rt == "" {
		types = servedTypes
	}
	for _, t := range types {
		if e, ok := fhir.ResourceElements(t); ok {
			if b, ok := e.Base(name); ok {
				return b, true
			}
		}
	}
	return "", false
}

// servedTypes are the resource types the hub serves.
var servedTypes = []string{"DiagnosticReport", "ImagingStudy", "Observation", "Patient"}

// leftovers refuses (strict) or drops (lenient) parameters an interaction does not take.
func (g *general) leftovers(rest url.Values, interaction string) error {
	if g.lenient || len(rest) == 0 {
		return nil
	}
	keys := make([]string, 0, len(rest))
	for k := range rest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return badf("parameter %q is not supported on %s: see /fhir/metadata (or send Prefer: handling=lenient to have it ignored)", keys[0], interaction)
}

// keeps says whether a match of type rt is served with element base (a base name).
func (g *general) keeps(rt, base string) bool {
	if g == nil {
		return true
	}
	e, ok := fhir.ResourceElements(rt)
	if !ok {
		return true
	}
	return g.keep(e, base, g.elements)
}

func (g *general) keep(e *fhir.Elements, base string, elements map[string]bool) bool {
	if base == "id" || base == "meta" || e.IsMandatory(base) {
		return true
	}
	switch g.summary {
	case "true":
		if !e.IsSummary(base) {
			return false
		}
	case "text":
		if base != "text" {
			return false
		}
	case "data":
		if base == "text" {
			return false
		}
	}
	return elements == nil || elements[base]
}

// shape applies _summary and, when match is true, _elements to a served resource, in place;
// the resource is tagged SUBSETTED. R4: the elements list does not apply
// to included resources, and mandatory elements are always kept.
func (g *general) shape(m map[string]any, match bool) {
	if g == nil {
		return
	}
	elements := g.elements
	if !match {
		elements = nil
	}
	if elements == nil && g.summary != "true" && g.summary != "text" && g.summary != "data" {
		return
	}
	rt, _ := m["resourceType"].(string)
	e, ok := fhir.ResourceElements(rt)
	if !ok {
		return
	}
	for k, v := range m {
		base, known := e.Base(k)
		if k == "resourceType" || !known {
			continue
		}
		if !g.keep(e, base, elements) {
			delete(m, k)
			continue
		}
		if g.summary == "true" {
			if kids := e.NestedSummary(base); kids != nil {
				trimNested(v, kids)
			}
		}
	}
	// Tagged whether or not this resource had an element to lose: what is served is the subset
	// asked for, not the resource (a report's references, for one, are not even looked up).
	tagSubsetted(m)
}

// trimNested keeps only the children named in kids of a backbone element (or of each in a
// list).
func trimNested(v any, kids map[string]bool) {
	trim := func(x any) {
		if o, ok := x.(map[string]any); ok {
			for k := range o {
				base := strings.TrimPrefix(k, "_")
				keep := kids[base]
				for kid := range kids {
					keep = keep || (strings.HasPrefix(base, kid) && len(base) > len(kid) && base[len(kid)] >= 'A' && base[len(kid)] <= 'Z')
				}
				if !keep {
					delete(o, k)
				}
			}
		}
	}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			trim(x)
		}
	} else {
		trim(v)
	}
}

// tagSubsetted adds the SUBSETTED tag to meta.tag.
func tagSubsetted(m map[string]any) {
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if c, ok := t.(map[string]any); ok && c["system"] == subsettedSystem && c["code"] == subsettedCode {
			return
		}
	}
	meta["tag"] = append(tags, map[string]any{"system": subsettedSystem, "code": subsettedCode, "display": "subsetted"})
}

// write answers v as FHIR JSON, indented when _pretty=true, with Preference-Applied when the
// request asked for lenient handling.
func (g *general) write(w http.ResponseWriter, status int, v any) {
	if g != nil && g.lenient {
		w.Header().Set("Preference-Applied", "handling="+handlingLenient)
	}
	if g == nil || !g.pretty {
		writeFHIR(w, status, v)
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
