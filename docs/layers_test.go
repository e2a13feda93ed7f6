package docs_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/mrhub/mrhub/"

var (
	layerLine = regexp.MustCompile(`^(\d+)\. ([^:]+): (.*)$`)
	codeSpan  = regexp.MustCompile("`([^`]+)`")
)

// layer is one entry of the layer list in docs/DESIGN.md.
type layer struct {
	n    int
	name string
}

// designLayers reads the numbered list of the "Layers" section of docs/DESIGN.md: package path
// (relative to the module) → its layer.
func designLayers(t *testing.T) map[string]layer {
	t.Helper()
	out := map[string]layer{}
	for _, sec := range sections(read(t, "docs/DESIGN.md")) {
		if sec.heading != "Layers" {
			continue
		}
		for _, l := range strings.Split(sec.body, "\n") {
			m := layerLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[1])
			for _, p := range codeSpan.FindAllStringSubmatch(m[3], -1) {
				out[p[1]] = layer{n, m[2]}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("docs/DESIGN.md: the section \"Layers\" lists %d packages in numbered lines (`N. name: `pkg/a`, `pkg/b``)", len(out))
	}
	return out
}

// layerOf is the layer of package path p: its own entry, else its closest listed parent's.
func layerOf(layers map[string]layer, p string) (layer, bool) {
	for q := p; ; {
		if l, ok := layers[q]; ok {
			return l, true
		}
		i := strings.LastIndexByte(q, '/')
		if i < 0 {
			return layer{}, false
		}
		q = q[:i]
	}
}

// layerViolations returns what breaks the layering in imports (package → the module packages
// it imports, paths relative to the module): upward imports, and packages in no layer.
func layerViolations(layers map[string]layer, imports map[string][]string) []string {
	var out []string
	for p, deps := range imports {
		lp, ok := layerOf(layers, p)
		if !ok {
			out = append(out, fmt.Sprintf("%s is in no layer: add it to the numbered list of docs/DESIGN.md, section Layers", p))
			continue
		}
		for _, d := range deps {
			ld, ok := layerOf(layers, d)
			if ok && ld.n > lp.n {
				out = append(out, fmt.Sprintf("%s (layer %d, %s) imports %s (layer %d, %s), a higher layer: declare what it needs in %s "+
					"(a small interface or type) and let %s satisfy it, or move the shared part down", p, lp.n, lp.name, d, ld.n, ld.name, p, d))
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestLayers: no package of the module imports a package of a higher layer than its own, as
// docs/DESIGN.md states them (`go list` gives each package's imports, test files excluded).
func TestLayers(t *testing.T) {
	layers := designLayers(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		p, ok := strings.CutPrefix(f[0], module)
		if !ok {
			continue
		}
		imports[p] = nil
		for _, d := range f[1:] {
			if d, ok := strings.CutPrefix(d, module); ok {
				imports[p] = append(imports[p], d)
			}
		}
	}
	if len(imports) < 20 || len(imports["pkg/hub"]) < 5 {
		t.Fatalf("go list found %d packages (pkg/hub imports %v): the scan is broken", len(imports), imports["pkg/hub"])
	}
	for _, v := range layerViolations(layers, imports) {
		t.Error(v)
	}
	for p := range layers {
		if _, ok := imports[p]; !ok {
			t.Errorf("docs/DESIGN.md, section Layers, lists %s, which is not a package of the module: remove it or fix the path", p)
		}
	}
}

// TestLayerViolationsFound: the check reports an upward import, a package in no layer, and
// places a subpackage in its parent's layer.
func TestLayerViolationsFound(t *testing.T) {
	layers := map[string]layer{"pkg/low": {1, "low"}, "pkg/high": {2, "high"}}
	got := layerViolations(layers, map[string][]string{
		"pkg/low":      {"pkg/high/sub"},
		"pkg/high":     {"pkg/low"},
		"pkg/high/sub": {"pkg/low", "pkg/high"},
		"pkg/stray":    nil,
	})
	if len(got) != 2 || !strings.HasPrefix(got[0], "pkg/low (layer 1, low) imports pkg/high/sub (layer 2, high)") ||
		!strings.HasPrefix(got[1], "pkg/stray is in no layer") {
		t.Fatalf("violations:\n%s", strings.Join(got, "\n"))
	}
}
