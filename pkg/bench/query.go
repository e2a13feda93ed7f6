package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/seeds"
)

// QueryOptions sizes `mrhub bench query`.
type QueryOptions struct {
	DatabaseURL  string        // server to create the bench database on (a fresh, uniquely named database)
	Keep         bool          // keep the bench database afterwards
	Reports      int           // reports to load (the documented full size: 1,000,000)
	Patients     int           // patients (full size: 200,000)
	ObsPerReport int           // observations per lab report (default 8)
	Clients      int           // concurrent clients (default 64)
	Duration     time.Duration // measuring time (default 20 s; the documented full run: 60 s)
	MaxInFlight  int           // server concurrency limit (default 64)
	DBMaxConns   int           // pool size (default 4: on a 2-core database server more connections cost PostgreSQL more CPU per read)
	SearchPct    int           // share of requests that are FHIR searches, in percent (default 50; the rest are recognizable)
	Warmup       time.Duration // clients run this long, unmeasured, before the measuring time (default 15 s)
	Floor        time.Duration // after the HTTP phase, time the database reads of recognizable alone (0: skip)
	Reuse        string        // name of a database kept by an earlier run (-keep) to query instead of loading a new one
	ReplicaURL   string        // a streaming replica of DatabaseURL's server: the API reads from it (its bench database), as MRHUB_DATABASE_REPLICA_URLS does
	View         string        // view of the recognizable requests: "" (the default, summary) or full
	CPUProfile   string        // write a CPU profile of the measuring phase here
	MemProfile   string        // write an allocation profile (after the measuring phase) here
}

// DefaultQueryOptions runs in a couple of minutes on a small machine.
func DefaultQueryOptions() QueryOptions {
	return QueryOptions{DatabaseURL: db.DefaultURL, Reports: 100_000, Patients: 20_000, ObsPerReport: 8, Clients: 64,
		Duration: 20 * time.Second, MaxInFlight: 64, DBMaxConns: 4, SearchPct: 50, Warmup: 15 * time.Second, Floor: 15 * time.Second}
}

// QueryCommand parses `mrhub bench query` flags and runs Query.
func QueryCommand(ctx context.Context, args []string, stdout io.Writer) error {
	o := DefaultQueryOptions()
	if v := os.Getenv("DATABASE_URL"); v != "" {
		o.DatabaseURL = v
	}
	fs := flag.NewFlagSet("mrhub bench query", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.DatabaseURL, "db", o.DatabaseURL, "PostgreSQL server URL (a fresh bench database is created beside the named one)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the bench database")
	fs.IntVar(&o.Reports, "reports", o.Reports, "reports to load (the documented full size: 1000000)")
	fs.IntVar(&o.Patients, "patients", o.Patients, "patients (the documented full size: 200000)")
	fs.IntVar(&o.ObsPerReport, "obs", o.ObsPerReport, "observations per lab report")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent clients")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measuring time (the documented full run: 60s)")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", o.MaxInFlight, "server concurrency limit")
	fs.IntVar(&o.DBMaxConns, "db-conns", o.DBMaxConns, "database pool size (about twice the database server's cores)")
	fs.IntVar(&o.SearchPct, "search-pct", o.SearchPct, "percent of requests that are FHIR searches (0: recognizable only)")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "run the clients this long, unmeasured, before measuring (0: none)")
	fs.DurationVar(&o.Floor, "floor", o.Floor, "after the HTTP phase, time recognizable's database reads alone for this long (0: skip)")
	fs.StringVar(&o.ReplicaURL, "replica", "", "URL of a streaming replica of -db's server: the API's reads go to it (the bench database's name replaces the URL's)")
	fs.StringVar(&o.View, "view", "", "view parameter of the recognizable requests (summary, the API's default, or full)")
	fs.StringVar(&o.Reuse, "reuse", "", "query a database kept by an earlier -keep run (its name) instead of loading a new one; it is kept")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measuring phase (server and clients) to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "write an allocation profile to this file after the measuring phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; -h lists them)", fs.Args())
	}
	return Query(ctx, o, stdout)
}

