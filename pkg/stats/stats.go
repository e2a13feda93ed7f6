package stats

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/catalog"
)

// Dimensions a query may group by.
const (
	ByInstitution = "institution"
	ByCommunity   = "community"
	ByDistrict    = "district"
	ByItem        = "item"
	ByDepartment  = "department"
	ByDay         = "day"
	ByMonth       = "month"
)

// Dimensions lists every dimension.
var Dimensions = []string{ByInstitution, ByCommunity, ByDistrict, ByItem, ByDepartment, ByDay, ByMonth}

const dateLayout = "2006-01-02"

// ErrInvalid is wrapped by the errors of ParseQuery.
var ErrInvalid = errors.New("invalid statistics query")

// Query is one statistics request. From and To are China calendar days, To inclusive.
type Query struct {
	From, To time.Time // dates (UTC midnight)
	By       []string
	// Institutions restricts the figures to these deciding/requesting institutions; nil = all.
	Institutions []string
}

// ParseQuery reads from, to (YYYY-MM-DD) and by (comma-separated dimensions).
func ParseQuery(from, to string, by []string) (Query, error) {
	var q Query
	var err error
	if from == "" || to == "" {
		return q, fmt.Errorf("%w: from and to (YYYY-MM-DD, China time, to inclusive) are required", ErrInvalid)
	}
	if q.From, err = time.Parse(dateLayout, from); err != nil {
		return q, fmt.Errorf("%w: from=%q is not a date YYYY-MM-DD", ErrInvalid, from)
	}
	if q.To, err = time.Parse(dateLayout, to); err != nil {
		return q, fmt.Errorf("%w: to=%q is not a date YYYY-MM-DD", ErrInvalid, to)
	}
	if q.To.Before(q.From) {
		return q, fmt.Errorf("%w: to (%s) is before from (%s)", ErrInvalid, to, from)
	}
	for _, v := range by {
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				continue
			}
			if !slices.Contains(Dimensions, d) {
				return q, fmt.Errorf("%w: by=%q is not a dimension (%s)", ErrInvalid, d, strings.Join(Dimensions, ", "))
			}
			if slices.Contains(q.By, d) {
				return q, fmt.Errorf("%w: by names %q twice", ErrInvalid, d)
			}
			q.By = append(q.By, d)
		}
	}
	return q, nil
}

// Figures are the numbers of one group (or the totals).
type Figures struct {
	Decisions           int64            `json:"decisions"`
	Recognized          int64            `json:"recognized"`
	DeclinedCounting    int64            `json:"declined_counting"`
	DeclinedNotCounting int64            `json:"declined_not_counting"`
	Revoked             int64            `json:"revoked"`
	Rate                *float64         `json:"rate"` // recognized ÷ (recognized + declined_counting), 4 decimals; null when the divisor is 0
	Reminders           int64            `json:"reminders"`
	Retrievals          int64            `json:"retrievals"`
	SavingsCents        int64            `json:"savings_cents"`
	DeclinesByReason    map[string]int64 `json:"declines_by_reason"`
}

// Key names a group; only the fields of the query's dimensions are present.
type Key struct {
	Institution       *string `json:"institution,omitempty"`
	InstitutionName   *string `json:"institution_name,omitempty"`
	InstitutionNameEn *string `json:"institution_name_en,omitempty"`
	Community         *string `json:"community,omitempty"`
	CommunityName     *string `json:"community_name,omitempty"`
	CommunityNameEn   *string `json:"community_name_en,omitempty"`
	District          *string `json:"district,omitempty"`
	DistrictName      *string `json:"district_name,omitempty"`
	DistrictNameEn    *string `json:"district_name_en,omitempty"`
	Item              *string `json:"item,omitempty"`
	ItemName          *string `json:"item_name,omitempty"`
	ItemNameEn        *string `json:"item_name_en,omitempty"`
	Department        *string `json:"department,omitempty"`
	Day               *string `json:"day,omitempty"`
	Month             *string `json:"month,omitempty"`

	sort []string
}

// Group is one row of the answer.
type Group struct {
	Key     Key      `json:"key"`
	Figures *Figures `json:"figures"`
}

