package docs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mrhub/mrhub/pkg/fhir/fhirschema"
)

// reference is the document that must list every command, flag, variable and route.
const reference = "docs/reference.md"

// root is the module root (this package lives in <root>/docs).
var root = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(wd)
}()

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("reading %s: %v", rel, err)
	}
	return string(b)
}

// markdownFiles are the documents checked: README*.md at the root, everything under docs/ and
// schemas/ (relative paths, sorted).
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	top, _ := filepath.Glob(filepath.Join(root, "README*.md"))
	for _, f := range top {
		out = append(out, filepath.Base(f))
	}
	for _, dir := range []string{"docs", "schemas"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".md") {
				rel, _ := filepath.Rel(root, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	if len(out) < 5 {
		t.Fatalf("found only %v: is the test running in <repo>/docs?", out)
	}
	return out
}

// codeSnippet is the text of an inline code span or a fenced code block of a document.
type codeSnippet struct {
	file string
	line int
	lang string // info string of a fenced block ("" for inline code)
	text string
}

var inlineCode = regexp.MustCompile("`([^`\n]+)`")

// snippets splits a Markdown document into its code (fenced blocks and inline spans) and its
// prose with the code removed (for links and headings).
func snippets(file, doc string) (code []codeSnippet, prose string) {
	var pb strings.Builder
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if fence := strings.TrimLeft(l, " "); strings.HasPrefix(fence, "```") {
			lang := strings.TrimSpace(strings.TrimPrefix(fence, "```"))
			start := i + 1
			var body []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimLeft(lines[i], " "), "```"); i++ {
				body = append(body, lines[i])
			}
			code = append(code, codeSnippet{file, start + 1, lang, strings.Join(body, "\n")})
			pb.WriteString("\n")
			continue
		}
		for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
			code = append(code, codeSnippet{file, i + 1, "", m[1]})
		}
		pb.WriteString(inlineCode.ReplaceAllString(l, "code"))
		pb.WriteString("\n")
	}
	return code, pb.String()
}

// ---- commands and flags ----

// cli is what the built binary says about itself.
type cli struct {
	groups map[string][]string          // command → subcommands (nil for a leaf command)
	flags  map[string]map[string]string // "bench query" → flag → help text
}

func (c cli) paths() []string {
	var out []string
	for p := range c.flags {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

var (
	usageLine  = regexp.MustCompile(`^  ([a-z]+)\s+(.*)$`)
	subInUsage = regexp.MustCompile("`([a-z]+) ([a-z]+)")
	flagLine   = regexp.MustCompile(`^  -([a-zA-Z0-9][a-zA-Z0-9-]*)`)
)

// inspectCLI builds cmd/mrhub and reads its command list (`mrhub help`: a command whose summary
// names "`cmd sub …`" has subcommands) and each command's flags (`mrhub cmd [sub] -h`).
func inspectCLI(t *testing.T) cli {
	t.Helper()
	// Help touches no database (cmd/mrhub's TestHelpHasNoSideEffects): one that does fails here.
	dsn := "postgres://postgres@127.0.0.1:1/none?connect_timeout=1"
	bin := filepath.Join(t.TempDir(), "mrhub")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mrhub")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mrhub: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, "MRHUB_LOG_LEVEL=error")
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	c := cli{groups: map[string][]string{}, flags: map[string]map[string]string{}}
	usage := run("help")
	inCommands := false
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "commands:") {
			inCommands = true
			continue
		}
		m := usageLine.FindStringSubmatch(l)
		if !inCommands || m == nil {
			continue
		}
		name := m[1]
		c.groups[name] = nil
		for _, s := range subInUsage.FindAllStringSubmatch(m[2], -1) {
			if s[1] == name && !contains(c.groups[name], s[2]) {
				c.groups[name] = append(c.groups[name], s[2])
			}
		}
	}
	if len(c.groups) < 5 {
		t.Fatalf("`mrhub help` listed %d commands:\n%s", len(c.groups), usage)
	}
	for name, subs := range c.groups {
		paths := [][]string{{name}}
		if subs != nil {
			paths = nil
			for _, s := range subs {
				paths = append(paths, []string{name, s})
			}
		}
		for _, p := range paths {
			out := run(append(append([]string{}, p...), "-h")...)
			fl := map[string]string{}
			last := ""
			for _, l := range strings.Split(out, "\n") {
				if m := flagLine.FindStringSubmatch(l); m != nil {
					last = m[1]
					fl[last] = ""
				} else if last != "" && strings.HasPrefix(l, "    ") {
					fl[last] = strings.TrimSpace(fl[last] + " " + strings.TrimSpace(l))
				}
			}
			if len(fl) == 0 && !strings.Contains(out, "unexpected arguments") {
				t.Logf("`mrhub %s -h` lists no flags:\n%s", strings.Join(p, " "), out)
			}
			c.flags[strings.Join(p, " ")] = fl
		}
	}
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// section is a part of a Markdown document under one heading.
type section struct {
	heading string
	level   int
	line    int
	body    string
}

var headingRE = regexp.MustCompile(`^(#{1,6}) +(.*?) *$`)

func sections(doc string) []section {
	var out []section
	cur := section{level: 0}
	var body strings.Builder
	inFence := false
	for i, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "```") {
			inFence = !inFence
		}
		if m := headingRE.FindStringSubmatch(l); m != nil && !inFence {
			cur.body = body.String()
			out = append(out, cur)
			body.Reset()
			cur = section{heading: m[2], level: len(m[1]), line: i + 1}
			continue
		}
		body.WriteString(l + "\n")
	}
	cur.body = body.String()
	return append(out, cur)
}