// Query loads a synthetic index with COPY, then runs concurrent clients against
// recognizable and FHIR search for random patients, and prints figures; the last line is
// `query qps=<n> p50_ms=<x> p99_ms=<y> errors=<e> rss_mb=<m>`. Server and clients run in this
// process (the RSS is the process's).
func Query(ctx context.Context, o QueryOptions, stdout io.Writer) error {
	d := DefaultQueryOptions()
	if o.Reports <= 0 {
		o.Reports = d.Reports
	}
	if o.Patients <= 0 {
		o.Patients = d.Patients
	}
	if o.ObsPerReport <= 0 {
		o.ObsPerReport = d.ObsPerReport
	}
	if o.Clients <= 0 {
		o.Clients = d.Clients
	}
	if o.Duration <= 0 {
		o.Duration = d.Duration
	}
	if o.SearchPct < 0 || o.SearchPct > 100 {
		return fmt.Errorf("-search-pct must be between 0 and 100, got %d", o.SearchPct)
	}
	if o.DBMaxConns <= 0 {
		o.DBMaxConns = d.DBMaxConns
	}
	if o.View != "" && o.View != httpapi.ViewSummary && o.View != httpapi.ViewFull {
		return fmt.Errorf("-view must be %s or %s, got %q", httpapi.ViewSummary, httpapi.ViewFull, o.View)
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = d.DatabaseURL
	}
	u, err := url.Parse(o.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	u.Path = fmt.Sprintf("/mrhub_bench_%d", time.Now().UnixNano()%1e9)
	if o.Reuse != "" {
		u.Path = "/" + o.Reuse
		o.Keep = true
	}
	dsn := u.String()
	if o.Reuse == "" {
		if err := db.EnsureDatabase(ctx, dsn); err != nil {
			return err
		}
	}
	if !o.Keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = db.DropDatabase(cctx, dsn)
		}()
	}
	pool, err := db.Open(ctx, dsn, int32(o.DBMaxConns))
	if err != nil {
		return err
	}
	defer pool.Close()
	region, err := seeds.Region()
	if err != nil {
		return err
	}
	if o.Reuse == "" { // a reused database keeps the schema and catalogue it was loaded with
		if _, err := db.Migrate(ctx, pool); err != nil {
			return err
		}
		if err := catalog.Upsert(ctx, pool, region); err != nil {
			return err
		}
	}
	cat := catalog.NewCatalog(region)
	// The identity key is derived from the bench database's name (synthetic data only), so that
	// a kept database can be queried again with -reuse.
	key := sha256.Sum256([]byte("mrhub-bench-key|" + u.Path[1:]))
	hasher, err := identity.NewHasher(key[:])
	if err != nil {
		return err
	}

	start := time.Now()
	var nids []string
	if o.Reuse == "" {
		nids, err = benchLoad(ctx, pool, cat, hasher, o)
		if err != nil {
			return fmt.Errorf("loading: %w", err)
		}
	} else {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM patients`).Scan(&o.Patients); err != nil {
			return err
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM reports`).Scan(&o.Reports); err != nil {
			return err
		}
		nids = benchResidentIDs(o.Patients)
	}
	var obsN int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM observations`).Scan(&obsN)
	fmt.Fprintf(stdout, "loaded reports=%d observations=%d patients=%d in %s (%s)\n", o.Reports, obsN, o.Patients, time.Since(start).Round(time.Second), u.Path[1:])
	if settings, err := db.ServerSettings(ctx, pool); err == nil {
		fmt.Fprintln(stdout, "database:", settings)
	}

	var reads *db.Router
	if o.ReplicaURL != "" {
		if reads, err = benchReplica(ctx, pool, o, u.Path, stdout); err != nil {
			return err
		}
		defer reads.Close()
	}
	api, err := httpapi.New(httpapi.Options{Pool: pool, Reads: reads, Catalog: cat, Hasher: hasher, MaxInFlight: o.MaxInFlight})
	if err != nil {
		return err
	}
	defer api.Close()
	// Server-side time (handler entry to return: auth, queries, encoding and the write into the
	// connection's buffer), reported beside the end-to-end figures, which remain the headline.
	var srvMu sync.Mutex
	var srvTimes [2][]time.Duration
	measuring := atomic.Bool{}
	h := api.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		h.ServeHTTP(w, r)
		if !measuring.Load() {
			return
		}
		d := time.Since(t0)
		k := 1
		if strings.HasPrefix(r.URL.Path, "/api/") {
			k = 0
		}
		srvMu.Lock()
		srvTimes[k] = append(srvTimes[k], d)
		srvMu.Unlock()
	}))
	defer srv.Close()
	tok, err := auth.Create(ctx, pool, auth.RoleClinician, region.Institutions[1].Code, time.Hour)
	if err != nil {
		return err
	}
	items := []string{}
	for _, it := range region.Items {
		if it.Kind == catalog.ItemLab {
			items = append(items, it.Code)
		}
	}

	tr := &http.Transport{MaxIdleConnsPerHost: o.Clients * 2, MaxConnsPerHost: o.Clients * 2}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var errs [2]atomic.Int64
	per := make([][2][]time.Duration, o.Clients)
	// run drives the clients for d; with record, it keeps the latencies and errors of the requests
	// that ended within d. Clients stop issuing at the end instead of cancelling what is in
	// flight: pgx closes a connection whose query is cancelled, and its replacement starts cold.
	run := func(d time.Duration, record bool, seed uint64) {
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for c := 0; c < o.Clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(c), seed))
				for ctx.Err() == nil && time.Now().Before(end) {
					nid := nids[rng.IntN(len(nids))]
					pv := url.QueryEscape(profile.ResidentIDSystems[0] + "|" + nid)
					kind := 0
					if rng.IntN(100) < o.SearchPct {
						kind = 1
					}
					var target string
					if kind == 0 {
						target = srv.URL + "/api/v1/recognizable?patient=" + pv
						if o.View != "" {
							target += "&view=" + o.View
						}
						if rng.IntN(2) == 0 {
							target += "&item=" + items[rng.IntN(len(items))]
						}
					} else {
						target = srv.URL + "/fhir/DiagnosticReport?patient.identifier=" + pv + "&_count=20"
					}
					req, _ := http.NewRequestWithContext(ctx, "GET", target, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					t0 := time.Now()
					res, err := client.Do(req)
					if ctx.Err() != nil {
						if res != nil {
							res.Body.Close()
						}
						return
					}
					if err != nil {
						if record {
							errs[kind].Add(1)
						}
						continue
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						if record {
							errs[kind].Add(1)
						}
						if res.StatusCode == 429 {
							time.Sleep(50 * time.Millisecond)
						}
						continue
					}
					if t1 := time.Now(); record && t1.Before(end) {
						per[c][kind] = append(per[c][kind], t1.Sub(t0))
					}
				}
			}(c)
		}
		wg.Wait()
	}
	if o.Warmup > 0 {
		// A new PostgreSQL backend runs slower until it has touched the catalogue and buffers its
		// queries read (pgbench on this kind of machine: 16 fresh connections reach their steady
		// rate after about 30 s); a server's connections live for hours.
		fmt.Fprintf(stdout, "warming up for %s\n", o.Warmup)
		run(o.Warmup, false, 3)
	}
	pgPIDs := benchBackends(ctx, pool)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	pg0, go0 := procCPU(pgPIDs), selfCPU()
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	measuring.Store(true)
	run(o.Duration, true, 7)
	measuring.Store(false)
	pg1, go1 := procCPU(pgPIDs), selfCPU()
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	if o.MemProfile != "" {
		f, err := os.Create(o.MemProfile)
		if err != nil {
			return err
		}
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
		if err != nil {
			return err
		}
	}
	srvMu.Lock()
	for k, name := range []string{"server_side recognizable", "server_side fhir_search"} {
		d := srvTimes[k]
		slices.Sort(d)
		fmt.Fprintf(stdout, "%s p50_ms=%.2f p99_ms=%.2f (handler time, not the headline)\n", name, ms(pct(d, 50)), ms(pct(d, 99)))
	}
	srvMu.Unlock()
	var nreq int
	for c := range per {
		nreq += len(per[c][0]) + len(per[c][1])
	}
	if nreq > 0 {
		// CPU per request, less sensitive than qps to other jobs on a shared machine (the database
		// figure counts the pool's backends only).
		fmt.Fprintf(stdout, "cpu_ms_per_request process=%.3f postgres=%.3f gc_cycles=%d alloc_kb_per_request=%d\n",
			ms(go1-go0)/float64(nreq), ms(pg1-pg0)/float64(nreq),
			ms1.NumGC-ms0.NumGC, (ms1.TotalAlloc-ms0.TotalAlloc)>>10/uint64(nreq))
	}
	if os.Getenv("MRHUB_BENCH_PLANS") != "" {
		c, err := pool.Acquire(ctx)
		if err == nil {
			rows, _ := c.Query(ctx, `SELECT left(regexp_replace(statement, '\s+', ' ', 'g'), 110), generic_plans, custom_plans FROM pg_prepared_statements ORDER BY 2+3 DESC`)
			for rows.Next() {
				var st string
				var g, cu int64
				_ = rows.Scan(&st, &g, &cu)
				fmt.Fprintf(stdout, "plan generic=%d custom=%d %s\n", g, cu, st)
			}
			rows.Close()
			c.Release()
		}
	}
	var all []time.Duration
	names := []string{"recognizable", "fhir_search"}
	for k := 0; k < 2; k++ {
		var ds []time.Duration
		for c := range per {
			ds = append(ds, per[c][k]...)
		}
		all = append(all, ds...)
		printStats(stdout, names[k], ds, errs[k].Load(), o.Duration)
	}
	slices.Sort(all)
	rss := rssMB()
	if err := benchSubsets(ctx, client, srv.URL, tok, nids, max(time.Second, min(o.Duration/2, 10*time.Second)), stdout); err != nil {
		return err
	}
	if o.Floor > 0 {
		floor, err := benchFloor(ctx, api, pool, nids, o.Floor, stdout)
		if err != nil {
			return fmt.Errorf("database floor: %w", err)
		}
		var rec int
		for c := range per {
			rec += len(per[c][0])
		}
		// The answer's cost against its reads alone, on the same database in the same run; it
		// compares like with like when the run is recognizable only (-search-pct 0).
		qps := float64(rec) / o.Duration.Seconds()
		fmt.Fprintf(stdout, "ratio_to_floor=%.2f recognizable_qps=%.0f database_floor_reads_per_s=%.0f search_pct=%d\n", qps/floor, qps, floor, o.SearchPct)
	}
	fmt.Fprintf(stdout, "query qps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d rss_mb=%d\n",
		float64(len(all))/o.Duration.Seconds(), ms(pct(all, 50)), ms(pct(all, 99)), errs[0].Load()+errs[1].Load(), rss)
	return nil
}

// benchReplica routes the API's reads to the bench database on the replica o.ReplicaURL (pool
// of o.DBMaxConns) once the replica has replayed the load, and prints where reads went at the end.
func benchReplica(ctx context.Context, pool *pgxpool.Pool, o QueryOptions, dbPath string, stdout io.Writer) (*db.Router, error) {
	ru, err := url.Parse(o.ReplicaURL)
	if err != nil {
		return nil, fmt.Errorf("-replica: %w", err)
	}
	ru.Path = dbPath
	reads, err := db.NewRouter(ctx, pool, []string{ru.String()}, db.RouterOptions{MaxConns: int32(o.DBMaxConns)})
	if err != nil {
		return nil, err
	}
	lsn, err := reads.PrimaryLSN(ctx)
	if err != nil {
		reads.Close()
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		reads.Check(ctx)
		if p, rep := reads.Pick(ctx, lsn, 0); rep != nil && p != pool {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			reads.Close()
			return nil, fmt.Errorf("-replica %s: not up with the load replayed after 10 minutes (%+v)", db.ReplicaName(ru.String()), reads.States())
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(stdout, "reads go to the replica %s (pool of %d; writes and the database_floor line stay on the primary)\n", db.ReplicaName(ru.String()), o.DBMaxConns)
	return reads, nil
}

// benchFloor measures what the database part of "recognisable now" costs on its own: as many
// workers as the pool has connections resolve a random patient's identifier and make the one
// round trip that reads the patient's reports, observations and identifiers, decoded into the
// server's rows exactly as Recognize does, for d. No HTTP, JSON, judging, reminders or search
// traffic: the rate it prints bounds what the HTTP phase's recognizable can reach on this
// database server with this pool.
func benchFloor(ctx context.Context, api *httpapi.Server, pool *pgxpool.Pool, nids []string, d time.Duration, stdout io.Writer) (float64, error) {
	workers := int(pool.Config().MaxConns)
	pgPIDs := benchBackends(ctx, pool)
	pg0, go0 := procCPU(pgPIDs), selfCPU()
	start := time.Now()
	end := start.Add(d) // no cancellation at the end: pgx would close the connections
	per := make([][]time.Duration, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for t0 := time.Now(); ctx.Err() == nil && t0.Before(end); t0 = time.Now() {
				if _, err := api.ReadPatient(ctx, profile.ResidentIDSystems[0]+"|"+nids[rng.IntN(len(nids))]); err != nil {
					errs[w] = err
					return
				}
				per[w] = append(per[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	pg1, go1 := procCPU(pgPIDs), selfCPU()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	var all []time.Duration
	for _, ds := range per {
		all = append(all, ds...)
	}
	if len(all) == 0 {
		return 0, errors.New("no read completed")
	}
	slices.Sort(all)
	n := float64(len(all))
	fmt.Fprintf(stdout, "database_floor reads_per_s=%.0f p50_ms=%.2f p99_ms=%.2f workers=%d cpu_ms_per_read process=%.3f postgres=%.3f "+
		"(recognizable's identifier lookup and read alone: no HTTP, JSON, reminders or search)\n",
		n/elapsed.Seconds(), ms(pct(all, 50)), ms(pct(all, 99)), workers,
		ms(go1-go0)/n, ms(pg1-pg0)/n)
	return n / elapsed.Seconds(), nil
}

func printStats(w io.Writer, name string, ds []time.Duration, errs int64, dur time.Duration) {
	slices.Sort(ds)
	fmt.Fprintf(w, "%s requests=%d qps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n", name, len(ds),
		float64(len(ds))/dur.Seconds(), ms(pct(ds, 50)), ms(pct(ds, 95)), ms(pct(ds, 99)), ms(pct(ds, 100)), errs)
}

// pct is the p-th percentile of the sorted durations ds (0 for none).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return ds[min(i, len(ds))-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rssMB reads the process's resident set from /proc (0 when unavailable).
func rssMB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int(m.Sys >> 20)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.Atoi(f[1])
				return kb / 1024
			}
		}
	}
	return 0
}

// benchBackends returns the process ids of the pool's database backends (all of them: the pool
// is filled first), when the server runs on this machine.
func benchBackends(ctx context.Context, pool *pgxpool.Pool) []int {
	var conns []*pgxpool.Conn
	for i := int32(0); i < pool.Config().MaxConns; i++ {
		c, err := pool.Acquire(ctx)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	var pids []int
	for _, c := range conns {
		pids = append(pids, int(c.Conn().PgConn().PID()))
		c.Release()
	}
	return pids
}

// procCPU is the user+system CPU time of processes pids from /proc (0 for those not readable).
func procCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				ticks += u + st
			}
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchBirthBase = time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC)

// benchResidentIDs are the resident IDs of bench patients 1..n, in order.
func benchResidentIDs(n int) []string {
	nids := make([]string, n)
	for i := range nids {
		nids[i] = identity.NewResidentID("330299", benchBirthBase.AddDate(0, 0, i/900), i%900)
	}
	return nids
}

var benchObsCodes = []string{"6690-2", "789-8", "718-7", "4544-3", "787-2", "785-6", "786-4", "777-3"}

// benchLoad COPYs patients, identifiers, reports, versions and observations, and returns the
// patients' resident IDs (plaintext kept in memory only, to query with).
func benchLoad(ctx context.Context, pool *pgxpool.Pool, cat *catalog.Catalog, h *identity.Hasher, o QueryOptions) ([]string, error) {
	rg := cat.Region()
	nids := benchResidentIDs(o.Patients)
	base := benchBirthBase
	cst := time.FixedZone("CST", 8*3600)
	pr := 0
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"patients"}, []string{"id", "provisional", "name", "gender", "birth_date"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if pr == o.Patients {
				return nil, nil
			}
			pr++
			g := "female"
			if pr%2 == 0 {
				g = "male"
			}
			return []any{int64(pr), false, "患者" + strconv.Itoa(pr), g, base.AddDate(0, 0, (pr-1)/900)}, nil
		})); err != nil {
		return nil, fmt.Errorf("patients: %w", err)
	}
	if _, err := pool.Exec(ctx, `SELECT setval('patients_id_seq', $1)`, o.Patients); err != nil {
		return nil, err
	}
	pr = 0
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"patient_identifiers"}, []string{"kind", "issuer", "value_hash", "masked", "patient_id"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if pr == o.Patients {
				return nil, nil
			}
			pr++
			n := nids[pr-1]
			return []any{identity.KindNationalID, "", h.Hash(identity.KindNationalID, "", n), identity.Mask(identity.KindNationalID, n), int64(pr)}, nil
		})); err != nil {
		return nil, fmt.Errorf("patient identifiers: %w", err)
	}

	type rep struct {
		id, performer, item, sys, code, status string
		pid                                    int64
		clock                                  time.Time
		current                                bool
	}
	var labItems []*catalog.Item
	for i := range rg.Items {
		if rg.Items[i].Kind == catalog.ItemLab && rg.Items[i].CodeSystem != "" {
			labItems = append(labItems, &rg.Items[i])
		}
	}
	now := time.Now()
	rng := rand.New(rand.NewPCG(42, 1))
	const chunk = 20_000
	for startAt := 0; startAt < o.Reports; startAt += chunk {
		n := min(chunk, o.Reports-startAt)
		reps := make([]rep, n)
		for i := range reps {
			k := startAt + i
			it := labItems[rng.IntN(len(labItems))]
			in := rg.Institutions[rng.IntN(len(rg.Institutions))]
			st, cur := "final", true
			switch x := rng.IntN(100); {
			case x < 4:
				st = "preliminary"
			case x < 8:
				st = "amended"
			case x < 9:
				st, cur = "entered-in-error", false
			}
			nk := in.Code + "|http://his.bench/report-id|B" + strconv.Itoa(k)
			sum := sha256.Sum256([]byte(nk))
			reps[i] = rep{id: hex.EncodeToString(sum[:16]), performer: in.Code, item: it.Code, sys: it.CodeSystem, code: it.StdCode, status: st,
				pid: int64(1 + rng.IntN(o.Patients)), clock: now.Add(-time.Duration(rng.Int64N(int64(180 * 24 * time.Hour)))).Truncate(time.Second), current: cur}
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			i := 0
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"reports"}, []string{"id", "natural_key", "performer", "identifier_system", "identifier_value",
				"patient_id", "item", "kind", "code_system", "code", "code_display", "category", "status", "current", "effective", "issued", "clock",
				"hr_scope", "version", "max_version", "version_rank", "content_hash", "source"},
				pgx.CopyFromFunc(func() ([]any, error) {
					if i == n {
						return nil, nil
					}
					r := reps[i]
					i++
					k := strconv.Itoa(startAt + i - 1)
					sum := sha256.Sum256([]byte(r.id))
					return []any{r.id, r.performer + "|http://his.bench/report-id|B" + k, r.performer, "http://his.bench/report-id", "B" + k,
						r.pid, r.item, "lab", r.sys, r.code, "", "LAB", r.status, r.current, r.clock, r.clock.Add(2 * time.Hour), r.clock,
						"", 1, 1, "|||4|" + hex.EncodeToString(sum[:]), sum[:], r.performer}, nil
				})); err != nil {
				return fmt.Errorf("reports: %w", err)
			}
			i = 0
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"report_versions"}, []string{"report_id", "version", "content_hash", "status", "version_rank",
				"source", "resource"},
				pgx.CopyFromFunc(func() ([]any, error) {
					if i == n {
						return nil, nil
					}
					r := reps[i]
					i++
					sum := sha256.Sum256([]byte(r.id))
					dr := map[string]any{"resourceType": "DiagnosticReport", "status": r.status,
						"identifier":        []any{map[string]any{"system": "http://his.bench/report-id", "value": "B" + strconv.Itoa(startAt+i-1)}},
						"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}}}},
						"code":              map[string]any{"coding": []any{map[string]any{"system": r.sys, "code": r.code}}},
						"subject":           map[string]any{"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
						"effectiveDateTime": r.clock.In(cst).Format(time.RFC3339), "issued": r.clock.Add(2 * time.Hour).In(cst).Format(time.RFC3339)}
					b, _ := json.Marshal(dr)
					return []any{r.id, 1, sum[:], r.status, "|||4|" + hex.EncodeToString(sum[:]), r.performer, json.RawMessage(b)}, nil
				})); err != nil {
				return fmt.Errorf("report versions: %w", err)
			}
			i, j := 0, 0
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{"id", "report_id", "ordinal", "patient_id", "item", "code_system",
				"code", "status", "effective", "value_num", "unit", "ref_low", "ref_high", "interpretation", "resource"},
				pgx.CopyFromFunc(func() ([]any, error) {
					for i < n && (!reps[i].current || j == o.ObsPerReport) {
						i, j = i+1, 0
					}
					if i == n {
						return nil, nil
					}
					r := reps[i]
					j++
					code := benchObsCodes[(j-1)%len(benchObsCodes)]
					v := float64(rng.IntN(1000)) / 100
					st := r.status
					if st != "preliminary" {
						st = "final"
					}
					ob := map[string]any{"resourceType": "Observation", "status": st,
						"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": code}}},
						"effectiveDateTime": r.clock.In(cst).Format(time.RFC3339),
						"valueQuantity":     map[string]any{"value": v, "unit": "10*9/L"},
						"referenceRange":    []any{map[string]any{"low": map[string]any{"value": 3.5}, "high": map[string]any{"value": 9.5}}}}
					b, _ := json.Marshal(ob)
					return []any{r.id + "-" + strconv.Itoa(j), r.id, j, r.pid, r.item, "http://loinc.org", code, st, r.clock, v, "10*9/L", 3.5, 9.5, "",
						json.RawMessage(b)}, nil
				})); err != nil {
				return fmt.Errorf("observations: %w", err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// What a running database would have done after such a load before the clinicians came:
	// autovacuum vacuums the inserted tables (setting hint bits and the visibility map, which
	// the first reads would otherwise write), and a checkpoint writes the load's dirty pages, so
	// that the measurement is not the tail end of the load's I/O. CHECKPOINT needs superuser or
	// pg_checkpoint; without it the run goes on.
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		fmt.Fprintf(os.Stderr, "bench: CHECKPOINT after the load failed (%v); measuring anyway\n", err)
	}
	return nids, nil
}

// benchSubsets times the FHIR search of the run in full and with _elements=code,status and
// _summary=true, for the same patients, one request at a time with the three kinds interleaved,
// for d, and prints the three medians and mean sizes: a subset must cost no more than the full
// search.
func benchSubsets(ctx context.Context, client *http.Client, base, tok string, nids []string, d time.Duration, stdout io.Writer) error {
	kinds := []string{"", "&_elements=code,status", "&_summary=true"}
	names := []string{"full", "elements", "summary"}
	lat := make([][]time.Duration, len(kinds))
	size := make([]int64, len(kinds))
	rng := rand.New(rand.NewPCG(11, 13))
	for end := time.Now().Add(d); ctx.Err() == nil && time.Now().Before(end); {
		pv := url.QueryEscape(profile.ResidentIDSystems[0] + "|" + nids[rng.IntN(len(nids))])
		off := rng.IntN(len(kinds))
		for i := range kinds {
			k := (i + off) % len(kinds)
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/fhir/DiagnosticReport?patient.identifier="+pv+"&_count=20"+kinds[k], nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("subset search: %w", err)
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("subset search %s: status %d", names[k], res.StatusCode)
			}
			lat[k] = append(lat[k], time.Since(t0))
			size[k] += n
		}
	}
	fmt.Fprintf(stdout, "fhir_search_subsets")
	for k, name := range names {
		slices.Sort(lat[k])
		fmt.Fprintf(stdout, " %s_p50_ms=%.2f", name, ms(pct(lat[k], 50)))
	}
	for k, name := range names {
		fmt.Fprintf(stdout, " %s_kb=%.1f", name, float64(size[k])/1024/float64(max(1, len(lat[k]))))
	}
	fmt.Fprintf(stdout, " requests_each=%d (same patients, one at a time, interleaved)\n", len(lat[0]))
	return nil
}