// Report is the answer of GET /api/v1/stats/recognition.
type Report struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	By     []string `json:"by"`
	Totals *Figures `json:"totals"`
	Groups []Group  `json:"groups"`
}

// Querier runs a batch (a pool or a connection).
type Querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Run answers q from the rollups.
func Run(ctx context.Context, db Querier, cat *catalog.Catalog, q Query) (*Report, error) {
	has := func(d string) bool { return slices.Contains(q.By, d) }
	level := 0
	if has(ByDepartment) {
		level |= 1
	}
	if has(ByItem) {
		level |= 2
	}
	byInst := has(ByInstitution) || has(ByCommunity) || has(ByDistrict)

	// Dimension columns selected from the rollup (in this order): institution, department, item, period.
	var cols []string
	if byInst {
		cols = append(cols, "institution")
	}
	if level&1 != 0 {
		cols = append(cols, "department")
	}
	if level&2 != 0 {
		cols = append(cols, "item")
	}
	switch {
	case has(ByDay):
		cols = append(cols, "period")
	case has(ByMonth):
		cols = append(cols, "date_trunc('month', period)::date")
	}

	// Whole months from monthly rows, the partial months at either end from daily rows: each
	// segment is one range of the primary key (level, grain, period, …).
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	lv := arg(level)
	instFilter := ""
	if q.Institutions != nil {
		instFilter = " AND institution = ANY(" + arg(q.Institutions) + ")"
	}
	var segs []string
	for _, sg := range segments(q, has(ByDay)) {
		segs = append(segs, fmt.Sprintf(`SELECT * FROM %%[1]s WHERE level = %s AND grain = '%c' AND period >= %s AND period < %s%s`,
			lv, sg.grain, arg(sg.from), arg(sg.to), instFilter))
	}
	from := func(table string) string {
		return "(" + fmt.Sprintf(strings.Join(segs, " UNION ALL "), table) + ") r"
	}
	sel := strings.Join(append(slices.Clone(cols), ""), ", ")
	group := ""
	if len(cols) > 0 {
		var n []string
		for i := range cols {
			n = append(n, strconv.Itoa(i+1))
		}
		group = " GROUP BY " + strings.Join(n, ", ")
	}
	var reasonSums strings.Builder
	for _, r := range catalog.PlatformReasons {
		fmt.Fprintf(&reasonSums, ", COALESCE(sum(reason_%d), 0)::bigint", r)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+sel+`COALESCE(sum(decisions), 0)::bigint, COALESCE(sum(recognized), 0)::bigint, COALESCE(sum(declined_counting), 0)::bigint, COALESCE(sum(declined_not_counting), 0)::bigint,
		COALESCE(sum(revoked), 0)::bigint, COALESCE(sum(reminders), 0)::bigint, COALESCE(sum(retrievals), 0)::bigint, COALESCE(sum(savings_cents), 0)::bigint`+
		reasonSums.String()+` FROM `+from("stats_rollup")+group, args...)
	br := db.SendBatch(ctx, b)
	defer br.Close()

	rep := &Report{From: q.From.Format(dateLayout), To: q.To.Format(dateLayout), By: q.By, Totals: newFigures(cat), Groups: []Group{}}
	if rep.By == nil {
		rep.By = []string{}
	}
	groups := map[string]*Group{}
	vals := make([]string, len(cols))
	var period time.Time
	scanDims := func() []any {
		out := make([]any, len(cols))
		for i := range cols {
			if strings.Contains(cols[i], "period") {
				out[i] = &period
			} else {
				out[i] = &vals[i]
			}
		}
		return out
	}
	groupOf := func() *Group {
		k := keyOf(cat, q.By, cols, vals, period)
		id := strings.Join(k.sort, "\x00")
		g, ok := groups[id]
		if !ok {
			g = &Group{Key: k, Figures: newFigures(cat)}
			groups[id] = g
		}
		return g
	}

	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("reading rollups: %w", err)
	}
	byReason := make([]int64, len(catalog.PlatformReasons))
	for rows.Next() {
		var f Figures
		dst := append(scanDims(), &f.Decisions, &f.Recognized, &f.DeclinedCounting, &f.DeclinedNotCounting, &f.Revoked, &f.Reminders, &f.Retrievals, &f.SavingsCents)
		for i := range byReason {
			dst = append(dst, &byReason[i])
		}
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading rollups: %w", err)
		}
		add(rep.Totals, &f)
		addReasons(rep.Totals, byReason)
		if len(q.By) > 0 {
			g := groupOf()
			add(g.Figures, &f)
			addReasons(g.Figures, byReason)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading rollups: %w", err)
	}
	finish(rep.Totals)
	for _, g := range groups {
		finish(g.Figures)
		rep.Groups = append(rep.Groups, *g)
	}
	sort.Slice(rep.Groups, func(i, j int) bool { return slices.Compare(rep.Groups[i].Key.sort, rep.Groups[j].Key.sort) < 0 })
	return rep, nil
}

