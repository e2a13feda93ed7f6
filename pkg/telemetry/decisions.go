package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DecisionMetrics are the instruments of recognition decisions and of the HTTP API.
type DecisionMetrics struct {
	Decisions  *prometheus.CounterVec   // decisions processed, by way in (api, kafka, cds-hooks) and result
	APISeconds *prometheus.HistogramVec // HTTP latency, by route pattern and status class
}

// NewDecisionMetrics registers the decision and API metrics on reg.
func NewDecisionMetrics(reg prometheus.Registerer) *DecisionMetrics {
	m := &DecisionMetrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrhub_decisions_total",
			Help: "Recognition decisions processed, by way in (api, kafka, cds-hooks) and result (recognized, declined, revoked, duplicate, already_revoked, rejected).",
		}, []string{"via", "result"}),
		APISeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mrhub_http_request_seconds",
			Help:    "HTTP request latency, by route pattern (e.g. \"GET /api/v1/stats/recognition\") and status class (2xx, 4xx, 5xx).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.Decisions, m.APISeconds)
	return m
}

// Decision counts one processed decision. m may be nil.
func (m *DecisionMetrics) Decision(via, result string) {
	if m != nil {
		m.Decisions.WithLabelValues(via, result).Inc()
	}
}

// Observation is the per-request record the HTTP instrumentation keeps in the request context:
// inner muxes set Route to the pattern they matched; handlers reach the metrics through it.
type Observation struct {
	Route   string
	Metrics *DecisionMetrics
}

type obsKey struct{}

// ObservationFrom returns the request's Observation, or nil.
func ObservationFrom(ctx context.Context) *Observation {
	o, _ := ctx.Value(obsKey{}).(*Observation)
	return o
}

// SetRoute records the route pattern that matched (a no-op outside Instrument).
func SetRoute(ctx context.Context, pattern string) {
	if o := ObservationFrom(ctx); o != nil && pattern != "" {
		o.Route = pattern
	}
}

// DecisionMetricsFrom returns the metrics carried by the request context, or nil.
func DecisionMetricsFrom(ctx context.Context) *DecisionMetrics {
	if o := ObservationFrom(ctx); o != nil {
		return o.Metrics
	}
	return nil
}

// Instrument measures next's latency under the route it (or an inner mux, via SetRoute)
// matched, default route, and the status class.
func Instrument(m *DecisionMetrics, route string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		o := &Observation{Route: route, Metrics: m}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), obsKey{}, o)))
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		m.APISeconds.WithLabelValues(o.Route, strconv.Itoa(code/100)+"xx").Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush forwards to the underlying writer when it can flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
