package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/seeds"
)

func runServe(ctx context.Context, args []string) error {
	cfg, _, err := loadConfig("serve", args, nil)
	if err != nil {
		return err
	}
	tuneGC()
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck
	h, err := hub.Open(ctx, cfg, log)
	if err != nil {
		return explainDB(err)
	}
	defer h.Close()
	api, closeAPI, err := apiHandlers(h)
	if err != nil {
		return err
	}
	defer closeAPI()
	return h.Serve(ctx, api)
}

func runMigrate(ctx context.Context, args []string) error {
	cfg, _, err := loadConfig("migrate", args, nil)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	pool, err := hub.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return explainDB(err)
	}
	pool.Close()
	fmt.Println("database is migrated:", db.Redact(cfg.DatabaseURL))
	return nil
}

func runSeed(ctx context.Context, args []string) error {
	var file string
	cfg, _, err := loadConfig("seed", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "file", "", "region JSON to load instead of the built-in synthetic region (seeds/region.json format)")
	})
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	pool, err := hub.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return explainDB(err)
	}
	defer pool.Close()
	r, err := loadRegion(file)
	if err != nil {
		return err
	}
	if err := catalog.Upsert(ctx, pool, r); err != nil {
		return fmt.Errorf("loading region: %w", err)
	}
	fmt.Printf("region %s loaded: %d institutions in %d medical communities, %d items, %d code maps, %d qualifications, %d decline reasons\n",
		r.Name, len(r.Institutions), len(r.Communities), len(r.Items), len(r.CodeMaps), len(r.Qualifications), len(r.Reasons))
	return nil
}

func loadRegion(file string) (*catalog.Region, error) {
	if file == "" {
		return seeds.Region()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var r catalog.Region
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", file, err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &r, nil
}

func runBroker(ctx context.Context, args []string) error {
	var port, partitions int
	var dataDir, certFile, keyFile, clientCAFile string
	fs := flag.NewFlagSet("mrhub broker", flag.ContinueOnError)
	fs.StringVar(&certFile, "tls-cert-file", os.Getenv("MRHUB_BROKER_TLS_CERT_FILE"), "PEM certificate: the broker listens with TLS (env MRHUB_BROKER_TLS_CERT_FILE)")
	fs.StringVar(&keyFile, "tls-key-file", os.Getenv("MRHUB_BROKER_TLS_KEY_FILE"), "PEM key of --tls-cert-file (env MRHUB_BROKER_TLS_KEY_FILE)")
	fs.StringVar(&clientCAFile, "tls-client-ca-file", os.Getenv("MRHUB_BROKER_TLS_CLIENT_CA_FILE"), "require client certificates signed by this CA (env MRHUB_BROKER_TLS_CLIENT_CA_FILE)")
	fs.IntVar(&port, "port", envInt("MRHUB_KAFKA_PORT", 9092), "TCP port on 127.0.0.1 (env MRHUB_KAFKA_PORT)")
	fs.StringVar(&dataDir, "data-dir", "./data/kafka", "directory persisting the log and committed offsets")
	fs.IntVar(&partitions, "partitions", envInt("MRHUB_PARTITIONS", 6), "partitions of the hub's topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return argCountError(fs, 0)
	}
	log, err := newLogger(configForLogs())
	if err != nil {
		return err
	}
	o := broker.Options{Port: port, DataDir: dataDir, Topics: broker.HubTopics(int32(partitions)), MaxMessageBytes: 8 << 20, Logger: log}
	// SASL: the broker accepts the user the hub is configured with (MRHUB_KAFKA_SASL_*).
	if o.SASLUsers, err = brokerSASLUsers(config.FromEnv()); err != nil {
		return err
	}
	if certFile != "" || keyFile != "" {
		if o.TLS, err = broker.ServerTLS(certFile, keyFile, clientCAFile); err != nil {
			return err
		}
	} else if clientCAFile != "" {
		return errors.New("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
	}
	b, err := broker.Start(o)
	if err != nil {
		return err
	}
	var users []string
	for _, u := range o.SASLUsers {
		users = append(users, u.Mechanism+":"+u.Username)
	}
	log.Info("embedded broker running (Ctrl-C stops it)", zap.Strings("addrs", b.Addrs()), zap.String("data_dir", dataDir),
		zap.Bool("tls", o.TLS != nil), zap.Strings("sasl_users", users))
	<-ctx.Done()
	b.Close()
	log.Info("broker stopped; log and offsets kept", zap.String("data_dir", dataDir))
	return nil
}

// explainDB adds how to start PostgreSQL to a connection failure.
func explainDB(err error) error {
	if errors.Is(err, db.ErrUnreachable) {
		return fmt.Errorf("%w\n\nStart PostgreSQL (Debian: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,\n"+
			"or install it: `apt-get install postgresql`), or point DATABASE_URL at a running server", err)
	}
	return err
}
