package chaos

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/sim"
	"github.com/mrhub/mrhub/seeds"
)

// TestChaosKillsAndRestarts keeps a messy stream flowing into two hub processes while it
// SIGKILLs a random hub at random moments and restarts it (6 times; 20 with MRHUB_CHAOS_FULL=1),
// restarts the broker once (SIGTERM, same data directory) and, with MRHUB_CHAOS_PG_RESTART=1, the
// PostgreSQL server once. At the end: every published message is indexed exactly once or
// dead-lettered (nothing lost), the index equals a clean pass, no index row is duplicated, the
// outbox is empty and the compacted view of mrhub.index.v1 equals the database.
//
// The same stream carries clinicians' decisions and revocations (decisions_test.go): each is
// held back until the hub shows its report as recognisable (a clinician decides on what the hub
// showed), then sent on mrhub.decisions.v1 or, a quarter of them, over POST /api/v1/decisions to
// the hub processes being killed (retried with the same body until answered: the decision id is
// the idempotency key), with exact re-sends on both ways, conflicting re-uses of an id and
// invalid messages mixed in. The acknowledged sends, applied in the same order to the clean
// pass's database, are the reference: the decisions table must equal it (no decision lost,
// none twice, none invented; an API request cut off by a kill and never answered may have
// landed), every record the clean pass rejects must be dead-lettered with that code and a
// message and no other record dead-lettered, the API must have answered as the clean pass does,
// and every statistics rollup row must equal a recount from the decisions table.
//
// MRHUB_CHAOS_SEED fixes the random schedule (printed on every run).
func TestChaosKillsAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the chaos process test in -short mode")
	}
	kills := 6
	if envBool("MRHUB_CHAOS_FULL") {
		kills = 20
	}
	pgRestart := envBool("MRHUB_CHAOS_PG_RESTART")
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("MRHUB_CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("chaos schedule seed %d (MRHUB_CHAOS_SEED=%d reproduces it), %d kills, PostgreSQL restart %v", seed, seed, kills, pgRestart)
	rng := rand.New(rand.NewPCG(seed, 99))
	start := time.Now()

	const hubs = 2
	c := newCluster(t, 6)
	for s := 0; s < hubs; s++ {
		c.startHub(s)
	}
	c.waitStable(2*hubs, 60*time.Second)

	// Continuous load: ~150 messages/s of the messy synthetic stream, until told to stop.
	region, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.Patients = int64(seed%1000), 3000
	// Clinicians' decisions in the same stream (on reports at least 256 reports old), a few revoked;
	// the simulated clock never passes the wall clock, so no decision is dated in the future.
	cfg.Decisions, cfg.Revoke, cfg.Now = 0.12, 0.05, time.Now
	gen, err := sim.New(cfg, region)
	if err != nil {
		t.Fatal(err)
	}
	clin := newClinicians(t, c, seed, 0.25)
	var (
		mu         sync.Mutex
		sent       []kafka.Message // acknowledged, in order, each once
		pubRetries int
	)
	loadCtx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var loadWG sync.WaitGroup
	loadWG.Add(1)
	go func() {
		defer loadWG.Done()
		w := writer(c.brokers())
		defer w.Close()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			var chunk, decs []sim.Message
			for range 15 {
				if m := gen.Next(); m.Topic == config.TopicDecisions {
					decs = append(decs, m)
				} else {
					chunk = append(chunk, m)
				}
			}
			clin.add(decs)
			km := toKafka(chunk)
			// A chunk in flight is finished even after stop: only acknowledged messages count.
			r, err := publish(context.WithoutCancel(loadCtx), w, km)
			mu.Lock()
			pubRetries += r
			if err == nil {
				sent = append(sent, km...)
			}
			mu.Unlock()
			if err != nil {
				t.Errorf("publishing: %v", err)
				return
			}
		}
	}()

	var pgDown time.Duration
	brokerAt, pgAt := kills/2, kills/3
	var brokerDown time.Duration
	var downs []time.Duration
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(500+rng.IntN(3000)) * time.Millisecond)
		slot := rng.IntN(hubs)
		c.killHub(slot)
		killed := time.Now()
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		c.startHub(slot)
		c.restarts[slot]++
		downs = append(downs, time.Since(killed))
		if i == brokerAt {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
			brokerDown = c.restartBroker()
			t.Logf("broker restarted (down %s)", brokerDown.Round(time.Millisecond))
		}
		if pgRestart && i == pgAt {
			pgDown = restartPostgres(t)
			t.Logf("PostgreSQL restarted (down %s)", pgDown.Round(time.Millisecond))
		}
	}
	time.Sleep(2 * time.Second) // some load after the last fault
	stopLoad()
	loadWG.Wait()
	loadFor := time.Since(start)
	drain := c.waitDrained(180 * time.Second)
	// The reports are all indexed: the decisions still held back go out now.
	sends, unanswered := clin.finish(120 * time.Second)
	decDrain := c.waitTopicDrained(config.TopicDecisions, c.group+".decisions", 1, 120*time.Second) // hub.DecisionsGroup, one member per hub
	for s, p := range c.hubs {
		if !p.alive() {
			t.Errorf("hub %d exited on its own: %v\n%s", s, p.err, p.tail(20))
		}
	}
	if !c.broker.alive() {
		t.Errorf("broker exited on its own: %v", c.broker.err)
	}

	ctx := context.Background()
	ref := cleanPass(t, c.key, sent)
	got := takeSnapshot(t, ctx, c.pool)
	diff := compareSnapshots(t, ref.snap, got)
	published := readTopic(t, c.brokers(), config.TopicReports)
	dlq := readTopic(t, c.brokers(), config.TopicDLQ)
	acc := accountFor(t, ctx, c.pool, ref.profile, published, dlq)
	if acc.Published < len(sent) {
		t.Errorf("%d records in the reports topic, %d acknowledged", acc.Published, len(sent))
	}
	// (when a publisher retry wrote some messages twice, the counts by code legitimately differ)
	if acc.Published == len(sent) && !maps.Equal(acc.DLQByCode, ref.rejected) {
		t.Errorf("dead letters by code %v, clean pass rejected %v", acc.DLQByCode, ref.rejected)
	}
	var outbox int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox); err != nil {
		t.Fatal(err)
	}
	if outbox != 0 {
		t.Errorf("outbox: %d records not relayed", outbox)
	}
	events, keys, eventDups := indexTopicCheck(t, ctx, c.pool, readTopic(t, c.brokers(), config.TopicIndex))
	dupRows := duplicateRows(t, ctx, c.pool)
	if dupRows != 0 {
		t.Errorf("%d duplicated index rows", dupRows)
	}
	if acc.Lost != 0 {
		t.Errorf("%d messages lost", acc.Lost)
	}
	da := accountDecisions(t, ctx, c, ref, sends, unanswered)
	if da.Lost != 0 || da.Duplicates != 0 {
		t.Errorf("decisions: %d lost, %d duplicated or unaccounted for", da.Lost, da.Duplicates)
	}
	if da.ViaKafka == 0 || da.ViaAPI == 0 || da.Resends == 0 || da.Invalid == 0 || da.Revocations == 0 {
		t.Errorf("the run did not exercise the decisions: %+v", da)
	}
	clin.mu.Lock()
	heldMax, flushed := clin.heldMax, clin.flushed
	clin.mu.Unlock()
	var maxDown time.Duration
	for _, d := range downs {
		maxDown = max(maxDown, d)
	}
	pg := "not restarted (MRHUB_CHAOS_PG_RESTART=1 does)"
	if pgRestart {
		pg = "restarted once, down " + pgDown.Round(time.Millisecond).String()
	}
	fmt.Printf("chaos: seed %d, %d hub SIGKILLs + restarts (restarts per hub %v, hub down at most %s), broker restarted once (down %s), PostgreSQL %s; "+
		"load %s, drained %s after the load stopped (extra broker restarts to drop stale group members: %d)\n"+
		"chaos counts: published=%d (acknowledged %d, publisher retries %d) indexed=%d unchanged=%d dead_lettered=%d duplicates=%d lost=%d; "+
		"reports differing from the clean pass %d; DLQ records %d (%d duplicates); index topic %d records for %d keys, %d exact duplicate records, last record per key == database\n",
		seed, kills, c.restarts, maxDown.Round(time.Millisecond), brokerDown.Round(time.Millisecond), pg,
		loadFor.Round(time.Second), drain.Round(10*time.Millisecond), c.stale,
		acc.Published, len(sent), pubRetries, acc.Indexed, acc.Unchanged, acc.DeadLettered, dupRows, acc.Lost,
		diff, acc.DLQRecords, acc.DLQDuplicates, events, keys, eventDups)
	fmt.Printf("chaos decisions: published=%d (topic %d, API %d; held back until the hub showed their report, at most %s, %d until the reports had drained) "+
		"+ revocations %d, re-sent %d, conflicting %d, invalid %d; acknowledged valid=%d stored=%d (clean pass %d, revoked %d) duplicates=%d lost=%d; "+
		"topic records %d (publisher retries %d), dead-lettered %d as the clean pass [%s], DLQ records %d (%d duplicates); "+
		"simulated decisions the clean pass also rejects %v; API %d requests, %d cut off by a kill, %d answered 5xx/429, %d never answered (%d landed); "+
		"decisions drained %s after the reports; %d rollup rows == recount, stats totals == recount\n",
		da.Released, da.ViaKafka, da.ViaAPI, heldMax.Round(100*time.Millisecond), flushed,
		da.Revocations, da.Resends, da.Conflicts, da.Invalid, da.Acknowledged, da.Stored, da.Expected, da.Revoked, da.Duplicates, da.Lost,
		da.Records, clin.pubRetries.Load(), da.DeadLettered, da.codes(), da.DLQRecords, da.DLQDuplicates,
		da.SimRejected, clin.apiRequests.Load(), clin.apiCutOff.Load(), clin.apiBusy.Load(), len(unanswered), da.Landed,
		decDrain.Round(10*time.Millisecond), da.RollupRows)
}

// restartPostgres restarts the local cluster with pg_ctlcluster and waits until it accepts
// connections again; it returns how long that took.
func restartPostgres(t *testing.T) time.Duration {
	t.Helper()
	vers, err := filepath.Glob("/etc/postgresql/*")
	if err != nil || len(vers) == 0 {
		t.Fatalf("MRHUB_CHAOS_PG_RESTART=1 but no /etc/postgresql/<version>: %v", err)
	}
	ver := filepath.Base(vers[0])
	start := time.Now()
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", ver, "main", "restart").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster %s main restart: %v\n%s", ver, err, out)
	}
	for {
		if out, err := exec.Command("pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q").CombinedOutput(); err == nil {
			break
		} else if time.Since(start) > 60*time.Second {
			t.Fatalf("PostgreSQL not ready 60s after restart: %v %s", err, strings.TrimSpace(string(out)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
