package main

import (
	"fmt"
	"maps"
	"time"

	"context"
	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/dashboard"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"net/http"
	"os"
	"strconv"

	"github.com/mrhub/mrhub/pkg/config"
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

// apiHandlers mounts the HTTP API (FHIR R4 under /fhir, JSON under /api/v1) and the dashboard on
// the hub's server. Call close after Serve returns: it writes audit rows still in flight.
func apiHandlers(h *hub.Hub) (routes map[string]http.Handler, close func(), err error) {
	api, err := httpapi.New(httpapi.Options{Pool: h.Pool, Catalog: h.Catalog, Hasher: h.Hasher,
		Log: h.Log.Named("http"), Location: h.Cfg.Location()})
	if err != nil {
		return nil, nil, err
	}
	routes = api.Routes()
	maps.Copy(routes, dashboard.Routes())
	return routes, func() { api.Close() }, nil
}

// demoTokens creates one API token per role for the demo banner, each for an institution (or
// the district, for the bureau) of the seeded region.
func demoTokens(ctx context.Context, h *hub.Hub) (map[string]string, error) {
	r := h.Catalog.Region()
	orgs := map[string]string{"his": r.Institutions[0].Code, "clinician": r.Institutions[0].Code,
		"bureau": r.Institutions[0].Code, "admin": r.Institutions[0].Code}
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
