package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tripwire listens on a local port and counts the connections made to it.
type tripwire struct {
	ln    net.Listener
	conns atomic.Int64
}

func newTripwire(t *testing.T) *tripwire {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tw := &tripwire{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tw.conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tw
}

func (tw *tripwire) addr() string { return tw.ln.Addr().String() }

// runCaptured runs a command line in this process with stdout and stderr sent to a file, and
// returns its exit status and output.
func runCaptured(t *testing.T, args ...string) (int, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = f, f
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	code := run(ctx, args)
	cancel()
	os.Stdout, os.Stderr = stdout, stderr
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

// helpEnv points every address the commands know at tripwires and every path into an empty
// working directory, and returns the tripwires and that directory.
func helpEnv(t *testing.T) (db, replica, kafka *tripwire, dir string) {
	db, replica, kafka = newTripwire(t), newTripwire(t), newTripwire(t)
	dir = t.TempDir()
	t.Chdir(dir)
	t.Setenv("DATABASE_URL", "postgres://postgres@"+db.addr()+"/mrhub_help?sslmode=disable&connect_timeout=2")
	t.Setenv("MRHUB_DATABASE_REPLICA_URLS", "postgres://postgres@"+replica.addr()+"/mrhub_help?sslmode=disable&connect_timeout=2")
	t.Setenv("MRHUB_KAFKA_BROKERS", kafka.addr())
	_, port, _ := net.SplitHostPort(kafka.addr()) // taken: a broker started by mistake fails to listen
	t.Setenv("MRHUB_KAFKA_PORT", port)
	t.Setenv("MRHUB_DATA_DIR", filepath.Join(dir, "data"))
	t.Setenv("MRHUB_ID_KEY_FILE", filepath.Join(dir, "id.key"))
	t.Setenv("MRHUB_ID_KEY", "")
	t.Setenv("MRHUB_LOG_LEVEL", "error")
	return db, replica, kafka, dir
}

// helpLines are the command lines that ask for help: `mrhub help`, and for every command and
// subcommand `-h`, `--help` and `mrhub help …`.
func helpLines() [][]string {
	lines := [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "-h"}}
	for name := range commands {
		lines = append(lines, []string{name, "-h"}, []string{name, "--help"}, []string{"help", name})
		for _, sub := range subcommands[name] {
			lines = append(lines, []string{name, sub, "-h"}, []string{name, sub, "--help"}, []string{"help", name, sub})
		}
	}
	return lines
}

// TestHelpHasNoSideEffects: asking any command for help exits 0, prints its usage, and connects
// to no database, replica or broker and creates no file; so do command lines whose flags or
// arguments are wrong, which exit non-zero. A command that does need the database (the
// control) is seen connecting, so the check can fail.
func TestHelpHasNoSideEffects(t *testing.T) {
	db, replica, kafka, dir := helpEnv(t)
	touched := func(line []string) {
		t.Helper()
		if n := db.conns.Load() + replica.conns.Load() + kafka.conns.Load(); n > 0 {
			t.Fatalf("`mrhub %s` connected %d time(s) to the database, replica or broker", strings.Join(line, " "), n)
		}
		if es, _ := os.ReadDir(dir); len(es) > 0 {
			t.Fatalf("`mrhub %s` created %s in the working directory", strings.Join(line, " "), es[0].Name())
		}
	}
	for _, line := range helpLines() {
		code, out := runCaptured(t, line...)
		if code != 0 {
			t.Errorf("`mrhub %s` exited %d, want 0:\n%s", strings.Join(line, " "), code, out)
		}
		name := line[0]
		if name == "help" && len(line) > 1 {
			name = line[1]
		}
		if !strings.Contains(strings.ToLower(out), "usage") || (!isHelp(name) && !strings.Contains(out, name)) {
			t.Errorf("`mrhub %s` printed no usage naming %s:\n%s", strings.Join(line, " "), name, out)
		}
		touched(line)
	}
	for _, line := range [][]string{
		{"serve", "extra"}, {"migrate", "extra"}, {"seed", "extra"}, {"demo", "extra"}, {"simulate", "extra"},
		{"reindex", "extra"}, {"rehash", "extra"}, {"broker", "extra"}, {"publish"}, {"publish", "--source", "X"},
		{"review"}, {"review", "nosuch"}, {"review", "list", "extra"}, {"review", "accept"}, {"review", "accept", "x"},
		{"review", "reject", "1", "2"}, {"review", "list", "--status", "maybe"},
		{"token"}, {"token", "nosuch"}, {"token", "create"}, {"token", "create", "--role", "nurse", "--org", "X"},
		{"token", "create", "--role", "admin"}, {"token", "revoke"}, {"token", "list", "extra"},
		{"bench"}, {"bench", "nosuch"}, {"bench", "query", "extra"}, {"bench", "stats", "extra"},
		{"bench", "query", "-search-pct", "101"}, {"version", "extra"}, {"nosuch"}, {"help", "nosuch"}, {"serve", "-nosuch"},
	} {
		if code, out := runCaptured(t, line...); code == 0 {
			t.Errorf("`mrhub %s` exited 0, want an error:\n%s", strings.Join(line, " "), out)
		}
		touched(line)
	}
	// Controls: the tripwires see a command that opens the database.
	for _, line := range [][]string{{"migrate"}, {"token", "list"}} {
		before := db.conns.Load()
		if code, out := runCaptured(t, line...); code == 0 {
			t.Errorf("`mrhub %s` against a port that is not PostgreSQL exited 0:\n%s", strings.Join(line, " "), out)
		}
		if db.conns.Load() == before {
			t.Errorf("`mrhub %s` made no connection to the database tripwire: the check above proves nothing", strings.Join(line, " "))
		}
	}
}

func TestVersion(t *testing.T) {
	code, out := runCaptured(t, "version")
	if code != 0 || !strings.HasPrefix(out, "mrhub ") || !strings.Contains(out, "\ncommit ") || !strings.Contains(out, "\ngo ") {
		t.Fatalf("`mrhub version` exited %d:\n%s", code, out)
	}
}
