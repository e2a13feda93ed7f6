package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestReadReplica runs a hub with a real PostgreSQL streaming replica (a second cluster on this
// machine, pg_basebackup -R) and the embedded broker over TCP:
//   - reports ingested through Kafka are answered from the replica (its own transaction counter
//     for the database grows, and the router counts replica reads);
//   - the replica is stopped while clients keep asking (recognizable, FHIR search and read):
//     reads go to the primary, /readyz stays ready and shows the replica down;
//   - it is started again and used again; no request of the whole run failed;
//   - read-your-writes: with the replica's replay paused (it stays "up": within the lag limit),
//     a decision recorded through the API is read back at once (from the primary: the replica
//     provably lacks it), while another institution's reads still go to the replica; so is a
//     decision consumed from the decisions topic;
//   - a router with a 1 s lag limit marks the paused replica lagging and sends reads to the
//     primary, and up again once replay resumes.
func TestReadReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dsn, pool := testenv.DB(t)
	rep := testenv.StartReplica(t)
	b := testenv.Broker(t, 2)
	u, _ := url.Parse(dsn)
	dbName := strings.TrimPrefix(u.Path, "/")
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions, cfg.Consumers = 2, 1
	cfg.HTTPAddr = freeAddr(t)
	cfg.DatabaseReplicaURLs = []string{rep.URL(dbName)}
	cfg.ReplicaMaxLag = 30 * time.Second // the replay pause below must not count as lag here
	ctx, cancel := context.WithCancel(context.Background())
	h, err := hub.Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("opening hub: %v", err)
	}
	api, err := httpapi.New(httpapi.Options{Pool: h.Pool, Reads: h.Reads, Catalog: h.Catalog, Hasher: h.Hasher, Log: h.Log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, api.Routes()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub stopped with: %v", err)
		}
		api.Close()
		h.Close()
	})
	base := "http://" + cfg.HTTPAddr
	testenv.WaitFor(t, 30*time.Second, "the hub to listen", func() bool {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})

	// Ingest through Kafka, and wait until the replica has replayed the index.
	const n = 30
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = testenv.Report{Performer: testenv.HospitalA, ID: fmt.Sprintf("R%d", i), NID: testenv.NID(i)}.JSON()
	}
	testenv.Publish(t, b.Addrs(), config.TopicReports, testenv.HospitalA, func(i int) string { return fmt.Sprint("r", i) }, vals...)
	repConn, err := pgx.Connect(ctx, rep.URL(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer repConn.Close(context.Background())
	testenv.WaitFor(t, 60*time.Second, "the replica to show the ingested reports", func() bool {
		var c int
		_ = repConn.QueryRow(ctx, `SELECT count(*) FROM reports`).Scan(&c)
		return c == n
	})
	h.Reads.Check(ctx)
	if st := h.Reads.States(); len(st) != 1 || st[0].State != db.ReplicaUp {
		t.Fatalf("replica states %+v, want one up", st)
	}
	readyz := func() (int, string) {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := readyz(); code != 200 || !strings.Contains(body, `"state":"up"`) || strings.Contains(body, "postgres@") {
		t.Fatalf("/readyz: %d %s, want ready with the replica up (and no connection string)", code, body)
	}

	clinB, err := auth.Create(ctx, pool, auth.RoleClinician, testenv.HospitalB, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clinA, err := auth.Create(ctx, pool, auth.RoleClinician, testenv.HospitalA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var reportID string
	if err := pool.QueryRow(ctx, `SELECT id FROM reports WHERE identifier_value = 'R1'`).Scan(&reportID); err != nil {
		t.Fatal(err)
	}
	get := func(tok, path string) (int, []byte, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, body, err
	}
	replicaReads := func() float64 { return readsCounter(t, h, "replica") }
	replicaXacts := func() int64 {
		var x int64
		if err := repConn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, dbName).Scan(&x); err != nil {
			t.Fatalf("reading the replica's statistics: %v", err)
		}
		return x
	}

	// Clients ask continuously until told to stop; every answer must be a 200 with content.
	var requests, failures atomic.Int64
	var failMu sync.Mutex
	var failed []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pv := url.QueryEscape("http://mrhub.example/sid/resident-id|" + testenv.NID((c*7+i)%n))
				var path, want string
				switch i % 3 {
				case 0:
					path, want = "/api/v1/recognizable?patient="+pv, `"items":[{`
				case 1:
					path, want = "/fhir/DiagnosticReport?patient.identifier="+pv, `"entry"`
				default:
					path, want = "/fhir/DiagnosticReport/"+reportID, `"resourceType":"DiagnosticReport"`
				}
				code, body, err := get(clinB, path)
				requests.Add(1)
				if err != nil || code != 200 || !strings.Contains(string(body), want) {
					failures.Add(1)
					failMu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %d %v %.200s", path, code, err, body))
					failMu.Unlock()
				}
			}
		}(c)
	}
	stopClients := func() {
		close(stop)
		wg.Wait()
	}
	waitReads := func(what string, min int64) {
		start := requests.Load()
		testenv.WaitFor(t, 60*time.Second, what, func() bool { return requests.Load()-start >= min })
	}

	// 1. Reads through the replica.
	r0, x0 := replicaReads(), replicaXacts()
	waitReads("requests through the replica", 60)
	if r1 := replicaReads(); r1-r0 < 30 {
		stopClients()
		t.Fatalf("replica reads %v → %v: the reads did not go to the replica", r0, r1)
	}
	// The replica's own count of the database's transactions (its backends report it within
	// seconds) shows the reads ran there.
	testenv.WaitFor(t, 90*time.Second, "the replica to count the reads' transactions", func() bool { return replicaXacts()-x0 >= 30 })

	// 2. Replica stopped mid-traffic: answers keep coming, from the primary.
	rep.Stop()
	before := requests.Load()
	waitReads("requests with the replica stopped", 60)
	h.Reads.Check(ctx)
	if st := h.Reads.States(); st[0].State != db.ReplicaDown {
		t.Errorf("replica state with the replica stopped: %+v, want down", st[0])
	}
	if code, body := readyz(); code != 200 || !strings.Contains(body, `"state":"down"`) {
		t.Errorf("/readyz with the replica stopped: %d %s, want ready (reads go to the primary) showing the replica down", code, body)
	}
	rDown := replicaReads()
	waitReads("more requests with the replica stopped", 30)
	if got := replicaReads(); got != rDown {
		t.Errorf("replica reads grew from %v to %v while it was down", rDown, got)
	}
	t.Logf("%d requests answered while the replica was stopped", requests.Load()-before)

	// 3. Replica started again: used again once a check finds it caught up.
	rep.Start()
	testenv.WaitFor(t, 60*time.Second, "the router to find the replica up again", func() bool {
		return h.Reads.States()[0].State == db.ReplicaUp
	})
	rUp := replicaReads()
	waitReads("requests after the replica came back", 60)
	stopClients()
	if got := replicaReads(); got-rUp < 30 {
		t.Errorf("replica reads after it came back: %v → %v, want it used again", rUp, got)
	}
	if f := failures.Load(); f > 0 {
		t.Errorf("%d of %d requests failed across the replica's stop and start; first: %v", f, requests.Load(), failed[:min(len(failed), 5)])
	}
	t.Logf("%d requests, %d failed", requests.Load(), failures.Load())

	// 4. Read-your-writes while the replica lags behind (replay paused, still "up").
	repConn.Close(context.Background())
	repConn, err = pgx.Connect(ctx, rep.URL(dbName)) // the old connection died with the stop
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repConn.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_, _ = repConn.Exec(context.Background(), `SELECT pg_wal_replay_resume()`)
		}
	}()
	h.Reads.Check(ctx)
	dec := map[string]any{"id": "ryw-1", "institution": testenv.HospitalB, "department": "内科", "clinician": "D001",
		"patient": "http://mrhub.example/sid/resident-id|" + testenv.NID(1), "item": "JY001", "report": reportID,
		"outcome": "recognized", "decided_at": "2026-11-22T10:00:00+08:00"}
	body, _ := json.Marshal(dec)
	req, _ := http.NewRequest("POST", base+"/api/v1/decisions", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+clinB)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("POST decision: %d %s", res.StatusCode, rb)
	}
	if st := h.Reads.States(); st[0].State != db.ReplicaUp {
		t.Fatalf("replica state after the pause: %+v, want up (so that reads could go to it)", st[0])
	}
	var onReplica int
	if err := repConn.QueryRow(ctx, `SELECT count(*) FROM decisions WHERE id = 'ryw-1'`).Scan(&onReplica); err != nil || onReplica != 0 {
		t.Fatalf("the paused replica has the decision (%d, %v): the test cannot tell where the read went", onReplica, err)
	}
	if code, b, err := get(clinB, "/api/v1/decisions/ryw-1"); code != 200 || err != nil {
		t.Fatalf("GET the decision just recorded: %d %s %v, want 200 (read-your-writes)", code, b, err)
	}
	rA := replicaReads()
	if code, _, err := get(clinA, "/api/v1/recognizable?patient="+url.QueryEscape("http://mrhub.example/sid/resident-id|"+testenv.NID(2))); code != 200 || err != nil {
		t.Fatalf("recognizable for another institution: %d %v", code, err)
	}
	if got := replicaReads(); got == rA {
		t.Errorf("another institution's read did not go to the replica (the write mark must be per institution)")
	}

	// The same for a decision that comes through the decisions topic: a third institution
	// publishes one, and its clinician reads it back at once.
	const hospitalC = "12330299473237577P"
	clinC, err := auth.Create(ctx, pool, auth.RoleClinician, hospitalC, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dec["id"], dec["institution"] = "ryw-kafka", hospitalC
	body, _ = json.Marshal(dec)
	testenv.Publish(t, b.Addrs(), config.TopicDecisions, hospitalC, func(int) string { return "ryw-kafka" }, body)
	testenv.WaitFor(t, 20*time.Second, "the decisions consumer to set the publisher's read-your-writes mark", func() bool {
		return h.Reads.Mark(hospitalC) > 0
	})
	if err := repConn.QueryRow(ctx, `SELECT count(*) FROM decisions WHERE id = 'ryw-kafka'`).Scan(&onReplica); err != nil || onReplica != 0 {
		t.Fatalf("the paused replica has the decision (%d, %v): the test cannot tell where the read went", onReplica, err)
	}
	if st := h.Reads.States(); st[0].State != db.ReplicaUp {
		t.Fatalf("replica state: %+v, want up (so that reads could go to it)", st[0])
	}
	if code, b, err := get(clinC, "/api/v1/decisions/ryw-kafka"); code != 200 || err != nil {
		t.Fatalf("GET the decision just consumed from Kafka: %d %s %v, want 200 (read-your-writes)", code, b, err)
	}

	// 5. Lag limit: a router allowing 1 s skips the paused replica once it is that far behind.
	strict, err := db.NewRouter(ctx, pool, []string{rep.URL(dbName)}, db.RouterOptions{MaxLag: time.Second, CheckInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE lag_probe(x int); DROP TABLE lag_probe`); err != nil { // the primary moves on
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the strict router to find the paused replica lagging", func() bool {
		return strict.States()[0].State == db.ReplicaLagging
	})
	if p, r := strict.Pick(ctx, 0, 0); p != pool || r != nil {
		t.Errorf("a lagging replica was picked")
	}
	if _, err := repConn.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	resumed = true
	testenv.WaitFor(t, 30*time.Second, "the strict router to find the replica caught up", func() bool {
		return strict.States()[0].State == db.ReplicaUp
	})
	if p, r := strict.Pick(ctx, 0, 0); p == pool || r == nil {
		t.Errorf("the caught-up replica was not picked")
	}
}

// readsCounter is mrhub_db_reads_total{target} from the hub's /metrics registry.
func readsCounter(t *testing.T, h *hub.Hub, target string) float64 {
	t.Helper()
	mfs, err := h.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mrhub_db_reads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == target {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("mrhub_db_reads_total{target=%q} is not in the hub's metrics", target)
	return 0
}
