// Command mrhub is the exam-result mutual-recognition hub. docs/reference.md describes every
// subcommand, flag and environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"check":    {"say what the hub would do with FHIR JSON/NDJSON files, without publishing them", runCheck},
	"simulate": {"publish a synthetic workload of the seeded region", runSimulate},
	"reindex":  {"rebuild the index from mrhub.reports.v1 (from an offset or time), optionally republish mrhub.index.v1", runReindex},
	"rehash":   {"recompute the stored reports' content hashes under the current content rule (after an upgrade that changed it)", runRehash},
	"refile":   {"re-file MRNs stored under the performer under the institution that issued them (after an upgrade)", runRefile},
	"review":   {"identity review queue: `review list`, `review accept ID`, `review reject ID`", runReview},
	"bench":    {"benchmarks: `bench ingest`, `bench query`, `bench stats`, `bench hooks`", runBench},
	"token":    {"API tokens: `token create --role his|clinician|bureau|admin --org CODE`, `token list`, `token revoke --id N`", runToken},
	"version":  {"print the build: module version, commit, commit time, Go version", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit status: 0 on success and for help (`mrhub
// help`, `-h`), 2 for a command line naming no command, 1 (or the command's own status) when
// the command fails. Every command parses its flags and checks its arguments before it opens a
// database, a broker or a file, so asking for help has no side effects.
func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	if isHelp(args[0]) {
		return runHelp(ctx, args[1:])
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mrhub: unknown command %q\n\n", args[0])
		usage(os.Stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "mrhub %s: %v\n", args[0], err)
		var ec exitCoder
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

type exitCoder interface{ ExitCode() int }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mrhub <command> [flags]\n\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-9s %s\n", "help", "this list, or a command's flags: `mrhub help [command [subcommand]]`")
	fmt.Fprintln(w, "\n`mrhub help <command>` or `mrhub <command> -h` lists a command's flags; environment variables are in docs/reference.md.")
}

// loadConfig parses the common flags over the environment and validates. The command takes no
// arguments besides flags.
func loadConfig(name string, args []string, extra func(fs *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	return loadConfigArgs(name, args, 0, extra)
}

// loadConfigArgs is loadConfig for a command that takes nargs arguments after its flags.
func loadConfigArgs(name string, args []string, nargs int, extra func(fs *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	cfg := config.FromEnv()
	fs := flag.NewFlagSet("mrhub "+name, flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, fs, err
	}
	if fs.NArg() != nargs {
		return cfg, fs, argCountError(fs, nargs)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fs, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, fs, nil
}

// argCountError says that fs's command line has other than nargs arguments after the flags.
func argCountError(fs *flag.FlagSet, nargs int) error {
	if nargs == 0 {
		return fmt.Errorf("unexpected arguments %q (this command takes flags only; -h lists them)", fs.Args())
	}
	return fmt.Errorf("want %d argument(s) after the flags, got %d: %q", nargs, fs.NArg(), fs.Args())
}

func newLogger(cfg config.Config) (*zap.Logger, error) {
	return telemetry.NewLogger(cfg.LogLevel, cfg.LogFormat)
}
