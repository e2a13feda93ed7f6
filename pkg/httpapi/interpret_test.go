package httpapi

import "testing"

func f(v float64) *float64 { return &v }

func TestAbnormalFlag(t *testing.T) {
	cases := []struct {
		o        obsRow
		flag     string
		source   string
		critical bool
	}{
		{obsRow{ValueNum: f(5), RefLow: f(4), RefHigh: f(10)}, "N", "reference_range", false},
		{obsRow{ValueNum: f(11), RefLow: f(4), RefHigh: f(10)}, "H", "reference_range", false},
		{obsRow{ValueNum: f(20), RefLow: f(4), RefHigh: f(10)}, "HH", "reference_range", true},
		{obsRow{ValueNum: f(3), RefLow: f(4), RefHigh: f(10)}, "L", "reference_range", false},
		{obsRow{ValueNum: f(2), RefLow: f(4), RefHigh: f(10)}, "LL", "reference_range", true},
		{obsRow{ValueNum: f(-1), RefLow: f(0), RefHigh: f(10)}, "L", "reference_range", false},
		{obsRow{ValueNum: f(5), RefHigh: f(4)}, "H", "reference_range", false},
		{obsRow{ValueNum: f(5)}, "", "none", false},
		{obsRow{ValueNum: f(5), RefLow: f(4), RefHigh: f(10), Interpretation: "H"}, "H", "interpretation", false},
		{obsRow{ValueNum: f(5), Interpretation: "ll"}, "LL", "interpretation", true},
		{obsRow{Interpretation: "POS"}, "POS", "interpretation", false},
	}
	for i, c := range cases {
		fl, src, crit := abnormalFlag(&c.o)
		if fl != c.flag || src != c.source || crit != c.critical {
			t.Errorf("case %d: %s %s %v, want %s %s %v", i, fl, src, crit, c.flag, c.source, c.critical)
		}
	}
}

func TestParseResultID(t *testing.T) {
	for id, want := range map[string]struct {
		rep string
		ord int
		ok  bool
	}{
		"0123abcd-1":    {"0123abcd", 1, true},
		"0123abcd-12":   {"0123abcd", 12, true},
		"a-b-7":         {"a-b", 7, true},
		"0123abcd-0":    {},
		"0123abcd-01":   {},
		"0123abcd-+1":   {},
		"0123abcd--1":   {"0123abcd-", 1, true},
		"0123abcd-":     {},
		"-1":            {},
		"0123abcd":      {},
		"0123abcd-1x":   {},
		"x-12345678901": {},
		"x-123456789":   {"x", 123456789, true},
	} {
		rep, ord, ok := parseResultID(id)
		if rep != want.rep || ord != want.ord || ok != want.ok {
			t.Errorf("parseResultID(%q) = %q, %d, %v; want %q, %d, %v", id, rep, ord, ok, want.rep, want.ord, want.ok)
		}
	}
}
