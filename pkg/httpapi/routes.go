package httpapi

import (
	"net/http"

	"github.com/mrhub/mrhub/pkg/telemetry"
)

// routeMux is a ServeMux that records the pattern each request matched for the latency
// histogram (telemetry.Instrument, mounted by the hub), so labels stay low-cardinality.
type routeMux struct{ *http.ServeMux }

func newRouteMux() routeMux { return routeMux{http.NewServeMux()} }

func (m routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		telemetry.SetRoute(r.Context(), pattern)
		h.ServeHTTP(w, r)
	}))
}

func (m routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}