type segment struct {
	grain    byte
	from, to time.Time // [from, to)
}

// segments lists the rollup rows covering [From, To]: daily rows when byDay, else monthly rows
// for the whole months inside the range and daily rows for the partial months at its ends.
func segments(q Query, byDay bool) []segment {
	from, end := q.From, q.To.AddDate(0, 0, 1) // end exclusive
	first := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !first.Equal(from) {
		first = first.AddDate(0, 1, 0)
	}
	last := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC) // months [first, last) are whole
	if byDay || !first.Before(last) {
		return []segment{{'d', from, end}}
	}
	segs := []segment{{'m', first, last}}
	if from.Before(first) {
		segs = append(segs, segment{'d', from, first})
	}
	if last.Before(end) {
		segs = append(segs, segment{'d', last, end})
	}
	return segs
}

func newFigures(cat *catalog.Catalog) *Figures {
	f := &Figures{DeclinesByReason: map[string]int64{}}
	for _, r := range cat.Region().Reasons {
		f.DeclinesByReason[strconv.Itoa(r.Code)] = 0
	}
	return f
}

func add(t, f *Figures) {
	t.Decisions += f.Decisions
	t.Recognized += f.Recognized
	t.DeclinedCounting += f.DeclinedCounting
	t.DeclinedNotCounting += f.DeclinedNotCounting
	t.Revoked += f.Revoked
	t.Reminders += f.Reminders
	t.Retrievals += f.Retrievals
	t.SavingsCents += f.SavingsCents
}

// addReasons adds the per-reason decline counts n (in the order of catalog.PlatformReasons);
// a reason the region does not list and nobody used stays out of the map.
func addReasons(t *Figures, n []int64) {
	for i, r := range catalog.PlatformReasons {
		k := strconv.Itoa(r)
		if _, listed := t.DeclinesByReason[k]; listed || n[i] != 0 {
			t.DeclinesByReason[k] += n[i]
		}
	}
}

func finish(f *Figures) {
	if d := f.Recognized + f.DeclinedCounting; d > 0 {
		r := math.Round(float64(f.Recognized)/float64(d)*10000) / 10000
		f.Rate = &r
	}
}

func ptr(s string) *string { return &s }

// keyOf builds the key of a rollup row: vals are the selected dimension columns (cols).
func keyOf(cat *catalog.Catalog, by, cols []string, vals []string, period time.Time) Key {
	var inst, dept, item string
	for i, c := range cols {
		switch c {
		case "institution":
			inst = vals[i]
		case "department":
			dept = vals[i]
		case "item":
			item = vals[i]
		}
	}
	var k Key
	in, _ := cat.Institution(inst)
	if in == nil {
		in = &catalog.Institution{Code: inst}
	}
	var comm catalog.Community
	var dist catalog.District
	for _, c := range cat.Region().Communities {
		if c.Code == in.Community {
			comm = c
		}
	}
	for _, d := range cat.Region().Districts {
		if d.Code == in.District {
			dist = d
		}
	}
	for _, d := range by {
		switch d {
		case ByInstitution:
			k.Institution, k.InstitutionName, k.InstitutionNameEn = ptr(in.Code), ptr(in.Name), ptr(in.NameEn)
			k.Community, k.CommunityName, k.CommunityNameEn = ptr(comm.Code), ptr(comm.Name), ptr(comm.NameEn)
			k.sort = append(k.sort, in.Code)
		case ByCommunity:
			k.Community, k.CommunityName, k.CommunityNameEn = ptr(comm.Code), ptr(comm.Name), ptr(comm.NameEn)
			k.sort = append(k.sort, comm.Code)
		case ByDistrict:
			k.District, k.DistrictName, k.DistrictNameEn = ptr(in.District), ptr(dist.Name), ptr(dist.NameEn)
			k.sort = append(k.sort, in.District)
		case ByItem:
			it, _ := cat.Item(item)
			if it == nil {
				it = &catalog.Item{Code: item}
			}
			k.Item, k.ItemName, k.ItemNameEn = ptr(it.Code), ptr(it.Name), ptr(it.NameEn)
			k.sort = append(k.sort, it.Code)
		case ByDepartment:
			k.Department = ptr(dept)
			k.sort = append(k.sort, dept)
		case ByDay:
			k.Day = ptr(period.Format(dateLayout))
			k.sort = append(k.sort, *k.Day)
		case ByMonth:
			k.Month = ptr(period.Format("2006-01"))
			k.sort = append(k.sort, *k.Month)
		}
	}
	return k
}

