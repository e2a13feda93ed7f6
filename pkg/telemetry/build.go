package telemetry

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build identifies the running binary, from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo). `go build` in a Git checkout records the commit; `go run`,
// `go test` and builds outside a checkout do not, and the fields say "unknown".
type Build struct {
	Version    string // main module version: a tag, a pseudo-version (+dirty when modified) or (devel)
	Commit     string // vcs.revision, the full commit hash
	CommitTime string // vcs.time: when that commit was made (RFC 3339, UTC)
	Modified   bool   // vcs.modified: built from a tree with uncommitted changes
	GoVersion  string // the Go release that compiled the binary
	Platform   string // GOOS/GOARCH
}

// ReadBuild returns the running binary's build information.
func ReadBuild() Build {
	b := Build{Version: "unknown", Commit: "unknown", CommitTime: "unknown", GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the build on one line per field, as `mrhub version` prints it.
func (b Build) String() string {
	modified := ""
	if b.Modified {
		modified = " (uncommitted changes)"
	}
	return fmt.Sprintf("mrhub %s\ncommit      %s%s\ncommit time %s\ngo          %s %s\n",
		b.Version, b.Commit, modified, b.CommitTime, b.GoVersion, b.Platform)
}

// RegisterBuildInfo registers the gauge mrhub_build_info{version, commit, go_version} = 1 on
// reg, so that dashboards and alerts can tell which build each hub runs.
func RegisterBuildInfo(reg prometheus.Registerer, b Build) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mrhub_build_info",
		Help: "Always 1; the labels name the running build: module version, commit and Go version."},
		[]string{"version", "commit", "go_version"})
	g.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	reg.MustRegister(g)
}
