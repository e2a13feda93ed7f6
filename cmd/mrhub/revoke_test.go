package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestTokenRevokeStopsEveryHubProcessAtOnce runs two `mrhub serve` processes on one database
// and broker, each with its own token cache (5 s). A clinician token both have just accepted
// (and cached) is revoked with `mrhub token revoke`: both refuse it at once, within a second,
// long before their caches would expire.
func TestTokenRevokeStopsEveryHubProcessAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dsn, _ := testenv.DB(t)
	b := testenv.Broker(t, 1)
	cfg := testenv.Config(dsn, b.Addrs())
	bin := filepath.Join(t.TempDir(), "mrhub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building mrhub: %v\n%s", err, out)
	}
	env := func(httpAddr string) []string {
		return append(os.Environ(), "DATABASE_URL="+dsn, "MRHUB_KAFKA_BROKERS="+strings.Join(b.Addrs(), ","),
			"MRHUB_ID_KEY="+cfg.IDKeyHex, "MRHUB_ID_KEY_FILE=", "MRHUB_HTTP_ADDR="+httpAddr, "MRHUB_LOG_LEVEL=warn",
			"MRHUB_PARTITIONS=1", "MRHUB_CONSUMERS=1")
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env("127.0.0.1:0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mrhub %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var urls []string
	for i := 0; i < 2; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		cmd := exec.Command(bin, "serve")
		cmd.Env = env(addr)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("hub %s log:\n%s", addr, logs.String())
			}
		})
		urls = append(urls, "http://"+addr)
	}
	for _, u := range urls {
		testenv.WaitFor(t, 60*time.Second, u+" ready", func() bool {
			res, err := http.Get(u + "/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == 200
		})
	}

	out := strings.TrimSpace(run("token", "create", "--role", "clinician", "--org", "QX001"))
	lines := strings.Split(out, "\n")
	tok := lines[len(lines)-1]
	id := strings.TrimPrefix(strings.Fields(lines[0])[1], "id=")
	status := func(u string) int {
		req, _ := http.NewRequest("GET", u+"/fhir/Patient?_id=p1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, u := range urls {
		if st := status(u); st != 200 {
			t.Fatalf("%s refused a new token: %d", u, st)
		}
	}
	run("token", "revoke", "--id", id)
	start := time.Now()
	for _, u := range urls {
		for status(u) != 401 {
			if time.Since(start) > time.Second {
				t.Fatalf("%s still accepts the token %v after `mrhub token revoke` returned (token cache 5 s)", u, time.Since(start))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("both hub processes refuse the revoked token %v after the command returned", time.Since(start).Round(time.Microsecond))
}
