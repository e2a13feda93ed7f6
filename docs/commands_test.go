package docs_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// commandTable returns the commands named in the first column of the table under the heading
// heading of file f ("serve", "review list", "review accept", …): a cell "`mrhub review list` /
// `accept`" names two.
func commandTable(t *testing.T, f, heading string) []string {
	t.Helper()
	cell := regexp.MustCompile("`(?:mrhub )?([a-z]+(?: [a-z]+)?)`")
	for _, sec := range sections(read(t, f)) {
		if sec.heading != heading {
			continue
		}
		var out []string
		for _, l := range strings.Split(sec.body, "\n") {
			cells := strings.Split(l, "|")
			if !strings.HasPrefix(l, "| `mrhub ") || len(cells) < 3 {
				continue
			}
			group := ""
			for i, m := range cell.FindAllStringSubmatch(cells[1], -1) {
				name := m[1]
				if i == 0 {
					group, _, _ = strings.Cut(name, " ")
				} else {
					name = group + " " + name
				}
				out = append(out, name)
			}
		}
		sort.Strings(out)
		return out
	}
	t.Fatalf("%s: no section %q with a table of commands", f, heading)
	return nil
}

// TestCommandTablesMatch: the commands tables of README.md, README.zh-CN.md and
// docs/reference.md name the same commands and subcommands, exactly those of the binary.
func TestCommandTablesMatch(t *testing.T) {
	c := inspectCLI(t)
	var want []string
	for p := range c.flags {
		if p != "help" {
			want = append(want, p)
		}
	}
	sort.Strings(want)
	for _, f := range []struct{ file, heading string }{
		{"docs/reference.md", "Commands"}, {"README.md", "Commands"}, {"README.zh-CN.md", "命令"},
	} {
		if got := commandTable(t, f.file, f.heading); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s, section %s: the table names\n  %s\nthe binary has\n  %s", f.file, f.heading, strings.Join(got, ", "), strings.Join(want, ", "))
		}
	}
}
