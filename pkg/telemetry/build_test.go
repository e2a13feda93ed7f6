package telemetry_test

import (
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mrhub/mrhub/pkg/telemetry"
)

func TestBuildInfoGauge(t *testing.T) {
	b := telemetry.ReadBuild()
	if b.GoVersion != runtime.Version() || b.Version == "" || b.Commit == "" || b.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("build %+v: want Go %s on %s/%s and a version and commit (or unknown)", b, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	reg := prometheus.NewRegistry()
	telemetry.RegisterBuildInfo(reg, telemetry.Build{Version: "v1.2.3", Commit: "0ec7959", GoVersion: "go1.26.8"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "mrhub_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want the one series mrhub_build_info", mfs)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if m.GetGauge().GetValue() != 1 || len(labels) != 3 || labels["version"] != "v1.2.3" || labels["commit"] != "0ec7959" || labels["go_version"] != "go1.26.8" {
		t.Errorf("mrhub_build_info %v = %v, want {version=v1.2.3, commit=0ec7959, go_version=go1.26.8} 1", labels, m.GetGauge().GetValue())
	}
}
