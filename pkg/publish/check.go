package publish

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/mrhub/mrhub/pkg/verdict"
)

// CheckSummary counts the verdicts of a `mrhub check` run.
type CheckSummary struct {
	Messages, Accepted, WithWarnings, Refused int
	ByCode                                    map[string]int // refusals by dead-letter code
}

// Check gives c's verdict on every message Send would publish from paths (files and
// directories, *.json and NDJSON lines, as Collect reads them) as source, printing one line per
// message ("NAME: ok new:<id>:<item> …" or "NAME: REFUSED <code> at <path>: <why>") and a
// summary line. The size limit is the checker's (the hub's), not Options.MaxBytes.
func Check(ctx context.Context, c *verdict.Checker, paths []string, source string, out io.Writer) (*CheckSummary, error) {
	items, err := Collect(paths, Options{Source: source, MaxBytes: math.MaxInt})
	if err != nil {
		return nil, err
	}
	s := &CheckSummary{ByCode: map[string]int{}}
	for _, it := range items {
		if it.Value == nil { // unreadable: publish would not send it either
			s.Messages++
			s.Refused++
			s.ByCode["local.unreadable"]++
			fmt.Fprintf(out, "%s: REFUSED local.unreadable: %s\n", it.Name, it.Reason)
			continue
		}
		v, err := c.Check(ctx, it.Value, source)
		if err != nil {
			return s, err
		}
		s.Messages++
		switch {
		case !v.Accepted():
			s.Refused++
			s.ByCode[v.Refused.Code]++
		case v.Warnings() > 0:
			s.Accepted++
			s.WithWarnings++
		default:
			s.Accepted++
		}
		fmt.Fprintf(out, "%s: %s\n", it.Name, v.Line())
	}
	s.Print(out)
	return s, nil
}

// Print writes the summary line.
func (s *CheckSummary) Print(w io.Writer) {
	var codes []string
	for c := range s.ByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for i, c := range codes {
		codes[i] = fmt.Sprintf("%s=%d", c, s.ByCode[c])
	}
	by := ""
	if len(codes) > 0 {
		by = " (" + strings.Join(codes, ", ") + ")"
	}
	fmt.Fprintf(w, "checked %d messages: %d would be indexed (%d with warnings), %d refused%s\n",
		s.Messages, s.Accepted, s.WithWarnings, s.Refused, by)
}
