package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/cdshooks"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/dashboard"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// configForLogs is the environment's configuration, for commands that only need logging.
func configForLogs() config.Config {
	c := config.FromEnv()
	if c.Validate() != nil {
		c.LogLevel, c.LogFormat = "info", "console"
	}
	return c
}

// apiHandlers mounts the HTTP API (FHIR R4 under /fhir, JSON under /api/v1), the CDS Hooks
// service (/cds-services, and its EHR page under /ehr/) and the dashboard on
// the hub's server; the EHR page offers ehrPatients (the demo's simulated patients) to pick
// from. Call close after Serve returns: it writes audit rows still in flight.
func apiHandlers(h *hub.Hub, ehrPatients ...cdshooks.EHRPatient) (routes map[string]http.Handler, close func(), err error) {
	api, err := httpapi.New(httpapi.Options{Pool: h.Pool, Reads: h.Reads, Catalog: h.Catalog, Hasher: h.Hasher,
		Log: h.Log.Named("http"), Location: h.Cfg.Location(), MaxMessageBytes: h.Cfg.MaxMessageBytes})
	if err != nil {
		return nil, nil, err
	}
	routes = api.Routes()
	maps.Copy(routes, dashboard.Routes())
	hooks, err := cdshooks.New(cdshooks.Options{Hub: api, Pool: h.Pool, Catalog: h.Catalog, Decisions: h.DecisionStore,
		Log: h.Log.Named("cds-hooks"), Location: h.Cfg.Location(), FHIRServers: h.Cfg.CDSFHIRServers, EHRPatients: ehrPatients})
	if err != nil {
		api.Close()
		return nil, nil, err
	}
	maps.Copy(routes, hooks.Routes())
	return routes, func() { api.Close() }, nil
}

// demoTokens creates one API token per role for the demo banner, each for the demo institution
// (the bureau's token reads that institution's district).
func demoTokens(ctx context.Context, h *hub.Hub) (map[string]string, error) {
	org := demoInstitution(h.Catalog.Region())
	orgs := map[string]string{"his": org, "clinician": org, "bureau": org, "admin": org}
	out := map[string]string{}
	for role, org := range orgs {
		t, err := auth.Create(ctx, h.Pool, role, org, 30*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("creating the demo %s token: %w", role, err)
		}
		out[role] = t
	}
	return out, nil
}

// demoInstitution is the institution the demo's tokens belong to: the lead hospital of the
// region's first medical community by code (清溪区人民医院 in the synthetic region, as README.md's
// tour says), else the first institution.
func demoInstitution(r *catalog.Region) string {
	first := ""
	for _, c := range r.Communities {
		if c.LeadCode != "" && (first == "" || c.Code < first) {
			first = c.Code
		}
	}
	for _, c := range r.Communities {
		if c.Code == first {
			return c.LeadCode
		}
	}
	return r.Institutions[0].Code
}

// serverGCPercent is the garbage collector's target for the long-running commands (serve, demo
// and the benchmarks, which measure what serve does) when GOGC is not set. The hub's live heap
// is small (tens of MB) and its allocation rate high (~90 KB per API request, whole batches of
// reports on ingest), so Go's default of 100 collected every few milliseconds under load and
// spent ~20% of the process's CPU in the collector; at 400 the query benchmark measured ~15%
// less CPU per request. GOMEMLIMIT (a soft limit; deploy/k8s sets it) bounds the heap either way.
const serverGCPercent = 400

// tuneGC applies serverGCPercent unless GOGC is set in the environment.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}
