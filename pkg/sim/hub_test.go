package sim_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/sim"
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/seeds"
)

// TestSimulatedRegionThroughTheHub publishes a simulated stream (reports with their mess, and
// decisions with revocations) through sim.Run to a real hub (embedded broker, PostgreSQL, the
// report and decision consumers) and reads the region's recognition rate from
// GET /api/v1/stats/recognition with a bureau token: it must be within ±3 points of the target.
// The generator's notion of "recognisable" must agree with the hub's: fewer than 2% of its
// decisions may be dead-lettered.
//
// Numbers: ~3,300 messages, of which ~650 decisions (Decisions = 0.25 once reports are old
// enough to be decided on). With the generator's error feedback the rate of the non-revoked
// decisions is within a decision or two of the target; the ±3 points leave room for the
// dead-lettered and the revoked.
func TestSimulatedRegionThroughTheHub(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	start := time.Now()
	dsn, pool := testenv.DB(t)
	b := testenv.Broker(t, 2)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions = 2
	cfg.Consumers = 1
	h, err := hub.Open(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("opening hub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub stopped with: %v", err)
		}
		h.Close()
	})

	region, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}
	const target = 0.80
	sc := sim.DefaultConfig()
	sc.Seed = 7
	sc.Patients = 1500 // repeat visitors: decisions across institutions
	sc.Decisions = 0.25
	sc.TargetRate = target
	sc.Revoke = 0.02
	sc.Now = time.Now
	g, err := sim.New(sc, region)
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.KafkaBrokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, BatchBytes: 16 << 20} // no fixed topic: each message names its own
	defer w.Close()
	// A bounded rate, as hospitals publish. A decision (made on a report at least 256 reports
	// old) that overtakes its report while the report consumers catch up waits for it
	// (decisions.Store.ReportGrace); the rate keeps that backlog short on two shared cores.
	pubCtx, pubCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer pubCancel()
	st, err := sim.Run(pubCtx, g, w, sim.RunOptions{Rate: 70, Total: 2200})
	if err != nil {
		t.Fatalf("publishing: %v", err)
	}
	dec, rev := st.ByKind[sim.KindDecision], st.ByKind[sim.KindRevoke]
	t.Logf("published %d messages in %v: %v", st.Sent, st.Elapsed.Round(time.Millisecond), st.ByKind)
	if dec < 400 {
		t.Fatalf("only %d decisions published, want at least 400", dec)
	}

	// Wait until every decision and revocation is either stored or dead-lettered.
	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	const settled = `SELECT COALESCE(sum(next_offset), 0)::int FROM ingest_offsets WHERE topic = 'mrhub.decisions.v1'`
	deadline := time.Now().Add(40 * time.Second)
	for count(settled) < dec+rev {
		if time.Now().After(deadline) {
			t.Fatalf("decisions not consumed in time: %d of %d", count(settled), dec+rev)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stored := count(`SELECT count(*) FROM decisions`)
	dead := dec - stored
	codes := map[string]int{}
	if dead > 0 {
		for _, m := range testenv.ReadAll(t, cfg.KafkaBrokers, cfg.TopicDLQ, 1<<30, 2*time.Second) {
			if bus.Header(m, "mrhub-source-topic") == "mrhub.decisions.v1" {
				codes[bus.Header(m, "mrhub-error-code")]++
			}
		}
	}
	t.Logf("decisions stored %d of %d, revoked %d; dead letters by code: %v", stored, dec, count(`SELECT count(*) FROM decisions WHERE revoked_at IS NOT NULL`), codes)
	if float64(dead) >= 0.02*float64(dec) {
		t.Errorf("%d of %d decisions (%.1f%%) were dead-lettered by the hub, want < 2%%", dead, dec, 100*float64(dead)/float64(dec))
	}

	// The rate, as the bureau reads it.
	api, err := httpapi.New(httpapi.Options{Pool: h.Pool, Catalog: h.Catalog, Hasher: h.Hasher, Log: zap.NewNop(), TokenCacheTTL: -1,
		Location: cfg.Location()})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	tok, err := auth.Create(context.Background(), pool, "bureau", region.Institutions[0].Code, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/stats/recognition?from=2025-01-01&to=2027-12-31", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("stats: %d %s", res.StatusCode, body)
	}
	var rep struct {
		Totals struct {
			Decisions           int64            `json:"decisions"`
			Recognized          int64            `json:"recognized"`
			DeclinedCounting    int64            `json:"declined_counting"`
			DeclinedNotCounting int64            `json:"declined_not_counting"`
			Revoked             int64            `json:"revoked"`
			Rate                *float64         `json:"rate"`
			DeclinesByReason    map[string]int64 `json:"declines_by_reason"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	t.Logf("stats totals: %s", body)
	if tot.Rate == nil {
		t.Fatalf("no rate: %s", body)
	}
	if math.Abs(*tot.Rate-target) > 0.03 {
		t.Errorf("recognition rate %.4f, want %.2f ± 0.03", *tot.Rate, target)
	}
	if int(tot.Decisions+tot.Revoked) != stored {
		t.Errorf("stats count %d decisions + %d revoked, the table holds %d", tot.Decisions, tot.Revoked, stored)
	}
	if tot.DeclinedNotCounting == 0 || tot.Revoked == 0 {
		t.Errorf("want some declines with reasons 98/99 and some revocations: %s", body)
	}
	if el := time.Since(start); el > 90*time.Second {
		t.Errorf("the test took %v", el)
	}
}
