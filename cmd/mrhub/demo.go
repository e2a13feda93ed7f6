package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/cdshooks"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/sim"
	"github.com/mrhub/mrhub/seeds"
)

func runDemo(ctx context.Context, args []string) error {
	var dataDir string
	var rate, decisions, target float64
	var port int
	var secure bool
	cfg, _, err := loadConfig("demo", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&secure, "secure", false, "Kafka over TLS with SCRAM-SHA-512: a throw-away CA and a random password are kept in the data dir")
		fs.StringVar(&dataDir, "data-dir", envOr("MRHUB_DATA_DIR", "./data"), "demo state: broker log, identity key (env MRHUB_DATA_DIR)")
		fs.Float64Var(&rate, "rate", 20, "simulated messages (reports and decisions) per second (0 = no simulator)")
		decisionFlags(fs, &decisions, &target)
		fs.IntVar(&port, "kafka-port", envInt("MRHUB_KAFKA_PORT", 9092), "embedded broker port (env MRHUB_KAFKA_PORT)")
	})
	if err != nil {
		return err
	}
	tuneGC()
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
		if err := ensureRandomHexFile(cfg.IDKeyFile, 32); err != nil {
			return err
		}
	}
	bo := broker.Options{Port: port, DataDir: filepath.Join(dataDir, "kafka"),
		Topics: broker.HubTopics(int32(cfg.Partitions)), MaxMessageBytes: 8 << 20, Logger: log}
	if secure {
		if bo.TLS, err = secureDemoKafka(&cfg, dataDir); err != nil {
			return err
		}
	}
	if bo.SASLUsers, err = brokerSASLUsers(cfg); err != nil {
		return err
	}
	b, err := broker.Start(bo)
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
	if errors.Is(err, identity.ErrKeyMismatch) {
		keyAt := cfg.IDKeyFile
		if keyAt == "" {
			keyAt = "MRHUB_ID_KEY"
		}
		return fmt.Errorf("%w\n\nThe demo keeps its key in %s and its data in the database %s. Run the demo from the\n"+
			"directory whose data dir holds the original key, or start over with a new database: set DATABASE_URL\n"+
			"to another database name, or drop this one (dropdb -h 127.0.0.1 -U postgres %s)",
			err, keyAt, db.Redact(cfg.DatabaseURL), demoDBName(cfg.DatabaseURL))
	}
	if err != nil {
		return explainDB(err)
	}
	defer h.Close()
	tokens, err := demoTokens(ctx, h)
	if err != nil {
		return err
	}

	// The simulated hospitals, created before the API so that the EHR page (/ehr/) can offer their most
	// frequent patients; they start publishing once the hub serves.
	var g *sim.Generator
	var ehrPatients []cdshooks.EHRPatient
	if rate > 0 {
		sc := sim.DefaultConfig()
		sc.Seed = time.Now().UnixNano()
		sc.Start = time.Now().Add(-14 * 24 * time.Hour)
		sc.MeanGap = 30 * time.Second
		sc.Decisions, sc.TargetRate = decisions, target
		// The simulated clock catches up from two weeks ago, then follows real time: no report
		// and no decision is ever dated in the future (the hub refuses decided_at > now + 5 min).
		sc.Now = time.Now
		if g, err = sim.New(sc, region); err != nil {
			return err
		}
		for _, p := range g.FrequentPatients(12) {
			ehrPatients = append(ehrPatients, cdshooks.EHRPatient{Name: p.Name, ResidentID: p.ResidentID})
		}
	}
	api, closeAPI, err := apiHandlers(h, ehrPatients...)
	if err != nil {
		return err
	}
	defer closeAPI()
	serveErr := make(chan error, 1)
	go func() { serveErr <- h.Serve(ctx, api) }()
	healthz, client := "http://"+cfg.HTTPAddr+"/healthz", http.DefaultClient
	if cfg.HTTPTLSCertFile != "" {
		// Only asks our own process whether it listens: no data is exchanged, so the
		// certificate (possibly issued for a public name) is not checked here.
		healthz = "https://" + cfg.HTTPAddr + "/healthz"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	}
	if err := waitHealthyURL(ctx, client, healthz, serveErr); err != nil {
		return err
	}
	printDemoBanner(cfg, b.Addrs()[0], tokens, region)

	if g != nil {
		w := bus.NewWriter(cfg.KafkaBrokers, "", h.Kafka) // no fixed topic: each message names its own
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

// ensureRandomHexFile creates path (mode 0600, its directory 0700) holding n random bytes in hex,
// unless it exists: the demo's identity key and Kafka password, kept with its data.
func ensureRandomHexFile(path string, n int) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600)
}

