package main

import (
	"context"
	"crypto/hmac"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/publish"
	"github.com/mrhub/mrhub/pkg/verdict"
)

// runCheck is `mrhub check`: the verdict of ingest on files, without publishing them. It reads
// the database (catalogue, stored versions) in read-only transactions and writes nothing.
func runCheck(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := flag.NewFlagSet("mrhub check", flag.ContinueOnError)
	source := fs.String("source", os.Getenv("MRHUB_SOURCE"), "publishing institution code (header mrhub-source; env MRHUB_SOURCE)")
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: mrhub check --source CODE FILE|DIR ...\n\nSays what the hub would do with FHIR JSON files and NDJSON lines (Bundle or DiagnosticReport)\n"+
			"published by CODE, as POST /fhir/$validate does: one line per message, then a summary.\n"+
			"Exit status 0 when every message would be indexed, 3 when one would be dead-lettered.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *source == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("--source and at least one FILE or DIR are required")
	}
	for _, p := range fs.Args() {
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	key, err := cfg.IDKey()
	if err != nil {
		return err
	}
	hasher, err := identity.NewHasher(key)
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, readOnly(cfg.DatabaseURL), 2)
	if err != nil {
		return explainDB(err)
	}
	defer pool.Close()
	var stored []byte
	if err := pool.QueryRow(ctx, `SELECT fingerprint FROM identity_key`).Scan(&stored); err == nil && !hmac.Equal(stored, hasher.Fingerprint()) {
		return fmt.Errorf("%w: the database's reports were hashed with another MRHUB_ID_KEY; run check with the hub's key", identity.ErrKeyMismatch)
	}
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		return fmt.Errorf("loading the region catalogue: %w", err)
	}
	p := &profile.Profiler{Catalog: cat, Hasher: hasher, Location: cfg.Location()}
	c := &verdict.Checker{Profile: p.Func(), MaxBytes: cfg.MaxMessageBytes, Catalog: cat, DB: pool, Decoder: fhir.NewDecoder(cfg.Location())}
	sum, err := publish.Check(ctx, c, fs.Args(), *source, os.Stdout)
	if err != nil {
		return err
	}
	if sum.Refused > 0 {
		return exitError(3)
	}
	return nil
}

// readOnly makes every transaction of a connection string read-only.
func readOnly(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " default_transaction_read_only=on"
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // db.Open reports it
	}
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	return u.String()
}
