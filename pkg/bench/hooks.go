package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/cdshooks"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// The ordered items of the hooks benchmark: HospitalB's local codes of blood routine (JY001,
// recognisable), urine routine (JY002, recognisable) and liver function panel (JY010: HospitalB's qualification
// has lapsed, so never recognisable), ordered by HospitalA in its own local codes.
var hookOrders = []struct{ reportCode, orderCode, item string }{
	{"XCG", "6587", "JY001"}, {"NCG", "6798", "JY002"}, {"GGN", "6673", "JY010"},
}

// Hooks runs `mrhub bench hooks`: on a throw-away database with the seeded region and, per
// patient, a result of each of the three items (indexed through the real profile and index
// store), it measures in one run GET /api/v1/recognizable for one item and the CDS Hooks
// order-sign call with three draft orders (two cards, their reminders and card rows), and prints
// both rates and latencies and the hook's cost in recognizable calls (at most one per ordered
// item is the target: recognizables_per_hook ≤ 3).
func Hooks(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mrhub bench hooks", flag.ContinueOnError)
	patients := fs.Int("patients", 1000, "patients, each with 3 recent results and an older one")
	clients := fs.Int("clients", 8, "concurrent clients")
	dur := fs.Duration("duration", 10*time.Second, "measuring time of each kind of request (in two rounds, interleaved)")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured time before measuring")
	dbURL := fs.String("database-url", hooksEnvOr("DATABASE_URL", config.Default().DatabaseURL), "PostgreSQL server (a throw-away database is created beside the one named)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *patients < 1 || *clients < 1 || *dur <= 0 {
		return fmt.Errorf("-patients, -clients and -duration must be positive")
	}
	u, err := url.Parse(*dbURL)
	if err != nil {
		return fmt.Errorf("-database-url: %w", err)
	}
	u.Path = fmt.Sprintf("/mrhub_bench_hooks_%d", time.Now().UnixNano()%1e9)
	dsn := u.String()
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		return err
	}
	defer db.DropDatabase(context.Background(), dsn) //nolint:errcheck
	pool, _, cat, err := openSeeded(ctx, dsn, 8)
	if err != nil {
		return err
	}
	defer pool.Close()
	hasher, err := identity.NewHasher([]byte("mrhub-bench-hooks-key|" + u.Path))
	if err != nil {
		return err
	}

	// Load, through the profile and the index store as the reports consumer writes.
	start := time.Now()
	cst := time.FixedZone("CST", 8*3600)
	prof := &profile.Profiler{Catalog: cat, Hasher: hasher, Location: cst}
	store := index.NewStore(pool, "mrhub.index.v1", "mrhub.dlq.v1")
	nids := make([]string, *patients)
	now := time.Now()
	var offset int64
	b := &index.Batch{Consumer: "bench-hooks"}
	flush := func() error {
		if len(b.Entries) == 0 {
			return nil
		}
		_, err := store.Apply(ctx, b)
		b = &index.Batch{Consumer: "bench-hooks"}
		return err
	}
	for p := range nids {
		nids[p] = identity.NewResidentID("330299", time.Date(1940+p%60, time.Month(1+p/60%12), 1+p/720%28, 0, 0, 0, 0, time.UTC), p/20160%1000)
		reps := []testenv.Report{{Performer: testenv.HospitalA, ID: fmt.Sprintf("H%07d", p), NID: nids[p], CodeSystem: testenv.LabCodeSystem,
			Code: testenv.LabCodeCBC, Effective: now.Add(-5 * 24 * time.Hour)}}
		for k, o := range hookOrders {
			reps = append(reps, testenv.Report{Performer: testenv.HospitalB, ID: fmt.Sprintf("H%07d-%d", p, k), NID: nids[p],
				CodeSystem: "http://his.qx002.example/lab-codes", Code: o.reportCode, Effective: now.Add(-time.Duration(20+k) * time.Hour)})
		}
		for _, r := range reps {
			es, err := prof.Message(r.JSON(), r.Performer)
			if err != nil {
				return fmt.Errorf("profiling a generated report: %w", err)
			}
			offset++
			pos := index.Position{Topic: "mrhub.reports.v1", Partition: 0, Offset: offset}
			es[0].Pos = pos
			b.Positions = append(b.Positions, pos)
			b.Entries = append(b.Entries, es[0])
		}
		if len(b.Entries) >= 400 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return err
	}
	fmt.Fprintf(out, "loaded patients=%d reports=%d in %s\n", *patients, offset, time.Since(start).Round(time.Second))

	api, err := httpapi.New(httpapi.Options{Pool: pool, Catalog: cat, Hasher: hasher, Location: cst})
	if err != nil {
		return err
	}
	defer api.Close()
	svc, err := cdshooks.New(cdshooks.Options{Hub: api, Pool: pool, Catalog: cat, Decisions: &decisions.Store{Pool: pool, Catalog: cat, Hasher: hasher}, Location: cst})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	for _, routes := range []map[string]http.Handler{api.Routes(), svc.Routes()} {
		for p, h := range routes {
			mux.Handle(p, h)
		}
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok, err := auth.Create(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *clients}, Timeout: 30 * time.Second}

	// One request of each kind for patient p.
	recognizable := func(p int, rng *rand.Rand) (*http.Request, error) {
		it := hookOrders[rng.IntN(len(hookOrders))].item
		return http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/recognizable?patient="+
			url.QueryEscape(profile.ResidentIDSystems[0]+"|"+nids[p])+"&item="+it, nil)
	}
	hook := func(p int, _ *rand.Rand) (*http.Request, error) {
		var entries []any
		for k, o := range hookOrders {
			entries = append(entries, map[string]any{"resource": map[string]any{"resourceType": "ServiceRequest", "id": fmt.Sprintf("o%d", k),
				"status": "draft", "intent": "order", "subject": map[string]any{"reference": "Patient/b"},
				"code": map[string]any{"coding": []any{map[string]any{"system": testenv.LabCodeSystem, "code": o.orderCode}}}}})
		}
		body, _ := json.Marshal(map[string]any{"hook": cdshooks.HookOrderSign, "hookInstance": fmt.Sprintf("bench-%d-%d", p, rand.Int64()),
			"context": map[string]any{"userId": "Practitioner/bench", "patientId": "b",
				"draftOrders": map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries}},
			"prefetch": map[string]any{"patient": map[string]any{"resourceType": "Patient", "id": "b",
				"identifier": []any{map[string]any{"system": profile.ResidentIDSystems[0], "value": nids[p]}}}}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/cds-services/"+cdshooks.ServiceSign, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
	type result struct {
		lat   []time.Duration
		errs  int
		cards int
	}
	run := func(d time.Duration, mk func(int, *rand.Rand) (*http.Request, error), seed uint64) result {
		var mu sync.Mutex
		var all result
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for c := 0; c < *clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(c), seed))
				var mine result
				for ctx.Err() == nil && time.Now().Before(end) {
					req, err := mk(rng.IntN(len(nids)), rng)
					if err != nil {
						mine.errs++
						continue
					}
					req.Header.Set("Authorization", "Bearer "+tok)
					t0 := time.Now()
					res, err := client.Do(req)
					if err != nil {
						mine.errs++
						continue
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					t1 := time.Now()
					if res.StatusCode != http.StatusOK {
						mine.errs++
						continue
					}
					if t1.Before(end) {
						mine.lat = append(mine.lat, t1.Sub(t0))
						mine.cards += bytes.Count(body, []byte(`"uuid":"`)) / 2 // a card's uuid and its suggestion's
					}
				}
				mu.Lock()
				all.lat = append(all.lat, mine.lat...)
				all.errs += mine.errs
				all.cards += mine.cards
				mu.Unlock()
			}(c)
		}
		wg.Wait()
		return all
	}
	if *warmup > 0 {
		run(*warmup/2, recognizable, 1)
		run(*warmup/2, hook, 2)
	}
	var rec, hk result
	for round := uint64(0); round < 2; round++ { // interleaved, so that both see the same machine
		r := run(*dur/2, recognizable, 10+round)
		h := run(*dur/2, hook, 20+round)
		rec.lat, rec.errs = append(rec.lat, r.lat...), rec.errs+r.errs
		hk.lat, hk.errs, hk.cards = append(hk.lat, h.lat...), hk.errs+h.errs, hk.cards+h.cards
	}
	line := func(name string, r result, extra string) float64 {
		slices.Sort(r.lat)
		q := func(p float64) float64 {
			if len(r.lat) == 0 {
				return 0
			}
			return float64(r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))].Microseconds()) / 1000
		}
		qps := float64(len(r.lat)) / dur.Seconds()
		fmt.Fprintf(out, "%s requests=%d qps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d%s\n", name, len(r.lat), qps, q(0.50), q(0.99), r.errs, extra)
		return qps
	}
	rq := line("recognizable (one item)", rec, "")
	cards := 0.0
	if len(hk.lat) > 0 {
		cards = float64(hk.cards) / float64(len(hk.lat))
	}
	hq := line("hooks order-sign (3 draft orders)", hk, fmt.Sprintf(" cards_per_call=%.1f", cards))
	perHook := 0.0
	if hq > 0 {
		perHook = rq / hq
	}
	fmt.Fprintf(out, "hooks ratio_to_recognizable=%.2f recognizables_per_hook=%.2f ordered_items=3 clients=%d (target: recognizables_per_hook <= 3)\n",
		safeDiv(hq, rq), perHook, *clients)
	return nil
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func hooksEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
