package stats

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/index"
)

// Dimensions of the publishing figures (one at most).
const (
	PubByInstitution = "institution"
	PubByCommunity   = "community"
	PubByDay         = "day"
	PubByCode        = "code" // dead-letter code
)

// PublishingDimensions lists them.
var PublishingDimensions = []string{PubByInstitution, PubByCommunity, PubByDay, PubByCode}

// TopUnmappedCodes is how many unmapped local codes a group lists.
const TopUnmappedCodes = 10

// PublishingQuery is one request for the publishing figures. From and To are China calendar
// days of indexing, To inclusive.
type PublishingQuery struct {
	From, To time.Time
	By       string // "" or one of PublishingDimensions
	// Institutions restricts the figures to these publishing institutions; nil = all (also
	// messages whose mrhub-source is missing or names no institution).
	Institutions []string
}

// ParsePublishingQuery reads from, to (YYYY-MM-DD) and by.
func ParsePublishingQuery(from, to, by string) (PublishingQuery, error) {
	base, err := ParseQuery(from, to, nil)
	if err != nil {
		return PublishingQuery{}, err
	}
	q := PublishingQuery{From: base.From, To: base.To, By: strings.TrimSpace(by)}
	if q.By != "" && !slices.Contains(PublishingDimensions, q.By) {
		return q, fmt.Errorf("%w: by=%q is not a dimension of the publishing figures (%s)", ErrInvalid, q.By, strings.Join(PublishingDimensions, ", "))
	}
	return q, nil
}

// PublishingFigures are the publishing figures of one group (or the totals). docs/rules.md
// defines each.
type PublishingFigures struct {
	Received           int64            `json:"received"`
	Indexed            int64            `json:"indexed"`
	DeadLettered       int64            `json:"dead_lettered"`
	DeadLetteredByCode map[string]int64 `json:"dead_lettered_by_code"`
	Reports            int64            `json:"reports"`
	NewReports         int64            `json:"new_reports"`
	Amended            int64            `json:"amended"`
	Withdrawn          int64            `json:"withdrawn"`
	Unchanged          int64            `json:"unchanged"`
	Unmapped           int64            `json:"unmapped"`
	DelayReports       int64            `json:"delay_reports"`
	DelayP50Hours      *float64         `json:"delay_p50_hours"`
	DelayP95Hours      *float64         `json:"delay_p95_hours"`
	Within24hShare     *float64         `json:"within_24h_share"`
	TopUnmapped        []UnmappedCode   `json:"top_unmapped"`

	within24 int64
	buckets  []int64
}

// UnmappedCode is a local code that maps to no catalogue item, with how many reports carried it.
type UnmappedCode struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Reports int64  `json:"reports"`
}

// PublishingKey names a group: only the fields of the query's dimension are present.
type PublishingKey struct {
	Institution       *string `json:"institution,omitempty"`
	InstitutionName   *string `json:"institution_name,omitempty"`
	InstitutionNameEn *string `json:"institution_name_en,omitempty"`
	Community         *string `json:"community,omitempty"`
	CommunityName     *string `json:"community_name,omitempty"`
	CommunityNameEn   *string `json:"community_name_en,omitempty"`
	Day               *string `json:"day,omitempty"`
	Code              *string `json:"code,omitempty"`
}

// PublishingGroup is one row of the answer.
type PublishingGroup struct {
	Key     PublishingKey      `json:"key"`
	Figures *PublishingFigures `json:"figures"`
}

// PublishingReport is the answer of GET /api/v1/stats/publishing.
type PublishingReport struct {
	From   string             `json:"from"`
	To     string             `json:"to"`
	By     string             `json:"by"`
	Totals *PublishingFigures `json:"totals"`
	Groups []PublishingGroup  `json:"groups"`
}

func newPubFigures() *PublishingFigures {
	return &PublishingFigures{DeadLetteredByCode: map[string]int64{}, TopUnmapped: []UnmappedCode{},
		buckets: make([]int64, len(index.DelayBounds)+1)}
}

