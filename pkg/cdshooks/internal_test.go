package cdshooks

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mrhub/mrhub/pkg/httpapi"
)

func TestLanguage(t *testing.T) {
	for accept, want := range map[string]string{
		"": langZH, "en": langEN, "en-US,en;q=0.9": langEN, "zh-CN,zh;q=0.9,en;q=0.8": langZH,
		"fr, en;q=0.5": langEN, "en;q=0.4, zh-TW;q=0.6": langZH, "de": langZH,
	} {
		if got := language(accept); got != want {
			t.Errorf("language(%q) = %s, want %s", accept, got, want)
		}
	}
}

func TestIndicator(t *testing.T) {
	obs := func(flags ...string) []httpapi.Interpretation {
		var out []httpapi.Interpretation
		for _, f := range flags {
			out = append(out, httpapi.Interpretation{Flag: f, Critical: f == "HH" || f == "LL"})
		}
		return out
	}
	for _, c := range []struct {
		obs  []httpapi.Interpretation
		want string
	}{{nil, IndicatorInfo}, {obs("N", ""), IndicatorInfo}, {obs("N", "H"), IndicatorWarning}, {obs("L", "HH", "N"), IndicatorCritical}} {
		if got := indicator(c.obs); got != c.want {
			t.Errorf("indicator(%v) = %s, want %s", c.obs, got, c.want)
		}
	}
}

func TestClipAndMarkdown(t *testing.T) {
	long := strings.Repeat("检", 200)
	if c := clip(long, maxSummary); utf8.RuneCountInString(c) != maxSummary || !strings.HasSuffix(c, "…") {
		t.Errorf("clip: %d characters", utf8.RuneCountInString(c))
	}
	if got := md("a|b *c* [x](y) <img>\nz"); got != `a\|b \*c\* \[x\](y) &lt;img&gt; z` {
		t.Errorf("md: %s", got)
	}
	if got := num(5.3999999999999995); got != "5.4" {
		t.Errorf("num: %s", got)
	}
}
