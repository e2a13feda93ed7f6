package cdshooks

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mrhub/mrhub/pkg/httpapi"
)

// Card languages: Chinese by default, English when Accept-Language prefers it.
const (
	langZH = "zh"
	langEN = "en"
)

// language picks zh or en from an Accept-Language header: the preferred (highest q, first on a
// tie) of the languages named that is Chinese or English; Chinese when none is.
func language(accept string) string {
	best, bestQ := langZH, -1.0
	for _, part := range strings.Split(accept, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		var l string
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			l = langZH
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			l = langEN
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// maxSummary is the longest summary, in characters: the specification asks for fewer than 140.
const maxSummary = 139

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// card builds the card of one recognisable item, whose suggestion deletes the draft orders refs.
func (s *Service) card(lang string, it httpapi.ItemJSON, refs []string, base string, now time.Time) Card {
	res := it.Result
	en := lang == langEN
	issuer := res.Institution.Name
	itemName := it.Name
	if en {
		if in, ok := s.cat.Institution(res.Institution.Code); ok && in.NameEn != "" {
			issuer = in.NameEn
		}
		if it.NameEn != "" {
			itemName = it.NameEn
		}
	}
	if issuer == "" {
		issuer = res.Institution.Code
	}
	loc := s.opt.Location
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	minute := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") }
	age := int(math.Floor(now.In(loc).Sub(res.Date.In(loc)).Hours() / 24))
	if age < 0 {
		age = 0
	}
	var until string
	if res.ExpiresAt != nil {
		until = day(*res.ExpiresAt)
	}

	c := Card{UUID: newUUID(), Indicator: indicator(res.Observations), SelectionBehavior: "at-most-one",
		OverrideReasons: s.reasons[lang]}
	t := texts[lang]
	var ageText string
	switch {
	case age == 0:
		ageText = t.today
	case age == 1:
		ageText = t.oneDay
	default:
		ageText = fmt.Sprintf(t.days, age)
	}
	c.Summary = clip(fmt.Sprintf(t.summary, itemName, issuer, ageText, until), maxSummary)
	c.Source = Source{Label: t.source, URL: base + "/", Topic: &Coding{System: TopicSystem, Code: TopicRecognizable, Display: t.topic}}

	actions := make([]Action, len(refs))
	for i, ref := range refs {
		actions[i] = Action{Type: "delete", Description: fmt.Sprintf(t.action, itemName, ref), ResourceID: ref}
	}
	c.Suggestions = []Suggestion{{Label: t.suggestion, UUID: newUUID(), IsRecommended: true, Actions: actions}}
	c.Links = []Link{{Label: t.link, URL: base + "/fhir/DiagnosticReport/" + res.ReportID, Type: "absolute"}}

	// Detail (GitHub-flavoured Markdown).
	var b strings.Builder
	fmt.Fprintf(&b, t.lead+"\n\n", md(issuer), md(itemName))
	fmt.Fprintf(&b, "- %s%s%s\n", t.taken, t.sep, minute(res.Date))
	if res.Issued != nil {
		fmt.Fprintf(&b, "- %s%s%s\n", t.issued, t.sep, minute(*res.Issued))
	}
	if res.ExpiresAt != nil {
		fmt.Fprintf(&b, "- %s%s%s"+t.window+"\n", t.until, t.sep, minute(*res.ExpiresAt), it.ValidityDays)
	}
	if res.HRScope != "" {
		scope := res.HRScope
		if x, ok := t.scopes[scope]; ok {
			scope = x
		}
		fmt.Fprintf(&b, "- %s%s%s", t.hr, t.sep, md(scope))
		if res.HRMark != "" {
			fmt.Fprintf(&b, t.mark, md(res.HRMark))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- %s%s¥%d.%02d\n", t.price, t.sep, it.PriceCents/100, it.PriceCents%100)
	fmt.Fprintf(&b, "- %s%s%s\n", t.report, t.sep, res.ReportID)
	if len(res.Observations) > 0 {
		fmt.Fprintf(&b, "\n| %s |\n|---|---|---|---|---|---|\n", strings.Join(t.columns, " | "))
		for _, o := range res.Observations {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", md(obsName(o)), md(value(o)), md(o.Unit), md(rangeText(o.ReferenceRange)),
				md(flagText(o, t)), md(trendText(o, t, day, s, en)))
		}
	}
	c.Detail = b.String()
	return c
}

// indicator is critical when a value is critical, warning when one is abnormal, else info.
func indicator(obs []httpapi.Interpretation) string {
	ind := IndicatorInfo
	for _, o := range obs {
		switch {
		case o.Critical:
			return IndicatorCritical
		case o.Flag != "" && o.Flag != "N":
			ind = IndicatorWarning
		}
	}
	return ind
}

func obsName(o httpapi.Interpretation) string {
	if o.Code.Display != "" {
		return o.Code.Display + " (" + o.Code.Code + ")"
	}
	return o.Code.Code
}

// num writes a value with at most 6 decimals (reference ranges scaled by the sender can carry
// binary noise: 5.3999999999999995).
func num(f float64) string { return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64) }

func value(o httpapi.Interpretation) string {
	switch {
	case o.Value != nil:
		return num(*o.Value)
	case o.ValueText != nil:
		return *o.ValueText
	}
	return ""
}

func rangeText(r *httpapi.RangeJSON) string {
	switch {
	case r == nil:
		return ""
	case r.Low != nil && r.High != nil:
		return num(*r.Low) + "–" + num(*r.High)
	case r.Low != nil:
		return "≥ " + num(*r.Low)
	case r.High != nil:
		return "≤ " + num(*r.High)
	}
	return ""
}

func flagText(o httpapi.Interpretation, t *cardText) string {
	if o.Flag == "" {
		return ""
	}
	if x, ok := t.flags[o.Flag]; ok {
		return o.Flag + " " + x
	}
	return o.Flag
}

// trendText compares the value with the patient's latest earlier one (the hub's trend).
func trendText(o httpapi.Interpretation, t *cardText, day func(time.Time) string, s *Service, en bool) string {
	if o.Trend == nil || len(o.Trend.Previous) == 0 {
		return t.noTrend
	}
	p := o.Trend.Previous[0]
	where := p.Institution.Name
	if in, ok := s.cat.Institution(p.Institution.Code); ok && en && in.NameEn != "" {
		where = in.NameEn
	}
	prev := ""
	switch {
	case p.Value != nil:
		prev = num(*p.Value)
	case p.ValueText != nil:
		prev = *p.ValueText
	}
	if p.UnitMismatch {
		return fmt.Sprintf(t.unitMismatch, prev, p.Unit, day(p.Date), where)
	}
	arrow := map[string]string{"up": "↑", "down": "↓", "same": "→"}[o.Trend.Direction]
	change := ""
	if p.Change != nil {
		change = " " + signed(*p.Change)
		if p.ChangePct != nil {
			change += " (" + signed(*p.ChangePct) + "%)"
		}
	}
	return fmt.Sprintf(t.trend, strings.TrimSpace(arrow+change), prev, day(p.Date), where)
}

func signed(f float64) string {
	if f > 0 {
		return "+" + num(f)
	}
	return num(f)
}

// md escapes text for a Markdown table cell or inline text.
func md(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;", "\r", " ", "\n", " ")
	return r.Replace(s)
}

type cardText struct {
	summary, today, oneDay, days, sep                           string
	source, topic, suggestion, action, link                     string
	lead, taken, issued, until, window, hr, mark, price, report string
	columns                                                     []string
	flags, scopes                                               map[string]string
	trend, unitMismatch, noTrend                                string
}

var texts = map[string]*cardText{
	langZH: {
		summary: "可互认：%s，%s %s的结果，有效至%s",
		today:   "今天", oneDay: "1天前", days: "%d天前", sep: "：",
		source: "mrhub 检查检验结果互认", topic: "可互认的既往结果",
		suggestion: "互认：采用该结果，撤销本次开单", action: "撤销%s的开单（%s）", link: "查看报告（FHIR）",
		lead:  "**%s** 的 **%s** 结果在本院可互认。",
		taken: "采样/检查时间", issued: "报告时间", until: "互认有效期至", window: "（%d天）", hr: "互认资质", mark: "（报告标记 %s）",
		price: "项目价格", report: "报告编号",
		columns: []string{"指标", "结果", "单位", "参考范围", "标志", "与既往比较"},
		flags:   map[string]string{"N": "正常", "H": "偏高", "L": "偏低", "HH": "危急偏高", "LL": "危急偏低", "A": "异常", "AA": "危急异常"},
		scopes:  map[string]string{"national": "全国HR", "province": "本省HR", "region": "本区域HR"},
		trend:   "%s，前次 %s（%s %s）", unitMismatch: "单位不同，未比较：前次 %s %s（%s %s）", noTrend: "无既往结果",
	},
	langEN: {
		summary: "Recognisable: %s from %s, %s, valid until %s",
		today:   "today", oneDay: "1 day old", days: "%d days old", sep: ": ",
		source: "mrhub mutual recognition", topic: "Recognisable prior result",
		suggestion: "Reuse this result and cancel the order", action: "Cancel the order of %s (%s)", link: "Open the report (FHIR)",
		lead:  "The **%[2]s** result of **%[1]s** is recognisable here.",
		taken: "Sampled / examined", issued: "Reported", until: "Recognisable until", window: " (%d days)", hr: "Qualification", mark: " (report mark %s)",
		price: "Item price", report: "Report id",
		columns: []string{"Analyte", "Result", "Unit", "Reference range", "Flag", "Against earlier results"},
		flags:   map[string]string{"N": "normal", "H": "high", "L": "low", "HH": "critically high", "LL": "critically low", "A": "abnormal", "AA": "critically abnormal"},
		scopes:  map[string]string{"national": "national HR", "province": "provincial HR", "region": "regional HR"},
		trend:   "%s, previously %s (%s, %s)", unitMismatch: "units differ, not compared: previously %s %s (%s, %s)", noTrend: "no earlier result",
	},
}
