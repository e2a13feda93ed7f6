package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/stats"
)

// publishingStats loads the publishing rollups that n messages over two years (2025–2026, every
// institution, 6 partitions) leave, as the reports transaction writes them: 3% refused under
// five codes, 5% of reports in one of 200 unmapped local codes per institution, 8% amended, 1%
// withdrawn, delays from minutes to weeks. Then it times the query of GET
// /api/v1/stats/publishing over a mix of dimensions and ranges (rounds times), and prints
// `publishing reports=<n> p50_ms=<x> p99_ms=<y>`.
func publishingStats(ctx context.Context, pool *pgxpool.Pool, cat *catalog.Catalog, n, rounds int, out io.Writer) error {
	type cell struct {
		day  time.Time
		inst string
		part int
	}
	type agg struct{ received, indexed, dead, reports, newR, amended, withdrawn, unmapped, delayN, within int64 }
	daily := map[cell]*agg{}
	refusals := map[cell]map[string]int64{}
	unmapped := map[cell]map[string]int64{}
	delays := map[cell]map[int]int64{}
	codes := []string{"fhir.not_json", "fhir.unknown_element", "identity.missing", "rights.not_permitted", "profile.no_time"}
	insts := cat.Region().Institutions
	rng := rand.New(rand.NewPCG(3, 4))
	first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for i := 0; i < n; i++ {
		c := cell{first.AddDate(0, 0, rng.IntN(730)), insts[rng.IntN(len(insts))].Code, rng.IntN(6)}
		a := daily[c]
		if a == nil {
			a = &agg{}
			daily[c] = a
		}
		a.received++
		if rng.IntN(100) < 3 {
			a.dead++
			if refusals[c] == nil {
				refusals[c] = map[string]int64{}
			}
			refusals[c][codes[rng.IntN(len(codes))]]++
			continue
		}
		a.indexed++
		a.reports++
		switch r := rng.IntN(100); {
		case r < 8:
			a.amended++
		case r < 9:
			a.withdrawn++
		default:
			a.newR++
		}
		if rng.IntN(100) < 5 {
			a.unmapped++
			if unmapped[c] == nil {
				unmapped[c] = map[string]int64{}
			}
			unmapped[c][fmt.Sprintf("L%03d", rng.IntN(200))]++
		}
		d := time.Duration(rng.ExpFloat64() * float64(6*time.Hour))
		a.delayN++
		if d <= 24*time.Hour {
			a.within++
		}
		if delays[c] == nil {
			delays[c] = map[int]int64{}
		}
		delays[c][index.DelayBucket(d)]++
	}
	// Daily rows, and monthly rows summing them, as the reports transaction keeps both.
	type mkey struct {
		grain string
		cell
	}
	months := map[mkey]*agg{}
	mRef, mUnm, mDel := map[mkey]map[string]int64{}, map[mkey]map[string]int64{}, map[mkey][]int64{}
	monthOf := func(c cell) mkey {
		return mkey{"m", cell{time.Date(c.day.Year(), c.day.Month(), 1, 0, 0, 0, 0, time.UTC), c.inst, c.part}}
	}
	addTo := func(m map[mkey]map[string]int64, k mkey, from map[string]int64) {
		if m[k] == nil {
			m[k] = map[string]int64{}
		}
		for c, v := range from {
			m[k][c] += v
		}
	}
	for c, a := range daily {
		dk, mk := mkey{"d", c}, monthOf(c)
		if months[mk] == nil {
			months[mk] = &agg{}
			mDel[mk] = make([]int64, len(index.DelayBounds)+1)
		}
		ma := months[mk]
		ma.received, ma.indexed, ma.dead, ma.reports = ma.received+a.received, ma.indexed+a.indexed, ma.dead+a.dead, ma.reports+a.reports
		ma.newR, ma.amended, ma.withdrawn, ma.unmapped = ma.newR+a.newR, ma.amended+a.amended, ma.withdrawn+a.withdrawn, ma.unmapped+a.unmapped
		ma.delayN, ma.within = ma.delayN+a.delayN, ma.within+a.within
		months[dk] = a
		mDel[dk] = make([]int64, len(index.DelayBounds)+1)
		for b, v := range delays[c] {
			mDel[dk][b] += v
			mDel[mk][b] += v
		}
		addTo(mRef, dk, refusals[c])
		addTo(mRef, mk, refusals[c])
		dk.part, mk.part = 0, 0 // unmapped codes are kept without the partition
		addTo(mUnm, dk, unmapped[c])
		addTo(mUnm, mk, unmapped[c])
	}
	var dRows, rRows, uRows [][]any
	for k, a := range months {
		row := []any{k.grain, k.day, k.inst, k.part, a.received, a.indexed, a.dead, a.reports, a.newR, a.amended, a.withdrawn,
			int64(0), a.unmapped, a.delayN, a.within}
		for _, v := range mDel[k] {
			row = append(row, v)
		}
		dRows = append(dRows, row)
	}
	for k, m := range mRef {
		for c, v := range m {
			rRows = append(rRows, []any{k.grain, k.day, k.inst, k.part, c, v})
		}
	}
	for k, m := range mUnm {
		for c, v := range m {
			uRows = append(uRows, []any{k.grain, k.day, k.inst, "http://his.example/lab-codes", c, v})
		}
	}
	rollupCols := []string{"grain", "period", "institution", "partition", "received", "indexed", "dead_lettered", "reports",
		"new_reports", "amended", "withdrawn", "unchanged", "unmapped", "delay_count", "delay_within_24h"}
	for b := 0; b <= len(index.DelayBounds); b++ {
		rollupCols = append(rollupCols, index.DelayColumn(b))
	}
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"publishing_rollup", rollupCols, dRows},
		{"publishing_refusals", []string{"grain", "period", "institution", "partition", "code", "n"}, rRows},
		{"publishing_unmapped", []string{"grain", "period", "institution", "code_system", "code", "n"}, uRows},
	} {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("loading %s: %w", t.table, err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE publishing_rollup, publishing_refusals, publishing_unmapped`); err != nil {
		return err
	}
	fmt.Fprintf(out, "loaded the publishing rollups of %d messages in %s: %d rollup, %d refusal, %d unmapped-code rows\n",
		n, time.Since(start).Round(time.Millisecond), len(dRows), len(rRows), len(uRows))

	var all []string
	for _, in := range insts {
		all = append(all, in.Code)
	}
	mix := []struct{ from, to, by string }{
		{"2026-01-01", "2026-12-31", stats.PubByInstitution},
		{"2025-01-01", "2026-12-31", stats.PubByCommunity},
		{"2026-03-01", "2026-03-31", stats.PubByDay},
		{"2026-01-01", "2026-06-30", stats.PubByCode},
		{"2025-01-01", "2026-12-31", ""},
		{"2026-11-01", "2026-11-30", stats.PubByInstitution},
	}
	var lat []time.Duration
	per := make([][]time.Duration, len(mix))
	for r := 0; r < rounds; r++ {
		for i, m := range mix {
			q, err := stats.ParsePublishingQuery(m.from, m.to, m.by)
			if err != nil {
				return err
			}
			q.Institutions = all // as for a bureau token
			t0 := time.Now()
			rep, err := stats.Publishing(ctx, pool, cat, q)
			if err != nil {
				return fmt.Errorf("publishing query by=%s: %w", m.by, err)
			}
			_ = stats.PublishingCSV(rep)
			d := time.Since(t0)
			lat = append(lat, d)
			per[i] = append(per[i], d)
			if r == 0 && i == 4 && rep.Totals.Received != int64(n) {
				return fmt.Errorf("publishing totals over the whole range count %d messages, loaded %d", rep.Totals.Received, n)
			}
		}
	}
	for i, m := range mix {
		fmt.Fprintf(out, "  publishing by=%-12s %s..%s p50_ms=%.2f max_ms=%.2f\n", m.by, m.from, m.to, ms(pct(per[i], 50)), ms(pct(per[i], 100)))
	}
	fmt.Fprintf(out, "publishing reports=%d p50_ms=%.2f p99_ms=%.2f\n", n, ms(pct(lat, 50)), ms(pct(lat, 99)))
	return nil
}
