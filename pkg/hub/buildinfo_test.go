package hub_test

import (
	"context"
	"runtime"
	"testing"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestBuildInfoMetric: the hub's registry (its /metrics) has mrhub_build_info = 1 with the
// version, commit and Go version labels.
func TestBuildInfoMetric(t *testing.T) {
	dsn, _ := testenv.DB(t)
	h, err := hub.Open(context.Background(), testenv.Config(dsn, []string{"127.0.0.1:1"}), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	mfs, err := h.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mrhub_build_info" {
			continue
		}
		if len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Fatalf("mrhub_build_info: %v, want one series of value 1", mf.GetMetric())
		}
		labels := map[string]string{}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["go_version"] != runtime.Version() || labels["version"] == "" || labels["commit"] == "" || len(labels) != 3 {
			t.Errorf("mrhub_build_info labels %v: want version, commit and go_version=%s", labels, runtime.Version())
		}
		return
	}
	t.Fatal("the hub's registry has no mrhub_build_info")
}
