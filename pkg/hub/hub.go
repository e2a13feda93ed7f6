package hub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	decisionsconsumer "github.com/mrhub/mrhub/consumers/decisions"
	"github.com/mrhub/mrhub/consumers/reports"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/outbox"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

// Hub holds a process's long-lived dependencies.
type Hub struct {
	Cfg  config.Config
	Log  *zap.Logger
	Pool *pgxpool.Pool
	// Reads routes the HTTP read paths to healthy read replicas (MRHUB_DATABASE_REPLICA_URLS),
	// else to Pool.
	Reads    *db.Router
	Catalog  *catalog.Catalog
	Hasher   *identity.Hasher
	Registry *prometheus.Registry
	// Decoder is the process's FHIR decoder, shared by its consumers (mrhub_fhir_decoded_total).
	Decoder *fhir.Decoder
	Metrics *telemetry.Metrics
	Store   *index.Store
	// Decisions holds the decision counters and the HTTP latency histogram.
	Decisions *telemetry.DecisionMetrics
	// DecisionStore validates and writes recognition decisions.
	DecisionStore *decisions.Store
	// Kafka is the TLS/SASL setting of every Kafka client of the hub (nil: plaintext).
	Kafka *bus.Security
}

// Open creates the database if missing, migrates it, and loads the catalogue and the identity key.
func Open(ctx context.Context, cfg config.Config, log *zap.Logger) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	key, err := cfg.IDKey()
	if err != nil {
		return nil, err
	}
	sec, err := bus.NewSecurity(cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.SecurityWarnings() {
		log.Warn("INSECURE: " + w)
	}
	hasher, err := identity.NewHasher(key)
	if err != nil {
		return nil, err
	}
	pool, err := OpenDatabase(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := identity.CheckKey(ctx, pool, hasher); err != nil {
		pool.Close()
		return nil, err
	}
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("loading the region catalogue: %w", err)
	}
	if len(cat.Region().Institutions) == 0 {
		pool.Close()
		return nil, errors.New("the region catalogue is empty: run `mrhub seed` (or load your region's reference data) first")
	}
	reads, err := db.NewRouter(ctx, pool, cfg.DatabaseReplicaURLs, db.RouterOptions{MaxLag: cfg.ReplicaMaxLag,
		MaxConns: int32(cfg.DBMaxConns), Log: log.Named("replicas")})
	if err != nil {
		pool.Close()
		return nil, err
	}
	reg := telemetry.NewRegistry()
	reg.MustRegister(reads)
	telemetry.RegisterBuildInfo(reg, telemetry.ReadBuild())
	dec := fhir.NewDecoder(cfg.Location())
	telemetry.RegisterDecodeStats(reg, func() (int64, int64) { s := dec.Stats(); return s.Fast, s.Fallback })
	return &Hub{
		Decoder: dec,
		Cfg:     cfg, Log: log, Pool: pool, Reads: reads, Catalog: cat, Hasher: hasher, Registry: reg,
		Metrics:       telemetry.NewMetrics(reg),
		Store:         index.NewStore(pool, cfg.TopicIndex, cfg.TopicDLQ),
		Decisions:     telemetry.NewDecisionMetrics(reg),
		DecisionStore: &decisions.Store{Pool: pool, Catalog: cat, Hasher: hasher, DLQ: cfg.TopicDLQ, ReportGrace: decisions.DefaultReportGrace},
		Kafka:         sec,
	}, nil
}

// OpenDatabase creates the database when missing, opens the pool and applies migrations.
func OpenDatabase(ctx context.Context, cfg config.Config, log *zap.Logger) (*pgxpool.Pool, error) {
	if err := db.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, int32(cfg.DBMaxConns))
	if err != nil {
		return nil, err
	}
	applied, err := db.Migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("database migrated", zap.Strings("applied", applied))
	}
	return pool, nil
}

// Close stops the replica checks and releases the pools.
func (h *Hub) Close() {
	if h.Reads != nil {
		h.Reads.Close()
	}
	h.Pool.Close()
}

// Topics are the topics the hub needs, with partition counts and configs.
func (h *Hub) Topics() []bus.TopicSpec {
	p := h.Cfg.Partitions
	return []bus.TopicSpec{
		{Name: h.Cfg.TopicReports, Partitions: p},
		{Name: h.Cfg.TopicDLQ, Partitions: p},
		{Name: h.Cfg.TopicIndex, Partitions: p, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: config.TopicDecisions, Partitions: p},
	}
}

// Profiler returns the indexing profile bound to the hub's catalogue and key.
func (h *Hub) Profiler() *profile.Profiler {
	return &profile.Profiler{Catalog: h.Catalog, Hasher: h.Hasher, Location: h.Cfg.Location(), Decoder: h.Decoder}
}

// NewConsumer builds one report consumer (its own group member). The caller closes the reader.
func (h *Hub) NewConsumer(member int) (*reports.Consumer, func() error, error) {
	r, err := bus.NewReader(bus.ReaderConfig{Brokers: h.Cfg.KafkaBrokers, GroupID: h.Cfg.GroupID, Topic: h.Cfg.TopicReports, MaxBytes: h.Cfg.MaxMessageBytes, Security: h.Kafka})
	if err != nil {
		return nil, nil, err
	}
	c := &reports.Consumer{
		Name: h.Cfg.GroupID, Reader: r, Index: h.Store, Profile: h.Profiler().Func(),
		Log: h.Log.Named(fmt.Sprintf("consumer-%d", member)), Metrics: h.Metrics,
		BatchSize: h.Cfg.BatchSize, BatchWait: h.Cfg.BatchWait, Workers: h.Cfg.DecodeWorkers, MaxBytes: h.Cfg.MaxMessageBytes,
	}
	return c, r.Close, nil
}

