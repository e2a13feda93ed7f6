package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/sim"
	"github.com/mrhub/mrhub/seeds"
)

func runDemo(ctx context.Context, args []string) error {
	var dataDir string
	var rate float64
	var port int
	cfg, _, err := loadConfig("demo", args, func(fs *flag.FlagSet) {
		fs.StringVar(&dataDir, "data-dir", envOr("MRHUB_DATA_DIR", "./data"), "demo state: broker log, identity key (env MRHUB_DATA_DIR)")
		fs.Float64Var(&rate, "rate", 20, "simulated reports per second (0 = no simulator)")
		fs.IntVar(&port, "kafka-port", envInt("MRHUB_KAFKA_PORT", 9092), "embedded broker port (env MRHUB_KAFKA_PORT)")
	})
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck

	// Identity key: the operator's secret; the demo makes one and keeps it with its data.
	if cfg.IDKeyHex == "" {
		if cfg.IDKeyFile == "" {
			cfg.IDKeyFile = filepath.Join(dataDir, "id.key")
		}
		if err := ensureKeyFile(cfg.IDKeyFile); err != nil {
			return err
		}
	}
	b, err := broker.Start(broker.Options{Port: port, DataDir: filepath.Join(dataDir, "kafka"),
		Topics: broker.HubTopics(int32(cfg.Partitions)), MaxMessageBytes: 8 << 20, Logger: log})
	if err != nil {
		return fmt.Errorf("%w (is another broker or `mrhub demo` using port %d? set MRHUB_KAFKA_PORT)", err, port)
	}
	defer b.Close()
	cfg.KafkaBrokers = b.Addrs()

	pool, err := hub.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return explainDB(err)
	}
	region, err := seeds.Region()
	if err == nil {
		err = catalog.Upsert(ctx, pool, region)
	}
	pool.Close()
	if err != nil {
		return fmt.Errorf("seeding the region: %w", err)
	}
	h, err := hub.Open(ctx, cfg, log)
	if err != nil {
		return explainDB(err)
	}
	defer h.Close()
	tokens, err := demoTokens(ctx, h)
	if err != nil {
		return err
	}

	api, closeAPI, err := apiHandlers(h)
	if err != nil {
		return err
	}
	defer closeAPI()
	serveErr := make(chan error, 1)
	go func() { serveErr <- h.Serve(ctx, api) }()
	if err := waitHealthy(ctx, cfg.HTTPAddr, serveErr); err != nil {
		return err
	}
	printDemoBanner(cfg, b.Addrs()[0], tokens, region)

	if rate > 0 {
		sc := sim.DefaultConfig()
		sc.Seed = time.Now().UnixNano()
		sc.Start = time.Now().Add(-14 * 24 * time.Hour)
		sc.MeanGap = 30 * time.Second
		g, err := sim.New(sc, region)
		if err != nil {
			return err
		}
		w := bus.NewWriter(cfg.KafkaBrokers, config.TopicReports)
		defer w.Close()
		go func() {
			if _, err := sim.Run(ctx, g, w, sim.RunOptions{Rate: rate}); err != nil {
				log.Warn("simulator stopped", zap.Error(err))
			}
		}()
	}
	err = <-serveErr
	log.Info("demo stopped; data kept", zap.String("data_dir", dataDir))
	return err
}

func ensureKeyFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600)
}

func printDemoBanner(cfg config.Config, kafkaAddr string, tokens map[string]string, region *catalog.Region) {
	base := "http://" + cfg.HTTPAddr
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n=== mrhub demo (%s) ===\n", region.Name)
	fmt.Fprintf(&sb, "FHIR base URL:  %s/fhir\n", base)
	fmt.Fprintf(&sb, "Metrics:        %s/metrics\n", base)
	fmt.Fprintf(&sb, "Kafka (kfake):  %s   topics %s %s %s\n", kafkaAddr, config.TopicReports, config.TopicIndex, config.TopicDLQ)
	fmt.Fprintf(&sb, "Database:       %s\n", db.Redact(cfg.DatabaseURL))
	for _, role := range []string{"his", "clinician", "bureau", "admin"} {
		if t, ok := tokens[role]; ok {
			fmt.Fprintf(&sb, "Token %-10s %s\n", role+":", t)
		}
	}
	fmt.Fprintf(&sb, "\nTry:\n")
	fmt.Fprintf(&sb, "  curl -s %s/readyz\n", base)
	fmt.Fprintf(&sb, "  curl -s %s/metrics | grep mrhub_reports_total\n", base)
	if t, ok := tokens["clinician"]; ok {
		fmt.Fprintf(&sb, "  curl -s -H 'Authorization: Bearer %s' '%s/fhir/DiagnosticReport?_count=5&_sort=-date'\n", t, base)
	}
	fmt.Fprintf(&sb, "  kcat -C -b %s -t %s -o -5 -e -q          # the published index\n", kafkaAddr, config.TopicIndex)
	fmt.Fprintf(&sb, "  kcat -C -b %s -t %s -e -f '%%h\\n'        # dead letters with their reasons\n", kafkaAddr, config.TopicDLQ)
	fmt.Fprintf(&sb, "  mrhub publish --brokers %s --source %s ../shared/fhir/examples/hl7-r4-examples/Bundle\n", kafkaAddr, region.Institutions[0].Code)
	fmt.Fprintf(&sb, "\nCtrl-C stops everything; running `make demo` again resumes with the data kept.\n\n")
	fmt.Print(sb.String())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runSimulate(ctx context.Context, args []string) error {
	var rate float64
	var total int
	var dur time.Duration
	var seed int64
	cfg, _, err := loadConfig("simulate", args, func(fs *flag.FlagSet) {
		fs.Float64Var(&rate, "rate", 50, "messages per second (0 = as fast as possible)")
		fs.IntVar(&total, "total", 0, "stop after this many messages (0 = no limit)")
		fs.DurationVar(&dur, "duration", 0, "stop after this long (0 = until Ctrl-C)")
		fs.Int64Var(&seed, "seed", 1, "random seed (same seed, same stream)")
	})
	if err != nil {
		return err
	}
	region, err := seeds.Region()
	if err != nil {
		return err
	}
	sc := sim.DefaultConfig()
	sc.Seed = seed
	g, err := sim.New(sc, region)
	if err != nil {
		return err
	}
	w := bus.NewWriter(cfg.KafkaBrokers, config.TopicReports)
	defer w.Close()
	st, err := sim.Run(ctx, g, w, sim.RunOptions{Rate: rate, Total: total, Duration: dur, Progress: os.Stderr})
	if st != nil {
		fmt.Printf("simulated %d messages in %v: %v\n", st.Sent, st.Elapsed.Round(time.Millisecond), st.ByKind)
	}
	return err
}

// waitHealthy waits until the hub answers /healthz (or stops trying), so the banner's URLs work
// when it is printed.
func waitHealthy(ctx context.Context, addr string, serveErr chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-serveErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the hub did not answer on %s within 60s", addr)
}