// Publishing answers q from the publishing rollups (migration 0011): a handful of grouped
// reads of monthly and daily rows per institution, never the report tables.
func Publishing(ctx context.Context, db Querier, cat *catalog.Catalog, q PublishingQuery) (*PublishingReport, error) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	// Whole months from monthly rows, the rest from daily rows (by day: daily rows only).
	var segs []string
	for _, sg := range segments(Query{From: q.From, To: q.To}, q.By == PubByDay) {
		segs = append(segs, fmt.Sprintf("(grain = '%c' AND period >= %s AND period < %s)", sg.grain, arg(sg.from), arg(sg.to)))
	}
	where := "(" + strings.Join(segs, " OR ") + ")"
	if q.Institutions != nil {
		where += " AND institution = ANY(" + arg(q.Institutions) + ")"
	}
	dim, join := "''", ""
	switch q.By {
	case PubByInstitution:
		dim = "institution"
	case PubByDay:
		dim = "to_char(period, 'YYYY-MM-DD')"
	case PubByCommunity:
		var insts, comms []string
		for _, in := range cat.Region().Institutions {
			insts, comms = append(insts, in.Code), append(comms, in.Community)
		}
		join = " LEFT JOIN unnest(" + arg(insts) + "::text[], " + arg(comms) + "::text[]) AS m(i, c) ON m.i = institution"
		dim = "COALESCE(m.c, '')"
	}
	codeDim := dim
	if q.By == PubByCode {
		codeDim = "code"
	}
	b := &pgx.Batch{}
	var delaySums strings.Builder
	for i := 0; i <= len(index.DelayBounds); i++ {
		fmt.Fprintf(&delaySums, ", sum(%s)::bigint", index.DelayColumn(i))
	}
	b.Queue(`SELECT `+dim+`, sum(received)::bigint, sum(indexed)::bigint, sum(dead_lettered)::bigint, sum(reports)::bigint,
		sum(new_reports)::bigint, sum(amended)::bigint, sum(withdrawn)::bigint, sum(unchanged)::bigint, sum(unmapped)::bigint,
		sum(delay_count)::bigint, sum(delay_within_24h)::bigint`+delaySums.String()+` FROM publishing_rollup`+join+` WHERE `+where+` GROUP BY 1`, args...)
	b.Queue(`SELECT `+codeDim+`, code, sum(n)::bigint FROM publishing_refusals`+join+` WHERE `+where+` GROUP BY 1, 2`, args...)
	top := func(d string) string {
		return `SELECT g, s, c, n FROM (SELECT g, s, c, n, row_number() OVER (PARTITION BY g ORDER BY n DESC, s COLLATE "C", c COLLATE "C") AS rn FROM
			(SELECT ` + d + ` AS g, code_system AS s, code AS c, sum(n)::bigint AS n FROM publishing_unmapped` + join + ` WHERE ` + where +
			` GROUP BY 1, 2, 3) x) y WHERE rn <= ` + strconv.Itoa(TopUnmappedCodes)
	}
	b.Queue(top("''"), args...)
	if q.By != "" && q.By != PubByCode {
		b.Queue(top(dim), args...)
	}
	br := db.SendBatch(ctx, b)
	defer br.Close()

	rep := &PublishingReport{From: q.From.Format(dateLayout), To: q.To.Format(dateLayout), By: q.By, Totals: newPubFigures(), Groups: []PublishingGroup{}}
	groups := map[string]*PublishingFigures{}
	group := func(g string) *PublishingFigures {
		if q.By == "" {
			return nil
		}
		f := groups[g]
		if f == nil {
			f = newPubFigures()
			groups[g] = f
		}
		return f
	}
	each := func(what string, scan func(rows pgx.Rows) error) error {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("reading the publishing %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("reading the publishing %s: %w", what, err)
			}
		}
		return rows.Err()
	}
	err := each("rollup", func(rows pgx.Rows) error {
		var g string
		f := PublishingFigures{buckets: make([]int64, len(index.DelayBounds)+1)}
		dst := []any{&g, &f.Received, &f.Indexed, &f.DeadLettered, &f.Reports, &f.NewReports, &f.Amended, &f.Withdrawn,
			&f.Unchanged, &f.Unmapped, &f.DelayReports, &f.within24}
		for i := range f.buckets {
			dst = append(dst, &f.buckets[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		addPub(rep.Totals, &f)
		if q.By != PubByCode {
			if gf := group(g); gf != nil {
				addPub(gf, &f)
			}
		}
		return nil
	})
	if err == nil {
		err = each("refusals", func(rows pgx.Rows) error {
			var g, code string
			var n int64
			if err := rows.Scan(&g, &code, &n); err != nil {
				return err
			}
			rep.Totals.DeadLetteredByCode[code] += n
			if gf := group(g); gf != nil {
				gf.DeadLetteredByCode[code] += n
				if q.By == PubByCode {
					gf.DeadLettered += n
				}
			}
			return nil
		})
	}
	unmapped := func(all bool) func(rows pgx.Rows) error {
		return func(rows pgx.Rows) error {
			var g string
			var u UnmappedCode
			if err := rows.Scan(&g, &u.System, &u.Code, &u.Reports); err != nil {
				return err
			}
			if all {
				rep.Totals.TopUnmapped = append(rep.Totals.TopUnmapped, u)
			} else if gf := group(g); gf != nil {
				gf.TopUnmapped = append(gf.TopUnmapped, u)
			}
			return nil
		}
	}
	if err == nil {
		err = each("unmapped codes", unmapped(true))
	}
	if err == nil && q.By != "" && q.By != PubByCode {
		err = each("unmapped codes", unmapped(false))
	}
	if err != nil {
		return nil, err
	}
	finishPub(rep.Totals)
	for g, f := range groups {
		finishPub(f)
		rep.Groups = append(rep.Groups, PublishingGroup{Key: pubKeyOf(cat, q.By, g), Figures: f})
	}
	sort.Slice(rep.Groups, func(i, j int) bool { return pubSort(rep.Groups[i].Key) < pubSort(rep.Groups[j].Key) })
	return rep, nil
}

func addPub(t, f *PublishingFigures) {
	t.Received += f.Received
	t.Indexed += f.Indexed
	t.DeadLettered += f.DeadLettered
	t.Reports += f.Reports
	t.NewReports += f.NewReports
	t.Amended += f.Amended
	t.Withdrawn += f.Withdrawn
	t.Unchanged += f.Unchanged
	t.Unmapped += f.Unmapped
	t.DelayReports += f.DelayReports
	t.within24 += f.within24
	for i, n := range f.buckets {
		t.buckets[i] += n
	}
}

func finishPub(f *PublishingFigures) {
	sort.SliceStable(f.TopUnmapped, func(i, j int) bool { return f.TopUnmapped[i].Reports > f.TopUnmapped[j].Reports })
	if f.DelayReports > 0 {
		s := math.Round(float64(f.within24)/float64(f.DelayReports)*10000) / 10000
		f.Within24hShare = &s
	}
	f.DelayP50Hours = quantileHours(f.buckets, 0.5)
	f.DelayP95Hours = quantileHours(f.buckets, 0.95)
}

// quantileHours estimates the q-quantile of the delay histogram in hours (2 decimals):
// linear inside the bucket that holds it; in the open last bucket, that bucket's lower bound.
func quantileHours(buckets []int64, q float64) *float64 {
	var total int64
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return nil
	}
	rank := q * float64(total)
	var cum float64
	for b, n := range buckets {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			var lo, hi time.Duration
			if b > 0 {
				lo = index.DelayBounds[b-1]
			}
			if b >= len(index.DelayBounds) {
				hi = lo
			} else {
				hi = index.DelayBounds[b]
			}
			d := lo + time.Duration((rank-cum)/float64(n)*float64(hi-lo))
			h := math.Round(d.Hours()*100) / 100
			return &h
		}
		cum += float64(n)
	}
	return nil
}

