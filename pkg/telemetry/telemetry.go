package telemetry

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a zap logger at level ("debug", "info", "warn", "error") in format
// ("console" for people, "json" for log collectors).
func NewLogger(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	var cfg zap.Config
	if format == "json" {
		cfg = zap.NewProductionConfig()
	} else {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.DisableCaller = true
	return cfg.Build()
}

// Metrics are the hub's Prometheus instruments.
type Metrics struct {
	Consumed      *prometheus.CounterVec   // messages fetched, by topic
	Indexed       *prometheus.CounterVec   // report outcomes: new, version, unchanged, history, withdrawn, skipped_redelivery
	DeadLettered  *prometheus.CounterVec   // by topic and error code
	BatchSeconds  *prometheus.HistogramVec // database transaction latency of one batch, by topic
	BatchSize     *prometheus.HistogramVec // messages per batch, by topic
	Lag           *prometheus.GaugeVec     // consumer lag (messages) as reported by the reader, by topic
	Retries       *prometheus.CounterVec   // transient failures retried, by stage
	OutboxRelayed prometheus.Counter       // outbox records published
	OutboxPending prometheus.Gauge         // outbox records waiting at the last poll
}

// NewMetrics registers the hub's metrics (and the Go/process collectors) on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrhub_consumed_messages_total", Help: "Messages fetched from Kafka.",
		}, []string{"topic"}),
		Indexed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrhub_reports_total", Help: "Reports processed, by outcome (new, version, unchanged, history, withdrawn, skipped_redelivery).",
		}, []string{"outcome"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrhub_dead_lettered_total", Help: "Messages sent to the dead-letter topic, by error code.",
		}, []string{"topic", "code"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mrhub_batch_seconds", Help: "Time to process one batch, fetch to database commit.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}, []string{"topic"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mrhub_batch_messages", Help: "Messages per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, []string{"topic"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mrhub_consumer_lag_messages", Help: "Consumer lag reported by the Kafka reader.",
		}, []string{"topic", "member"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrhub_transient_retries_total", Help: "Transient failures retried with backoff, by stage.",
		}, []string{"stage"}),
		OutboxRelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrhub_outbox_relayed_total", Help: "Outbox records published to Kafka.",
		}),
		OutboxPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mrhub_outbox_pending", Help: "Outbox records waiting at the last relay poll.",
		}),
	}
	reg.MustRegister(m.Consumed, m.Indexed, m.DeadLettered, m.BatchSeconds, m.BatchSize, m.Lag, m.Retries, m.OutboxRelayed, m.OutboxPending)
	return m
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// decodeCollector exposes the FHIR decoder's counts.
type decodeCollector struct {
	desc  *prometheus.Desc
	stats func() (onePass, library int64)
}

// RegisterDecodeStats registers mrhub_fhir_decoded_total on reg: the messages the FHIR decoder
// read, by path — "one_pass" (the one-pass decoder accepted them) or "library" (the one-pass
// decoder left them to github.com/google/fhir/go, whose verdict stands: a message with a problem,
// or a construct the one-pass decoder does not read). stats returns the two counts.
func RegisterDecodeStats(reg prometheus.Registerer, stats func() (onePass, library int64)) {
	reg.MustRegister(&decodeCollector{stats: stats, desc: prometheus.NewDesc("mrhub_fhir_decoded_total",
		"FHIR messages decoded, by path: one_pass, or library when the one-pass decoder left the message to github.com/google/fhir/go (a problem found, or a construct it does not read).",
		[]string{"path"}, nil)})
}

func (c *decodeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *decodeCollector) Collect(ch chan<- prometheus.Metric) {
	fast, lib := c.stats()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(fast), "one_pass")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(lib), "library")
}