func printDemoBanner(cfg config.Config, kafkaAddr string, tokens map[string]string, region *catalog.Region) {
	base := "http://" + cfg.HTTPAddr
	if cfg.HTTPTLSCertFile != "" {
		base = "https://" + cfg.HTTPAddr
	}
	kcat := kcatSecurityArgs(cfg)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n=== mrhub demo (%s) ===\n", region.Name)
	fmt.Fprintf(&sb, "Dashboard:      %s/   (log in with the bureau token)\n", base)
	fmt.Fprintf(&sb, "EHR (ordering): %s/ehr/   (CDS Hooks %s/cds-services; log in with the his or clinician token)\n", base, base)
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
	if t, ok := tokens["bureau"]; ok {
		today := time.Now().Format("2006-01-02")
		fmt.Fprintf(&sb, "  curl -s -H 'Authorization: Bearer %s' '%s/api/v1/stats/recognition?from=%s&to=%s&by=institution'   # recognition rate\n",
			t, base, time.Now().AddDate(0, 0, -14).Format("2006-01-02"), today)
	}
	fmt.Fprintf(&sb, "  kcat -C -b %s%s -t %s -o -5 -e -q          # the published index\n", kafkaAddr, kcat, config.TopicIndex)
	fmt.Fprintf(&sb, "  kcat -C -b %s%s -t %s -e -f '%%h\\n'        # dead letters with their reasons\n", kafkaAddr, kcat, config.TopicDLQ)
	fmt.Fprintf(&sb, "  kcat -C -b %s%s -t %s -o -5 -e -f '%%k %%s\\n'  # simulated decisions\n", kafkaAddr, kcat, config.TopicDecisions)
	// docs/examples/lab-collection-bundle.json is a report of 清溪区第二人民医院 (QX002).
	if lab, ok := institutionByRegionCode(region, "QX002"); ok {
		fmt.Fprintf(&sb, "  ./bin/mrhub publish --brokers %s%s --source %s docs/examples/lab-collection-bundle.json\n", kafkaAddr, publishSecurityFlags(cfg), lab)
	}
	fmt.Fprintf(&sb, "\nCtrl-C stops everything; running `make demo` again resumes with the data kept.\n\n")
	fmt.Print(sb.String())
}

// institutionByRegionCode returns the code of the institution with the region code rc.
func institutionByRegionCode(r *catalog.Region, rc string) (string, bool) {
	for _, in := range r.Institutions {
		if in.RegionCode == rc {
			return in.Code, true
		}
	}
	return "", false
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
	var decisions, target float64
	cfg, _, err := loadConfig("simulate", args, func(fs *flag.FlagSet) {
		fs.Float64Var(&rate, "rate", 50, "messages per second (0 = as fast as possible)")
		fs.IntVar(&total, "total", 0, "stop after this many messages (0 = no limit)")
		fs.DurationVar(&dur, "duration", 0, "stop after this long (0 = until Ctrl-C)")
		fs.Int64Var(&seed, "seed", 1, "random seed (same seed, same stream)")
		decisionFlags(fs, &decisions, &target)
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
	sc.Decisions, sc.TargetRate = decisions, target
	// Nothing is dated after real time (the simulated clock starts on 2026-01-05 and, at a
	// report a simulated minute, only catches up with real time after months of reports).
	sc.Now = time.Now
	g, err := sim.New(sc, region)
	if err != nil {
		return err
	}
	sec, err := kafkaClient(ctx, cfg)
	if err != nil {
		return err
	}
	w := bus.NewWriter(cfg.KafkaBrokers, "", sec) // no fixed topic: each message names its own
	defer w.Close()
	st, err := sim.Run(ctx, g, w, sim.RunOptions{Rate: rate, Total: total, Duration: dur, Progress: os.Stderr})
	if st != nil {
		fmt.Printf("simulated %d messages in %v: %v\n", st.Sent, st.Elapsed.Round(time.Millisecond), st.ByKind)
	}
	return err
}

// decisionFlags registers the simulator's decision flags.
func decisionFlags(fs *flag.FlagSet, decisions, target *float64) {
	fs.Float64Var(decisions, "decisions", 0.1, "share of messages that are clinician decisions on recognisable prior results, published on "+config.TopicDecisions+" (0 = reports only)")
	fs.Float64Var(target, "target-rate", 0.80, "recognition rate the simulated decisions aim at: recognised ÷ (recognised + declined with a counting reason)")
}

// waitHealthyURL waits until the hub answers /healthz (or stops trying), so the banner's URLs work
// when it is printed.
func waitHealthyURL(ctx context.Context, client *http.Client, url string, serveErr chan error) error {
	addr := url
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
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

// demoDBName is the database name of dsn, for the hint on a key mismatch.
func demoDBName(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && len(u.Path) > 1 {
		return u.Path[1:]
	}
	return "mrhub"
}
