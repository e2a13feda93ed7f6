package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/seeds"
)

// StatsCommand runs `mrhub bench stats`: bulk-load N decisions (COPY, then stats_rebuild()) into
// a throw-away database, then time the statistics query over a mix of dimensions and ranges
// (`stats decisions=<n> p50_ms=<x> p99_ms=<y>`); then the same for the publishing statistics
// (publishingStats), whose line `publishing reports=<n> p50_ms=<x> p99_ms=<y>` is the last.
func StatsCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mrhub bench stats", flag.ContinueOnError)
	n := fs.Int("n", 10_000_000, "decisions to load")
	rounds := fs.Int("rounds", 20, "rounds of the query mix")
	dbURL := fs.String("database-url", envOr("DATABASE_URL", config.Default().DatabaseURL), "PostgreSQL server (a throw-away database is created beside the one named)")
	keep := fs.Bool("keep", false, "keep the database afterwards (its URL is printed)")
	reports := fs.Int("reports", 1_000_000, "messages whose publishing rollups to load for the publishing-statistics query")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; -h lists them)", fs.Args())
	}
	u, err := url.Parse(*dbURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	var rb [4]byte
	_, _ = crand.Read(rb[:])
	u.Path = "/mrhub_bench_stats_" + hex.EncodeToString(rb[:])
	dsn := u.String()
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		return err
	}
	if !*keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = db.DropDatabase(cctx, dsn)
		}()
	} else {
		fmt.Fprintln(out, "database:", db.Redact(dsn))
	}
	pool, region, cat, err := openSeeded(ctx, dsn, 4)
	if err != nil {
		return err
	}
	defer pool.Close()

	// ---- load
	start := time.Now()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Bulk load: no per-row foreign-key or rollup triggers (session_replication_role = replica);
	// the rollups are built once afterwards by stats_rebuild(), as an operator would after a bulk
	// import.
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		conn.Release()
		return err
	}
	src := &decisionRows{n: *n, region: region, rng: rand.New(rand.NewPCG(1, 2)), from: time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"decisions"}, []string{"id", "institution", "department", "clinician", "patient_id", "item",
		"report_id", "outcome", "reason", "note", "decided_at", "price_cents", "counts_in_rate", "content_hash", "via", "revoked_at"}, src); err != nil {
		conn.Release()
		return fmt.Errorf("loading decisions: %w", err)
	}
	_, _ = conn.Exec(ctx, `RESET session_replication_role`)
	conn.Release()
	loaded := time.Since(start)
	start = time.Now()
	if _, err := pool.Exec(ctx, `SELECT stats_rebuild()`); err != nil {
		return fmt.Errorf("building rollups: %w", err)
	}
	built := time.Since(start)
	var rows int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM stats_rollup`).Scan(&rows)
	fmt.Fprintf(out, "loaded %d decisions in %s (COPY), rollups built in %s: %d rollup rows\n",
		*n, loaded.Round(time.Millisecond), built.Round(time.Millisecond), rows)
	if settings, err := db.ServerSettings(ctx, pool); err == nil {
		fmt.Fprintln(out, "database:", settings)
	}

	// ---- queries
	var all []string
	for _, in := range region.Institutions {
		all = append(all, in.Code)
	}
	mix := []struct{ from, to, by string }{
		{"2026-01-01", "2026-12-31", "institution,month"},
		{"2025-01-01", "2026-12-31", "community"},
		{"2026-01-01", "2026-12-31", "district,month"},
		{"2026-01-01", "2026-12-31", "item"},
		{"2026-04-01", "2026-06-30", "department"},
		{"2026-02-10", "2026-05-20", "institution,item"},
		{"2026-03-01", "2026-03-31", "day"},
		{"2025-01-01", "2026-12-31", ""},
		{"2026-01-01", "2026-12-31", "institution,department"},
		{"2025-07-15", "2026-02-14", "community,month"},
	}
	var lat []time.Duration
	per := make([][]time.Duration, len(mix))
	for r := 0; r < *rounds; r++ {
		for i, m := range mix {
			var by []string
			if m.by != "" {
				by = []string{m.by}
			}
			q, err := stats.ParseQuery(m.from, m.to, by)
			if err != nil {
				return err
			}
			q.Institutions = all // as for a bureau token
			t0 := time.Now()
			rep, err := stats.Run(ctx, pool, cat, q)
			if err != nil {
				return fmt.Errorf("query by=%s: %w", m.by, err)
			}
			_ = stats.CSV(rep, cat)
			d := time.Since(t0)
			lat = append(lat, d)
			per[i] = append(per[i], d)
			if r == 0 && i == 7 && rep.Totals.Decisions+rep.Totals.Revoked != int64(*n) {
				return fmt.Errorf("totals over the whole range count %d decisions, loaded %d", rep.Totals.Decisions+rep.Totals.Revoked, *n)
			}
		}
	}
	slices.Sort(lat) // pct takes sorted latencies
	for i, m := range mix {
		slices.Sort(per[i])
		fmt.Fprintf(out, "  by=%-24s %s..%s p50_ms=%.2f max_ms=%.2f\n", strings.TrimSpace(m.by+" "), m.from, m.to, ms(pct(per[i], 50)), ms(pct(per[i], 100)))
	}
	fmt.Fprintf(out, "stats decisions=%d p50_ms=%.2f p99_ms=%.2f\n", *n, ms(pct(lat, 50)), ms(pct(lat, 99)))
	return publishingStats(ctx, pool, cat, *reports, *rounds, out)
}

// decisionRows generates synthetic decisions for COPY: two years, every institution, six
// departments, every item; about 80% recognised, declines spread over the reasons, 1% revoked.
type decisionRows struct {
	n, i   int
	region *catalog.Region
	rng    *rand.Rand
	from   time.Time
	row    []any
}

var benchDepartments = []string{"内科", "外科", "儿科", "妇产科", "急诊科", "全科"}

func (d *decisionRows) Next() bool {
	if d.i >= d.n {
		return false
	}
	d.i++
	r := d.rng
	in := d.region.Institutions[r.IntN(len(d.region.Institutions))]
	it := d.region.Items[r.IntN(len(d.region.Items))]
	at := d.from.Add(time.Duration(r.Int64N(int64(730 * 24 * time.Hour))))
	outcome, reason, counts, note := "recognized", any(nil), true, ""
	if r.IntN(100) >= 80 {
		outcome = "declined"
		rs := d.region.Reasons[r.IntN(len(d.region.Reasons))]
		reason, counts = rs.Code, rs.CountsInRate
		if rs.NoteRequired {
			note = "复查"
		}
	}
	var revoked any
	if r.IntN(100) == 0 {
		revoked = at.Add(time.Hour)
	}
	d.row = []any{fmt.Sprintf("b%09d", d.i), in.Code, benchDepartments[r.IntN(len(benchDepartments))], "D1", int64(1), it.Code,
		"00000000000000000000000000000000", outcome, reason, note, at, it.PriceCents, counts, []byte{0}, "kafka", revoked}
	return true
}

func (d *decisionRows) Values() ([]any, error) { return d.row, nil }
func (d *decisionRows) Err() error             { return nil }

// openSeeded opens dsn with conns connections, applies the migrations and loads the synthetic
// region's catalogue, as every benchmark's throw-away database needs. The caller closes the pool.
func openSeeded(ctx context.Context, dsn string, conns int32) (*pgxpool.Pool, *catalog.Region, *catalog.Catalog, error) {
	pool, err := db.Open(ctx, dsn, conns)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := db.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	region, err := seeds.Region()
	if err == nil {
		err = catalog.Upsert(ctx, pool, region)
	}
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return pool, region, catalog.NewCatalog(region), nil
}
