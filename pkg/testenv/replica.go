package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replica is a PostgreSQL streaming replica of the test server, started for one test: a second
// cluster on a free 127.0.0.1 port, copied with pg_basebackup -R from the test server (so it
// replicates every database of that server) and run by the postgres user when the test runs as
// root (PostgreSQL refuses to run as root). Stop and Start take it down and up again; the
// cluster directory and process are removed when the test ends.
type Replica struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cred *syscall.Credential

	slot string // the primary's physical replication slot for this replica

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// StartReplica starts a streaming replica of ServerURL's server. When the server does not allow
// replication connections (pg_hba.conf, wal_level, max_wal_senders) or the PostgreSQL programs
// are not installed, the test is skipped with the reason, unless MRHUB_REQUIRE_PG=1 (.ci/run
// configures the local server), in which case it fails.
func StartReplica(t testing.TB) *Replica {
	t.Helper()
	unavailable := func(format string, a ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, a...)
		if os.Getenv("MRHUB_REQUIRE_PG") == "1" {
			t.Fatalf("streaming replica required (MRHUB_REQUIRE_PG=1) but: %s", msg)
		}
		t.Skipf("skipping: cannot start a streaming replica: %s", msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		unavailable("PostgreSQL not reachable (%v)", err)
	}
	var version, walLevel string
	var senders int
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version_num'), current_setting('wal_level'), current_setting('max_wal_senders')::int`).
		Scan(&version, &walLevel, &senders)
	conn.Close(context.Background())
	if err != nil {
		unavailable("reading the server's settings: %v", err)
	}
	if walLevel == "minimal" || senders == 0 {
		unavailable("the server has wal_level=%s and max_wal_senders=%d (want replica and > 0)", walLevel, senders)
	}
	major, _ := strconv.Atoi(version)
	bin := fmt.Sprintf("/usr/lib/postgresql/%d/bin", major/10000)
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		unavailable("%s/postgres not found (PostgreSQL %d server programs)", bin, major/10000)
	}
	r := &Replica{t: t, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root and there is no postgres user to run the replica")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parents are private to the test's user, and the postgres user must
	// reach the directory.
	dir, err := os.MkdirTemp("", "mrhub-replica-")
	if err != nil {
		t.Fatal(err)
	}
	r.dir = dir
	t.Cleanup(r.cleanup)
	if r.cred != nil {
		if err := os.Chown(dir, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	su, _ := url.Parse(ServerURL())
	host, port := su.Hostname(), su.Port()
	if port == "" {
		port = "5432"
	}
	userName := su.User.Username()
	if userName == "" {
		userName = "postgres"
	}
	// A replication slot keeps the primary's WAL from the backup on until the standby has
	// streamed it (on a busy server the segments after the backup can be recycled before the
	// standby connects). It is dropped when the test ends; slots left by test processes that
	// no longer run are dropped here.
	// (r.cleanup, registered above, drops it after stopping the replica.)
	dropStaleSlots(t)
	r.slot = fmt.Sprintf("%s%d_%d", slotPrefix, os.Getpid(), slotSeq.Add(1))
	out, err := r.run(exec.Command(filepath.Join(bin, "pg_basebackup"), "-d", fmt.Sprintf("host=%s port=%s user=%s sslmode=disable", host, port, userName),
		"-D", filepath.Join(dir, "data"), "-R", "-X", "stream", "-C", "-S", r.slot, "-c", "fast", "--no-password"))
	if err != nil {
		unavailable("pg_basebackup from %s:%s failed (does pg_hba.conf allow `host replication` from 127.0.0.1?): %v\n%s", host, port, err, out)
	}
	// Debian keeps postgresql.conf and pg_hba.conf outside the data directory: write the
	// standby's own.
	data := filepath.Join(dir, "data")
	for name, body := range map[string]string{
		"postgresql.conf": "hot_standby = on\nshared_buffers = 32MB\nlogging_collector = off\nhot_standby_feedback = on\n",
		"pg_hba.conf":     "local all all trust\nhost all all 127.0.0.1/32 trust\n",
		"pg_ident.conf":   "",
	} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if r.cred != nil {
			_ = os.Chown(filepath.Join(data, name), int(r.cred.Uid), int(r.cred.Gid))
		}
	}
	r.port = freePort(t)
	r.Start()
	return r
}

// URL is the connection URL of database name on the replica.
func (r *Replica) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", r.port, database)
}

// Start starts the replica's server and waits until it accepts connections in recovery.
func (r *Replica) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(r.bin, "postgres"), "-D", filepath.Join(r.dir, "data"), "-p", strconv.Itoa(r.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+r.dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		r.t.Fatalf("starting the replica: %v", err)
	}
	logf.Close()
	r.cmd = cmd
	exited := make(chan struct{})
	r.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, r.URL("postgres"))
		if err == nil {
			var rec bool
			err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&rec)
			conn.Close(context.Background())
			cancel()
			if err == nil && rec {
				return
			}
		} else {
			cancel()
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(r.dir, "postgres.log"))
			r.cmd = nil
			r.t.Fatalf("the replica exited at start:\n%s", tail(string(b), 2000))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "postgres.log"))
			r.t.Fatalf("the replica did not accept connections within 60 s:\n%s", tail(string(b), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the replica's server down (fast: open connections are terminated) and waits for it
// to exit.
func (r *Replica) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
}

func (r *Replica) stopLocked() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL) // the postmaster's process group
		<-r.exited
	}
	r.cmd = nil
}

func (r *Replica) cleanup() {
	r.mu.Lock()
	r.stopLocked()
	r.mu.Unlock()
	if r.slot != "" {
		dropSlot(r.t, r.slot)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		r.t.Logf("removing the replica's directory: %v", err)
	}
}

// run runs cmd as the replica's user and returns its combined output.
func (r *Replica) run(cmd *exec.Cmd) (string, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const slotPrefix = "mrhub_test_replica_"

var slotSeq atomic.Int64

// dropSlot drops the primary's replication slot name (waiting for the replica's connection to
// end: the replica has been stopped by then).
func dropSlot(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Logf("dropping replication slot %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	for ctx.Err() == nil {
		_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, name)
		if err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond) // still active for a moment after the standby stops
	}
	t.Logf("dropping replication slot %s: %v", name, err)
}

// dropStaleSlots drops inactive slots of this helper whose test process has exited (killed
// tests), so that they do not hold WAL on the server.
func dropStaleSlots(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT slot_name FROM pg_replication_slots WHERE NOT active AND slot_name LIKE $1`, slotPrefix+"%")
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		pid, _, _ := strings.Cut(strings.TrimPrefix(n, slotPrefix), "_")
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue // its test is still running
		}
		if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, n); err == nil {
			t.Logf("dropped the stale replication slot %s", n)
		}
	}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
