package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/bench"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/publish"
)

func runBench(ctx context.Context, args []string) error {
	if err := groupUsage("bench", args); err != nil {
		return err
	}
	tuneGC() // as serve runs
	switch args[0] {
	case "ingest":
		log, err := newLogger(configForLogs())
		if err != nil {
			return err
		}
		return bench.Ingest(ctx, args[1:], os.Stdout, log.Named("bench"))
	case "query":
		return bench.QueryCommand(ctx, args[1:], os.Stdout)
	default: // "stats"
		return bench.StatsCommand(ctx, args[1:], os.Stdout)
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
	opts := publish.Options{Source: *source, MaxBytes: *maxBytes, Progress: os.Stderr, Decoder: fhir.NewDecoder(cfg.Location())}
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
	if err := groupUsage("token", args); err != nil {
		return err
	}
	pool := &lazyPool{open: func(ctx context.Context) (*pgxpool.Pool, error) {
		log, err := newLogger(configForLogs())
		if err != nil {
			return nil, err
		}
		pool, err := hub.OpenDatabase(ctx, config.FromEnv(), log)
		return pool, explainDB(err)
	}}
	defer pool.Close()
	return auth.Command(ctx, pool, args, os.Stdout)
}

// lazyPool is an auth.DB that opens (creating and migrating) the database at its first query,
// so that the token commands parse their flags and check their arguments first: `mrhub token
// create -h` or a missing --role touches no database.
type lazyPool struct {
	open func(context.Context) (*pgxpool.Pool, error)
	pool *pgxpool.Pool
	err  error
}

func (l *lazyPool) get(ctx context.Context) (*pgxpool.Pool, error) {
	if l.pool == nil && l.err == nil {
		l.pool, l.err = l.open(ctx)
	}
	return l.pool, l.err
}

func (l *lazyPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p, err := l.get(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return p.Exec(ctx, sql, args...)
}

func (l *lazyPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return p.Query(ctx, sql, args...)
}

func (l *lazyPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	p, err := l.get(ctx)
	if err != nil {
		return errRow{err}
	}
	return p.QueryRow(ctx, sql, args...)
}

// Close closes the pool if it was opened.
func (l *lazyPool) Close() {
	if l.pool != nil {
		l.pool.Close()
	}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
