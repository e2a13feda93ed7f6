package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/seeds"
)

// ServerURL is the PostgreSQL server tests create their databases on.
func ServerURL() string {
	if v := os.Getenv("MRHUB_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// DatabaseURL returns a URL for a new, uniquely named database on the test server (not created).
func DatabaseURL(prefix string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		panic(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	u.Path = "/" + prefix + "_" + hex.EncodeToString(b[:])
	return u.String()
}

// DB creates, migrates and seeds a fresh database for t and drops it when t ends.
func DB(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	dsn, pool := EmptyDB(t)
	r, err := seeds.Region()
	if err != nil {
		t.Fatalf("loading seeds: %v", err)
	}
	if err := catalog.Upsert(context.Background(), pool, r); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	return dsn, pool
}

// EmptyDB creates and migrates a fresh database without reference data.
func EmptyDB(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dsn := DatabaseURL("mrhub_test")
	if err := db.EnsureDatabase(ctx, dsn); err != nil {
		if os.Getenv("MRHUB_REQUIRE_PG") == "1" {
			t.Fatalf("PostgreSQL required (MRHUB_REQUIRE_PG=1) but: %v", err)
		}
		t.Skipf("skipping: PostgreSQL not reachable (%v); start it or set MRHUB_TEST_DATABASE_URL", err)
	}
	pool, err := db.Open(ctx, dsn, 8)
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.DropDatabase(cctx, dsn); err != nil {
			t.Logf("dropping test database: %v", err)
		}
	})
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrating test database: %v", err)
	}
	return dsn, pool
}

// Broker starts an embedded broker with the hub's topics on a free port and a temporary data
// directory, closed when t ends.
func Broker(t testing.TB, partitions int32) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{DataDir: t.TempDir(), Topics: broker.HubTopics(partitions), MaxMessageBytes: 8 << 20})
	if err != nil {
		t.Fatalf("starting embedded broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// Key returns a random identity key in hex.
func Key() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Config returns a hub configuration for the test database and broker, with an identity key
// of its own for that database.
func Config(dsn string, brokers []string) config.Config {
	c := config.Default()
	c.DatabaseURL = dsn
	c.KafkaBrokers = brokers
	// One key per database, the same on every call: a hub refuses a database whose identities
	// were hashed with another key (identity.CheckKey), and tests restart hubs on theirs.
	sum := sha256.Sum256([]byte("mrhub test identity key|" + dsn))
	c.IDKeyHex = hex.EncodeToString(sum[:])
	c.HTTPAddr = "127.0.0.1:0"
	c.BatchWait = 50 * time.Millisecond
	c.GroupID = "mrhub-test"
	return c
}

// SharedDir returns ../shared relative to the module root, or "" when it is absent.
func SharedDir() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for i := 0; i < 6; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "..", "shared")
			if _, err := os.Stat(s); err == nil {
				return s
			}
			return ""
		}
		dir = filepath.Dir(dir)
	}
	return ""
}

// MustShared returns SharedDir or skips t with a message saying what was skipped.
func MustShared(t testing.TB, what string) string {
	t.Helper()
	d := SharedDir()
	if d == "" {
		t.Skipf("skipping %s: ../shared (FHIR examples and schema) is not beside this checkout", what)
	}
	return d
}