// DecisionsGroup is the consumer group of the decisions consumer: the hub's group id with a
// ".decisions" suffix, so that joining it does not rebalance the report consumers.
func (h *Hub) DecisionsGroup() string { return h.Cfg.GroupID + ".decisions" }

// NewDecisionConsumer builds the mrhub.decisions.v1 consumer (one group member). The caller
// closes the reader.
func (h *Hub) NewDecisionConsumer() (*decisionsconsumer.Consumer, func() error, error) {
	r, err := bus.NewReader(bus.ReaderConfig{Brokers: h.Cfg.KafkaBrokers, GroupID: h.DecisionsGroup(), Topic: config.TopicDecisions, MaxBytes: h.Cfg.MaxMessageBytes, Security: h.Kafka})
	if err != nil {
		return nil, nil, err
	}
	c := &decisionsconsumer.Consumer{Name: h.DecisionsGroup(), Reader: r, Store: h.DecisionStore, Log: h.Log.Named("decisions"),
		Metrics: h.Metrics, Decisions: h.Decisions, Marks: h.Reads, BatchSize: h.Cfg.BatchSize, BatchWait: h.Cfg.BatchWait}
	return c, r.Close, nil
}

// Serve runs the consumers, the outbox relay and the HTTP server until ctx ends, then shuts them
// down in order: stop fetching, finish and commit the batch in hand, close readers, stop the relay,
// stop HTTP. extra handlers (the API of later packages) are mounted on the same server.
func (h *Hub) Serve(ctx context.Context, extra map[string]http.Handler) error {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := bus.EnsureTopics(tctx, h.Cfg.KafkaBrokers, h.Topics(), h.Kafka)
	cancel()
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, h.Cfg.Consumers+3)
	for i := 0; i < h.Cfg.Consumers; i++ {
		c, closeReader, err := h.NewConsumer(i)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer closeReader()
			if err := c.Run(ctx); err != nil {
				errs <- fmt.Errorf("report consumer: %w", err)
				stop()
			}
		}()
	}
	dc, closeDecisions, err := h.NewDecisionConsumer()
	if err != nil {
		stop()
		wg.Wait()
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer closeDecisions()
		if err := dc.Run(ctx); err != nil {
			errs <- fmt.Errorf("decisions consumer: %w", err)
			stop()
		}
	}()
	w := bus.NewWriter(h.Cfg.KafkaBrokers, "", h.Kafka)
	relay := &outbox.Relay{Pool: h.Pool, Publisher: w, Log: h.Log.Named("outbox"), Metrics: h.Metrics}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = relay.Run(ctx)
	}()

	srv, ln, err := h.httpServer(extra)
	if err != nil {
		stop()
		wg.Wait()
		_ = w.Close()
		return err
	}
	scheme := httpScheme(srv) // before serving: ServeTLS rewrites srv.TLSConfig
	go func() {
		if err := serveHTTP(srv, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http server: %w", err)
			stop()
		}
	}()
	h.Log.Info("hub serving", zap.Strings("brokers", h.Cfg.KafkaBrokers), zap.Stringer("kafka_security", h.Kafka), zap.String("http", scheme+"://"+ln.Addr().String()),
		zap.Int("consumers", h.Cfg.Consumers), zap.String("group", h.Cfg.GroupID))
	<-ctx.Done()
	h.Log.Info("shutting down: finishing batches in hand")
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	_ = w.Close()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

func (h *Hub) httpServer(extra map[string]http.Handler) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := h.Pool.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","reason":"database unreachable"}`))
			return
		}
		if !h.Reads.HasReplicas() {
			_, _ = w.Write([]byte(`{"status":"ready"}`))
			return
		}
		// Replicas that are down or lagging do not make the hub unready: reads fall back to the
		// primary. Their state is shown for operators.
		b, _ := json.Marshal(map[string]any{"status": "ready", "replicas": h.Reads.States()})
		_, _ = w.Write(b)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{Registry: h.Registry}))
	for p, hd := range extra {
		// Latency by route: the API's own mux refines the route to the pattern it matched.
		mux.Handle(p, telemetry.Instrument(h.Decisions, p, hd))
	}
	var tc *tls.Config
	if h.Cfg.HTTPTLSCertFile != "" || h.Cfg.HTTPTLSKeyFile != "" {
		// Loaded here so a bad certificate stops the hub at start, not at the first request.
		cert, err := tls.LoadX509KeyPair(h.Cfg.HTTPTLSCertFile, h.Cfg.HTTPTLSKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("loading the HTTPS certificate (MRHUB_HTTP_TLS_CERT_FILE/KEY_FILE): %w", err)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", h.Cfg.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on MRHUB_HTTP_ADDR %s: %w", h.Cfg.HTTPAddr, err)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, TLSConfig: tc}, ln, nil
}

// serveHTTP serves HTTPS when srv has a TLS configuration (certificates already loaded), else
// plain HTTP.
func serveHTTP(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

func httpScheme(srv *http.Server) string {
	if srv.TLSConfig != nil {
		return "https"
	}
	return "http"
}
