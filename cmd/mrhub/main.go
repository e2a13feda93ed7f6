// Command mrhub is the exam-result mutual-recognition hub. docs/reference.md describes every
// subcommand, flag and environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"serve":    {"run the report consumers, the outbox relay and the HTTP server", runServe},
	"broker":   {"run the embedded Kafka-protocol broker (kfake) persisted to a data directory", runBroker},
	"migrate":  {"create the database if missing and apply migrations", runMigrate},
	"seed":     {"load the region's reference data (idempotent)", runSeed},
	"demo":     {"everything at once: broker, database, seeds, hub, simulated hospitals", runDemo},
	"publish":  {"publish FHIR JSON/NDJSON files as an institution", runPublish},
	"simulate": {"publish a synthetic workload of the seeded region", runSimulate},
	"reindex":  {"rebuild the index from mrhub.reports.v1 (from an offset or time), optionally republish mrhub.index.v1", runReindex},
	"rehash":   {"recompute the stored reports' content hashes under the current content rule (after an upgrade that changed it)", runRehash},
	"refile":   {"re-file MRNs stored under the performer under the institution that issued them (after an upgrade)", runRefile},
	"review":   {"identity review queue: `review list`, `review accept ID`, `review reject ID`", runReview},
	"bench":    {"benchmarks: `bench ingest`, `bench query`, `bench stats`", runBench},
	"token":    {"API tokens: `token create --role his|clinician|bureau|admin --org CODE`, `token list`, `token revoke --id N`", runToken},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mrhub: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "mrhub %s: %v\n", os.Args[1], err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

type exitCoder interface{ ExitCode() int }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mrhub <command> [flags]\n\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\n`mrhub <command> -h` lists a command's flags; environment variables are in docs/reference.md.")
}

// loadConfig parses the common flags over the environment and validates.
func loadConfig(name string, args []string, extra func(fs *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	cfg := config.FromEnv()
	fs := flag.NewFlagSet("mrhub "+name, flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, fs, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fs, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, fs, nil
}

func newLogger(cfg config.Config) (*zap.Logger, error) {
	return telemetry.NewLogger(cfg.LogLevel, cfg.LogFormat)
}