func pubKeyOf(cat *catalog.Catalog, by, g string) PublishingKey {
	var k PublishingKey
	switch by {
	case PubByInstitution:
		in, _ := cat.Institution(g)
		if in == nil {
			in = &catalog.Institution{Code: g}
		}
		k.Institution, k.InstitutionName, k.InstitutionNameEn = ptr(g), ptr(in.Name), ptr(in.NameEn)
		c := communityOf(cat, in.Community)
		k.Community, k.CommunityName, k.CommunityNameEn = ptr(c.Code), ptr(c.Name), ptr(c.NameEn)
	case PubByCommunity:
		c := communityOf(cat, g)
		k.Community, k.CommunityName, k.CommunityNameEn = ptr(g), ptr(c.Name), ptr(c.NameEn)
	case PubByDay:
		k.Day = ptr(g)
	case PubByCode:
		k.Code = ptr(g)
	}
	return k
}

func communityOf(cat *catalog.Catalog, code string) catalog.Community {
	for _, c := range cat.Region().Communities {
		if c.Code == code {
			return c
		}
	}
	return catalog.Community{Code: code}
}

func pubSort(k PublishingKey) string {
	for _, s := range []*string{k.Institution, k.Community, k.Day, k.Code} {
		if s != nil {
			return *s
		}
	}
	return ""
}