// subtree returns the body of s and of the sections nested under it.
func subtree(all []section, i int) string {
	var b strings.Builder
	b.WriteString(all[i].body)
	for j := i + 1; j < len(all) && all[j].level > all[i].level; j++ {
		b.WriteString(all[j].body)
	}
	return b.String()
}

var (
	commonFlagsRE  = regexp.MustCompile(`(?i)common\s+flags`)
	commandHeading = regexp.MustCompile("^`?mrhub ([a-z]+(?: [a-z]+)?)`?$")
	flagCell       = regexp.MustCompile("`--?([a-z][a-z0-9-]*)")
)

// tableFlags returns the flags named in the first cell of the table rows of body.
func tableFlags(body string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		cells := strings.Split(l, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range flagCell.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = true
		}
	}
	return out
}

// TestCommandsAndFlagsDocumented: docs/reference.md has a section "`mrhub <command>`" for every
// command and subcommand of the binary, listing exactly its flags (a section that says "common
// flags" takes those of the "Common flags" section too), and every `mrhub …` command line quoted
// in any document names a command, subcommand and flags that exist.
func TestCommandsAndFlagsDocumented(t *testing.T) {
	c := inspectCLI(t)
	ref := read(t, reference)
	secs := sections(ref)
	common := map[string]bool(nil)
	documented := map[string]map[string]bool{}
	docLine := map[string]int{}
	for i, s := range secs {
		if strings.EqualFold(strings.Trim(s.heading, "` "), "common flags") {
			common = tableFlags(subtree(secs, i))
		}
	}
	if common == nil {
		t.Errorf("%s: no \"Common flags\" section (a table of the flags `mrhub serve -h` lists, shared by the hub commands)", reference)
	}
	for i, s := range secs {
		m := commandHeading.FindStringSubmatch(s.heading)
		if m == nil {
			continue
		}
		body := subtree(secs, i)
		fl := tableFlags(body)
		if commonFlagsRE.MatchString(body) {
			for f := range common {
				fl[f] = true
			}
		}
		documented[m[1]] = fl
		docLine[m[1]] = s.line
	}
	for _, p := range c.paths() {
		want := c.flags[p]
		got, ok := documented[p]
		if !ok {
			var names []string
			for f := range want {
				names = append(names, "-"+f)
			}
			sort.Strings(names)
			t.Errorf("%s: add a section \"### `mrhub %s`\" saying what it does, with a table of its flags (%s), or \"plus the common flags\" if it has them",
				reference, p, strings.Join(names, ", "))
			continue
		}
		for f, help := range want {
			if !got[f] && f != "h" {
				t.Errorf("%s:%d section `mrhub %s`: add a row for flag `-%s` (its -h text: %q)", reference, docLine[p], p, f, help)
			}
		}
		for f := range got {
			if _, ok := want[f]; !ok {
				t.Errorf("%s:%d section `mrhub %s`: flag `-%s` does not exist (`mrhub %s -h` does not list it): remove the row or fix the name",
					reference, docLine[p], p, f, p)
			}
		}
	}
	for p, line := range docLine {
		if _, ok := c.flags[p]; !ok {
			t.Errorf("%s:%d: section `mrhub %s` documents a command the binary does not have: remove it or fix the name (commands: %s)",
				reference, line, p, strings.Join(c.paths(), ", "))
		}
	}

	// Every command line quoted in the documents.
	invocation := regexp.MustCompile(`(?:^|[\s(=]|bin/)mrhub +([a-z][a-z-]*)(\s.*|$)`)
	checked := 0
	for _, f := range markdownFiles(t) {
		code, _ := snippets(f, read(t, f))
		for _, s := range code {
			text := strings.ReplaceAll(s.text, "\\\n", " ")
			for k, l := range strings.Split(text, "\n") {
				m := invocation.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				at := fmt.Sprintf("%s:%d", s.file, s.line+k)
				cmd, rest := m[1], strings.Fields(m[2])
				subs, ok := c.groups[cmd]
				if !ok {
					t.Errorf("%s: `mrhub %s` is not a command (commands: %s): fix the command line", at, cmd, strings.Join(c.paths(), ", "))
					continue
				}
				path := cmd
				if subs != nil {
					if len(rest) == 0 || !regexp.MustCompile(`^[a-z]+$`).MatchString(rest[0]) {
						continue // the group named alone, e.g. "`mrhub bench`"
					}
					if !contains(subs, rest[0]) {
						t.Errorf("%s: `mrhub %s %s` is not a subcommand (have: %s)", at, cmd, rest[0], strings.Join(subs, ", "))
						continue
					}
					path, rest = cmd+" "+rest[0], rest[1:]
				}
				checked++
				for _, tok := range rest {
					if strings.ContainsAny(tok[:1], "|;&#><)") || tok == "\\|" {
						break
					}
					tok = strings.Trim(tok, "[]")
					fm := regexp.MustCompile(`^--?([a-z][a-z0-9-]*)(=.*)?$`).FindStringSubmatch(tok)
					if fm == nil || fm[1] == "h" || fm[1] == "help" {
						continue
					}
					if _, ok := c.flags[path][fm[1]]; !ok {
						t.Errorf("%s: `mrhub %s` has no flag -%s (see `mrhub %s -h`): fix the command line", at, path, fm[1], path)
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d `mrhub …` command lines found in the documents; the parser may be broken", checked)
	}
}

// ---- environment variables ----

var (
	envInDocs       = regexp.MustCompile(`MRHUB_[A-Z0-9_]*[A-Z0-9](_?\*)?`)
	envLiteral      = regexp.MustCompile(`"(MRHUB_[A-Z0-9_]+)"`)
	envReadInTests  = regexp.MustCompile(`(?:Getenv|LookupEnv|envBool|envInt|envOr)\("(MRHUB_[A-Z0-9_]+)"`)
	envExcludedDirs = map[string]bool{"docs": true, "node_modules": true, ".git": true}
)

// codeEnvVars returns the MRHUB_* variables the Go sources read: every such string literal of a
// non-test file, and those a test file reads from the environment, with the file naming each.
func codeEnvVars(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && envExcludedDirs[filepath.Base(rel)] && !strings.Contains(rel, string(filepath.Separator)) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		re := envLiteral
		if strings.HasSuffix(p, "_test.go") {
			re = envReadInTests
		}
		for _, m := range re.FindAllSubmatch(src, -1) {
			if _, ok := out[string(m[1])]; !ok {
				out[string(m[1])] = filepath.ToSlash(rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEnvironmentVariablesDocumented: every MRHUB_* variable the code reads is listed in
// docs/reference.md, and every MRHUB_* name in any document is one the code reads
// ("MRHUB_KAFKA_SASL_*" names a family and must prefix one).
func TestEnvironmentVariablesDocumented(t *testing.T) {
	vars := codeEnvVars(t)
	if len(vars) < 30 {
		t.Fatalf("found only %d MRHUB_* variables in the Go sources; the scan is broken", len(vars))
	}
	ref := read(t, reference)
	var names []string
	for v := range vars {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		if !strings.Contains(ref, "`"+v+"`") {
			t.Errorf("%s: add `%s` to the Configuration section (it is read in %s): its default and meaning", reference, v, vars[v])
		}
	}
	for _, f := range markdownFiles(t) {
		for i, l := range strings.Split(read(t, f), "\n") {
			for _, m := range envInDocs.FindAllString(l, -1) {
				if strings.HasSuffix(m, "*") {
					prefix := strings.TrimSuffix(m, "*")
					ok := false
					for v := range vars {
						ok = ok || strings.HasPrefix(v, prefix)
					}
					if !ok {
						t.Errorf("%s:%d: %s matches no variable the code reads", f, i+1, m)
					}
					continue
				}
				if _, ok := vars[m]; !ok {
					t.Errorf("%s:%d: %s is not read anywhere in the Go sources: remove it or fix the name", f, i+1, m)
				}
			}
		}
	}
}

// ---- dead-letter codes, metrics, routes ----

// scanSources returns the first submatch of re in every non-test Go file under dirs.
func scanSources(t *testing.T, re *regexp.Regexp, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			for _, m := range re.FindAllSubmatch(src, -1) {
				out[string(m[1])] = filepath.ToSlash(rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var metricsHeading = regexp.MustCompile(`(?i)metrics|指标`)

const codePrefixes = `fhir|kafka|profile|rights|identity|index|internal|decision`

// TestDeadLetterCodesDocumented: every rejection code of the code (reports and decisions) is
// explained in docs/integration.md and docs/integration.zh-CN.md, and every code those name exists.
func TestDeadLetterCodesDocumented(t *testing.T) {
	codes := scanSources(t, regexp.MustCompile(`"((?:`+codePrefixes+`)\.[a-z_]+)"`), "pkg", "consumers")
	if len(codes) < 20 {
		t.Fatalf("found only %d error codes in pkg/ and consumers/; the scan is broken", len(codes))
	}
	named := regexp.MustCompile("`((?:" + codePrefixes + `)\.[a-z_]+)` + "`")
	for _, f := range []string{"docs/integration.md", "docs/integration.zh-CN.md"} {
		doc := read(t, f)
		for c, src := range codes {
			if !strings.Contains(doc, "`"+c+"`") {
				t.Errorf("%s: add the code `%s` (from %s) to the dead-letter codes table: its cause and how the publisher fixes it", f, c, src)
			}
		}
		for _, m := range named.FindAllStringSubmatch(doc, -1) {
			if _, ok := codes[m[1]]; !ok {
				t.Errorf("%s: `%s` is not an error code of the hub (pkg/, consumers/): remove it or fix the name", f, m[1])
			}
		}
	}
}

// TestMetricsDocumented: every Prometheus metric the hub registers is described in
// docs/operations.md and docs/operations.zh-CN.md, and every mrhub_* metric they name exists.
func TestMetricsDocumented(t *testing.T) {
	metrics := scanSources(t, regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(mrhub_[a-z0-9_]+)"`), "pkg")
	if len(metrics) < 5 {
		t.Fatalf("found only %d metrics; the scan is broken", len(metrics))
	}
	named := regexp.MustCompile(`mrhub_[a-z0-9_]+`)
	for _, f := range []string{"docs/operations.md", "docs/operations.zh-CN.md"} {
		doc := read(t, f)
		for m, src := range metrics {
			if !strings.Contains(doc, "`"+m+"`") {
				t.Errorf("%s: add the metric `%s` (registered in %s) to the metrics table: what it counts and an alert worth setting", f, m, src)
			}
		}
		// Names in the metrics section must be metrics (elsewhere mrhub_ also starts file and
		// database names).
		metricsSection := ""
		secs := sections(doc)
		for i, sec := range secs {
			if metricsHeading.MatchString(sec.heading) {
				metricsSection = subtree(secs, i)
				break
			}
		}
		if metricsSection == "" {
			t.Errorf("%s: no section whose heading names metrics (Metrics and alerts / 指标与告警)", f)
		}
		for _, m := range named.FindAllString(metricsSection, -1) {
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if _, ok := metrics[base]; !ok {
					base = strings.TrimSuffix(base, suf)
				}
			}
			if _, ok := metrics[base]; !ok {
				t.Errorf("%s: %s is not a metric the hub registers: remove it or fix the name", f, m)
			}
		}
	}
}

// TestRoutesDocumented: every literal HTTP route pattern of the code is listed in docs/reference.md.
func TestRoutesDocumented(t *testing.T) {
	routes := scanSources(t, regexp.MustCompile(`"((?:GET|POST|PUT|DELETE|PATCH) /[^"\s\\]*)"(?:\s*[^+\s]|\s*$)`), "pkg")
	if len(routes) < 8 {
		t.Fatalf("found only %d routes; the scan is broken", len(routes))
	}
	ref := read(t, reference)
	for r, src := range routes {
		r = strings.ReplaceAll(r, "{$}", "")
		if !strings.Contains(ref, "`"+r) {
			t.Errorf("%s: add the route `%s` (from %s) to the HTTP API table: who may call it and what it answers", reference, r, src)
		}
	}
}

// ---- links ----

var linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// slug is GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, s := range sections(doc)[1:] {
		a := slug(strings.ReplaceAll(s.heading, "`", ""))
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// TestLinksResolve: every relative link of every document resolves to a file of the repository
// (and to a heading, when it has an #anchor); no document points outside the repository.
func TestLinksResolve(t *testing.T) {
	n := 0
	for _, f := range markdownFiles(t) {
		doc := read(t, f)
		if strings.Contains(doc, "../shared") {
			t.Errorf("%s mentions ../shared, which is not part of the repository: describe it in the docs instead", f)
		}
		_, prose := snippets(f, doc)
		for i, l := range strings.Split(prose, "\n") {
			for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				n++
				at := fmt.Sprintf("%s:%d", f, i+1)
				file, anchor, _ := strings.Cut(target, "#")
				dest := f
				if file != "" {
					dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(f), file)))
				}
				if strings.HasPrefix(dest, "../") || dest == ".." {
					t.Errorf("%s: link %q points outside the repository", at, target)
					continue
				}
				st, err := os.Stat(filepath.Join(root, dest))
				if err != nil {
					t.Errorf("%s: link %q: %s does not exist", at, target, dest)
					continue
				}
				if anchor != "" && !st.IsDir() && strings.HasSuffix(dest, ".md") && !anchors(read(t, dest))[anchor] {
					t.Errorf("%s: link %q: %s has no heading with anchor #%s", at, target, dest, anchor)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("found only %d relative links; the parser may be broken", n)
	}
}

// TestTranslationsLinked: every X.zh-CN.md has its X.md, and each links to the other.
func TestTranslationsLinked(t *testing.T) {
	pairs := 0
	for _, f := range markdownFiles(t) {
		if !strings.HasSuffix(f, ".zh-CN.md") {
			continue
		}
		pairs++
		en := strings.TrimSuffix(f, ".zh-CN.md") + ".md"
		if _, err := os.Stat(filepath.Join(root, en)); err != nil {
			t.Errorf("%s has no English original %s", f, en)
			continue
		}
		if !strings.Contains(read(t, en), "("+filepath.Base(f)) {
			t.Errorf("%s: add a link to its Chinese version (%s) near the top", en, filepath.Base(f))
		}
		if !strings.Contains(read(t, f), "("+filepath.Base(en)) {
			t.Errorf("%s: add a link to its English version (%s) near the top", f, filepath.Base(en))
		}
	}
	if pairs < 3 {
		t.Errorf("found %d Chinese documents; README, integration and operations each need a .zh-CN.md", pairs)
	}
}

// TestNoHistory: documents describe the product as it is, not how it was written.
func TestNoHistory(t *testing.T) {
	history := regexp.MustCompile(`(?i)\b(first|second|third|fourth|fifth|this|last|earlier|later|previous|next|another) session'?s?\b|\bpreviously\b|本次会话|上次会话|第[一二三四五]次会话`)
	for _, f := range markdownFiles(t) {
		for i, l := range strings.Split(read(t, f), "\n") {
			if m := history.FindString(l); m != "" {
				t.Errorf("%s:%d: %q tells the history of the work; describe what the product does (dated figures go in a table)", f, i+1, m)
			}
		}
	}
}

// ---- JSON ----

// TestJSONParsesAndValidates: every ```json block of the documents and every file under
// docs/examples parses; the FHIR ones validate against the official R4 JSON Schema and the
// decision ones against schemas/events/decision.schema.json.
func TestJSONParsesAndValidates(t *testing.T) {
	type doc struct {
		at   string
		data []byte
	}
	var docs []doc
	for _, f := range markdownFiles(t) {
		code, _ := snippets(f, read(t, f))
		for _, s := range code {
			if s.lang == "json" {
				docs = append(docs, doc{fmt.Sprintf("%s:%d", s.file, s.line), []byte(s.text)})
			}
		}
	}
	examples, _ := filepath.Glob(filepath.Join(root, "docs", "examples", "*.json"))
	if len(examples) < 5 {
		t.Errorf("docs/examples holds %d JSON files; one per accepted FHIR shape is expected", len(examples))
	}
	for _, f := range examples {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc{"docs/examples/" + filepath.Base(f), b})
	}
	decisionSchema := compileSchema(t, "schemas/events/decision.schema.json")
	var fhirDocs []doc
	for _, d := range docs {
		var v any
		dec := json.NewDecoder(bytes.NewReader(d.data))
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s: not valid JSON: %v (use ```text for fragments with placeholders)", d.at, err)
			continue
		}
		if dec.More() {
			t.Errorf("%s: more than one JSON value in one block", d.at)
			continue
		}
		obj, _ := v.(map[string]any)
		switch {
		case obj != nil && obj["resourceType"] != nil:
			fhirDocs = append(fhirDocs, d)
		case obj != nil && obj["id"] != nil && (obj["outcome"] != nil || obj["type"] == "revoke"):
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(d.data))
			if err := decisionSchema.Validate(inst); err != nil {
				t.Errorf("%s: not a valid decision (schemas/events/decision.schema.json): %v", d.at, err)
			}
		}
	}
	if len(fhirDocs) < 5 {
		t.Errorf("found %d FHIR documents; the examples are missing", len(fhirDocs))
	}
	t.Run("fhir-r4-schema", func(t *testing.T) {
		v := fhirschema.Require(t) // skips, saying why, when ../shared/fhir is absent
		for _, d := range fhirDocs {
			if err := v.Validate(d.data); err != nil {
				t.Errorf("%s: does not validate against the FHIR R4 JSON Schema: %v", d.at, err)
			}
		}
	})
}

func compileSchema(t *testing.T, rel string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("compiling %s: %v", rel, err)
	}
	return s
}
