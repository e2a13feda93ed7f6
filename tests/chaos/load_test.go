package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// rssMB reads the resident set size of pid from /proc.
func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// TestHTTPOverloadAnswers429NotTimeouts runs 200 concurrent clients in closed loops for 10 s
// against a real `mrhub serve` process (far beyond its 64 in-flight requests and 8 database
// connections) with a mix of FHIR searches and recognisable-now queries: every answer is 200 or
// 429 with Retry-After, no connection error, no timeout, no 5xx, and the process's RSS stays
// bounded.
func TestHTTPOverloadAnswers429NotTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the HTTP load process test in -short mode")
	}
	const clients = 200
	duration := 10 * time.Second
	c := newCluster(t, 6)
	hubProc := c.startHub(0)
	w := writer(c.brokers())
	defer w.Close()
	ctx := context.Background()
	if _, err := publish(ctx, w, toKafka(generate(t, 31, 1500, nil))); err != nil {
		t.Fatal(err)
	}
	c.waitDrained(90 * time.Second)
	tok, err := auth.Create(ctx, c.pool, "clinician", testenv.HospitalA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int64
	rows, err := c.pool.Query(ctx, `SELECT id FROM patients WHERE merged_into IS NULL ORDER BY id LIMIT 300`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, id)
	}
	rows.Close()
	base := "http://127.0.0.1:" + strconv.Itoa(c.httpPorts[0])
	paths := func(i int) string {
		p := "p" + strconv.FormatInt(pids[i%len(pids)], 10)
		switch i % 4 {
		case 0:
			return "/fhir/DiagnosticReport?patient=Patient/" + p + "&_include=DiagnosticReport:result"
		case 1:
			return "/fhir/Observation?patient=Patient/" + p + "&date=ge2026-01-01"
		case 2:
			return "/api/v1/recognizable?patient=Patient/" + p
		default:
			return "/fhir/DiagnosticReport?performer=" + testenv.HospitalA + "&_count=100"
		}
	}

	pid := hubProc.cmd.Process.Pid
	before, err := rssMB(pid)
	if err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	var samplerWG sync.WaitGroup
	samplerWG.Add(1)
	go func() {
		defer samplerWG.Done()
		for {
			if r, err := rssMB(pid); err == nil && int64(r) > peak.Load() {
				peak.Store(int64(r))
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	var (
		mu          sync.Mutex
		byStatus    = map[int]int{}
		errs        []string
		noRetry     int
		latencies   []time.Duration
		slowest     time.Duration
		requestsRun atomic.Int64
	)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var lat []time.Duration
			for n := i; time.Now().Before(deadline); n += clients {
				req, _ := http.NewRequest("GET", base+paths(n), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				t0 := time.Now()
				res, err := cl.Do(req)
				d := time.Since(t0)
				requestsRun.Add(1)
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat = append(lat, d)
				mu.Lock()
				byStatus[res.StatusCode]++
				if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
					noRetry++
				}
				slowest = max(slowest, d)
				mu.Unlock()
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	close(stopSampling)
	samplerWG.Wait()
	time.Sleep(2 * time.Second)
	after, _ := rssMB(pid)

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p := func(q float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(q*float64(len(latencies)-1))].Round(time.Millisecond)
	}
	fmt.Printf("http load: %d clients for %s against one hub process: %d requests, status %v, connection errors %d, 429 without Retry-After %d; "+
		"latency p50 %s p99 %s max %s; RSS %.0f MB before, %d MB peak, %.0f MB after\n",
		clients, duration, requestsRun.Load(), byStatus, len(errs), noRetry, p(0.5), p(0.99), slowest.Round(time.Millisecond), before, peak.Load(), after)

	if len(errs) > 0 {
		t.Errorf("%d requests failed without an HTTP answer (first: %s)", len(errs), errs[0])
	}
	for code, n := range byStatus {
		if code != 200 && code != 429 {
			t.Errorf("%d answers with status %d, want only 200 and 429", n, code)
		}
	}
	if byStatus[429] == 0 {
		t.Errorf("no 429 answers: %d clients did not exceed the server's capacity", clients)
	}
	if byStatus[200] == 0 {
		t.Errorf("no request served under load")
	}
	if noRetry > 0 {
		t.Errorf("%d 429 answers without Retry-After", noRetry)
	}
	if peak.Load() > 1024 || float64(peak.Load())-before > 512 {
		t.Errorf("RSS grew from %.0f MB to a %d MB peak under load (bound: 1 GiB, +512 MB)", before, peak.Load())
	}
	if !hubProc.alive() {
		t.Fatalf("hub died under load: %v", hubProc.err)
	}
	res, err := http.Get(base + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("hub not ready after the load: %v %v", err, res)
	}
	res.Body.Close()
}