// PublishingCSV renders rep as UTF-8 CSV with a byte-order mark: one row per group (the totals
// when there is no dimension), the key columns, the figures, then dead_lettered_by_code
// ("code=n;…") and top_unmapped ("system|code=n;…"). Text cells that a spreadsheet would take
// for a formula start with an apostrophe.
func PublishingCSV(rep *PublishingReport) []byte {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	w := csv.NewWriter(&buf)
	keyCols := map[string][]string{
		PubByInstitution: {"institution", "institution_name", "institution_name_en", "community", "community_name", "community_name_en"},
		PubByCommunity:   {"community", "community_name", "community_name_en"},
		PubByDay:         {"day"},
		PubByCode:        {"code"},
	}[rep.By]
	head := append(slices.Clone(keyCols), "received", "indexed", "dead_lettered", "reports", "new_reports", "amended", "withdrawn",
		"unchanged", "unmapped", "delay_reports", "delay_p50_hours", "delay_p95_hours", "within_24h_share", "dead_lettered_by_code", "top_unmapped")
	_ = w.Write(head)
	fl := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'f', -1, 64)
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	row := func(k *PublishingKey, f *PublishingFigures) {
		var rec []string
		if k != nil {
			vals := map[string]*string{"institution": k.Institution, "institution_name": k.InstitutionName, "institution_name_en": k.InstitutionNameEn,
				"community": k.Community, "community_name": k.CommunityName, "community_name_en": k.CommunityNameEn, "day": k.Day, "code": k.Code}
			for _, c := range keyCols {
				rec = append(rec, inert(deref(vals[c])))
			}
		}
		var codes []string
		for _, c := range sortedCodes(f.DeadLetteredByCode) {
			codes = append(codes, c+"="+i(f.DeadLetteredByCode[c]))
		}
		var um []string
		for _, u := range f.TopUnmapped {
			um = append(um, u.System+"|"+u.Code+"="+i(u.Reports))
		}
		rec = append(rec, i(f.Received), i(f.Indexed), i(f.DeadLettered), i(f.Reports), i(f.NewReports), i(f.Amended), i(f.Withdrawn),
			i(f.Unchanged), i(f.Unmapped), i(f.DelayReports), fl(f.DelayP50Hours), fl(f.DelayP95Hours), fl(f.Within24hShare),
			inert(strings.Join(codes, ";")), inert(strings.Join(um, ";")))
		_ = w.Write(rec)
	}
	if rep.By == "" {
		row(nil, rep.Totals)
	}
	for j := range rep.Groups {
		row(&rep.Groups[j].Key, rep.Groups[j].Figures)
	}
	w.Flush()
	return buf.Bytes()
}

// inert keeps a spreadsheet from reading a cell as a formula: the publishers choose the local
// codes (and, for an unknown publisher, the institution), so a cell that starts with = + - @ or a
// control character gets a leading apostrophe, as spreadsheet programs expect.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func sortedCodes(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
