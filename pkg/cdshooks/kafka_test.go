package cdshooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/cdshooks"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestReportsThroughKafkaToDecisions is the whole way: reports published on mrhub.reports.v1 (the
// embedded broker) and indexed by the hub's consumers, an EHR's order-sign call, its cards, the
// clinician's feedback, and the bureau's statistics showing the decisions and reminders.
func TestReportsThroughKafkaToDecisions(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dsn, _ := testenv.DB(t)
	b := testenv.Broker(t, 1)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.Partitions, cfg.Consumers = 1, 1
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
	e := newEnv(t, h.Pool, h.Hasher, func(o *cdshooks.Options) { o.Decisions = h.DecisionStore })

	// HospitalB publishes a blood routine and a urine routine of one patient, yesterday.
	nid := testenv.NID(21)
	now := time.Now()
	reports := [][]byte{
		testenv.Report{Performer: testenv.HospitalB, ID: "K1", NID: nid, CodeSystem: qx002Lab, Code: "XCG", Effective: now.Add(-20 * time.Hour)}.JSON(),
		testenv.Report{Performer: testenv.HospitalB, ID: "K2", NID: nid, CodeSystem: qx002Lab, Code: "NCG", Effective: now.Add(-21 * time.Hour), Values: []float64{6}}.JSON(),
	}
	testenv.Publish(t, cfg.KafkaBrokers, cfg.TopicReports, testenv.HospitalB, func(i int) string { return testenv.HospitalB + "|K" + string(rune('1'+i)) }, reports...)
	testenv.WaitFor(t, 30*time.Second, "the reports indexed", func() bool { return e.count(`SELECT count(*) FROM reports`) == 2 })

	// HospitalA's EHR signs three orders: both items and one with no result.
	his := e.token(auth.RoleHIS, testenv.HospitalA)
	code, body := e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSign, his, hookRequest("order-sign", nid, "内分泌科", nil,
		serviceRequest("o1", qx001Lab, "6587"), serviceRequest("o2", qx001Lab, "6798"), serviceRequest("o3", qx001Lab, "6673")))
	resp := checkCards(t, body)
	if code != http.StatusOK || len(resp.Cards) != 2 {
		t.Fatalf("order-sign = %d, %d cards: %s", code, len(resp.Cards), body)
	}
	var fb []any
	at := time.Now().UTC().Format(time.RFC3339)
	for _, c := range resp.Cards {
		if strings.Contains(c.Summary, "血常规") {
			fb = append(fb, map[string]any{"card": c.UUID, "outcome": "accepted", "acceptedSuggestions": []any{map[string]any{"id": c.Suggestions[0].UUID}}, "outcomeTimestamp": at})
		} else {
			fb = append(fb, map[string]any{"card": c.UUID, "outcome": "overridden", "outcomeTimestamp": at,
				"overrideReason": map[string]any{"reason": map[string]any{"code": "99", "system": cdshooks.DeclineReasonSystem, "display": "需连续监测"}}})
		}
	}
	code, body = e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSign+"/feedback", his, map[string]any{"feedback": fb})
	var fr cdshooks.FeedbackResponse
	if code != http.StatusOK || json.Unmarshal(body, &fr) != nil || len(fr.Feedback) != 2 || fr.Feedback[0].Result != "created" || fr.Feedback[1].Result != "created" {
		t.Fatalf("feedback = %d %s", code, body)
	}
	// Sent again (an EHR retrying): nothing more.
	if code, body = e.do(http.MethodPost, "/cds-services/"+cdshooks.ServiceSign+"/feedback", his, map[string]any{"feedback": fb}); code != http.StatusOK || strings.Count(string(body), `"duplicate"`) != 2 {
		t.Fatalf("feedback again = %d %s", code, body)
	}

	day := time.Now().In(cst).Format("2006-01-02")
	code, body = e.do(http.MethodGet, "/api/v1/stats/recognition?by=institution&by=department&from="+day+"&to="+day, e.token(auth.RoleBureau, testenv.HospitalA), nil)
	var st struct {
		Totals struct {
			Decisions           int `json:"decisions"`
			Recognized          int `json:"recognized"`
			DeclinedNotCounting int `json:"declined_not_counting"`
			Reminders           int `json:"reminders"`
			SavingsCents        int `json:"savings_cents"`
		} `json:"totals"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
		t.Fatalf("stats = %d %s", code, body)
	}
	if tt := st.Totals; tt.Decisions != 2 || tt.Recognized != 1 || tt.DeclinedNotCounting != 1 || tt.Reminders != 2 || tt.SavingsCents != 2000 {
		t.Errorf("statistics %+v, want 2 decisions (1 recognised, 1 declined with reason 99), 2 reminders, ¥20.00 saved", tt)
	}
	if !strings.Contains(string(body), `"department":"内分泌科"`) {
		t.Errorf("the department from the PractitionerRole is not in the statistics: %s", body)
	}
}