// CSV renders rep as UTF-8 CSV with a byte-order mark: one row per group, the key columns of
// the dimensions, then the figures, then one reason_<code> column per platform decline reason.
// Without dimensions the single row holds the totals.
func CSV(rep *Report, cat *catalog.Catalog) []byte {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	w := csv.NewWriter(&buf)
	var head []string
	for _, d := range rep.By {
		head = append(head, keyColumns[d]...)
	}
	head = append(head, "decisions", "recognized", "declined_counting", "declined_not_counting", "revoked", "rate",
		"reminders", "retrievals", "savings_cents")
	var reasons []int
	for _, r := range cat.Region().Reasons {
		reasons = append(reasons, r.Code)
	}
	sort.Ints(reasons)
	for _, r := range reasons {
		head = append(head, "reason_"+strconv.Itoa(r))
	}
	_ = w.Write(head)
	row := func(k *Key, f *Figures) {
		var rec []string
		if k != nil {
			for _, d := range rep.By {
				for _, c := range keyColumns[d] {
					rec = append(rec, deref(k.field(c)))
				}
			}
		}
		rate := ""
		if f.Rate != nil {
			rate = strconv.FormatFloat(*f.Rate, 'f', -1, 64)
		}
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		rec = append(rec, i(f.Decisions), i(f.Recognized), i(f.DeclinedCounting), i(f.DeclinedNotCounting), i(f.Revoked), rate,
			i(f.Reminders), i(f.Retrievals), i(f.SavingsCents))
		for _, r := range reasons {
			rec = append(rec, i(f.DeclinesByReason[strconv.Itoa(r)]))
		}
		_ = w.Write(rec)
	}
	if len(rep.By) == 0 {
		row(nil, rep.Totals)
	}
	for i := range rep.Groups {
		row(&rep.Groups[i].Key, rep.Groups[i].Figures)
	}
	w.Flush()
	return buf.Bytes()
}

var keyColumns = map[string][]string{
	ByInstitution: {"institution", "institution_name", "institution_name_en", "community", "community_name", "community_name_en"},
	ByCommunity:   {"community", "community_name", "community_name_en"},
	ByDistrict:    {"district", "district_name", "district_name_en"},
	ByItem:        {"item", "item_name", "item_name_en"},
	ByDepartment:  {"department"},
	ByDay:         {"day"},
	ByMonth:       {"month"},
}

func (k *Key) field(c string) *string {
	switch c {
	case "institution":
		return k.Institution
	case "institution_name":
		return k.InstitutionName
	case "institution_name_en":
		return k.InstitutionNameEn
	case "community":
		return k.Community
	case "community_name":
		return k.CommunityName
	case "community_name_en":
		return k.CommunityNameEn
	case "district":
		return k.District
	case "district_name":
		return k.DistrictName
	case "district_name_en":
		return k.DistrictNameEn
	case "item":
		return k.Item
	case "item_name":
		return k.ItemName
	case "item_name_en":
		return k.ItemNameEn
	case "department":
		return k.Department
	case "day":
		return k.Day
	case "month":
		return k.Month
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
