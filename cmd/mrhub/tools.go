package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/bench"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/publish"
	"github.com/mrhub/mrhub/pkg/stats"
)

func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: mrhub bench ingest|query|stats|hooks [flags]")
	}
	tuneGC() // as serve runs
	log, err := newLogger(configForLogs())
	if err != nil {
		return err
	}
	switch args[0] {
	case "ingest":
		return bench.Ingest(ctx, args[1:], os.Stdout, log.Named("bench"))
	case "query":
		return httpapi.BenchCommand(ctx, args[1:], os.Stdout)
	case "stats":
		return stats.BenchCommand(ctx, args[1:], os.Stdout)
	case "hooks":
		return bench.Hooks(ctx, args[1:], os.Stdout)
	default:
		return fmt.Errorf("unknown benchmark %q (have: ingest, query, stats, hooks)", args[0])
	}
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

func runPublish(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := flag.NewFlagSet("mrhub publish", flag.ContinueOnError)
	source := fs.String("source", os.Getenv("MRHUB_SOURCE"), "publishing institution code (header mrhub-source; env MRHUB_SOURCE)")
	topic := fs.String("topic", config.TopicReports, "topic to publish to")
	maxBytes := fs.Int("max-bytes", 1<<20, "refuse documents larger than this locally")
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: mrhub publish --source CODE FILE|DIR ...\n\nPublishes FHIR JSON files and NDJSON lines (Bundle or DiagnosticReport) to Kafka.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *source == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("--source and at least one FILE or DIR are required")
	}
	opts := publish.Options{Source: *source, MaxBytes: *maxBytes, Progress: os.Stderr}
	items, err := publish.Collect(fs.Args(), opts)
	if err != nil {
		return err
	}
	sec, err := kafkaClient(ctx, cfg)
	if err != nil {
		return err
	}
	w := bus.NewWriter(cfg.KafkaBrokers, *topic, sec)
	defer w.Close()
	sum, err := publish.Send(ctx, w, items, opts)
	if sum != nil {
		sum.Print(os.Stdout)
	}
	if err != nil {
		return err
	}
	if sum.Refused > 0 {
		return exitError(3)
	}
	return nil
}

func runToken(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	log, err := newLogger(configForLogs())
	if err != nil {
		return err
	}
	pool, err := hub.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return explainDB(err)
	}
	defer pool.Close()
	return auth.Command(ctx, pool, args, os.Stdout)
}
