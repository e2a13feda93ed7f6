package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"go.uber.org/zap/zaptest"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/testenv"
)

const secretPassword = "correct horse battery staple"

// secureBroker starts an embedded broker (over TCP on a free port) with the given SASL users
// and TLS configuration.
func secureBroker(t *testing.T, users []broker.SASLUser, tc *tls.Config) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{DataDir: t.TempDir(), Topics: broker.HubTopics(2), MaxMessageBytes: 8 << 20,
		SASLUsers: users, TLS: tc})
	if err != nil {
		t.Fatalf("starting the broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func pki(t *testing.T) broker.TLSFiles {
	t.Helper()
	f, err := broker.WriteTestPKI(t.TempDir(), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func serverTLS(t *testing.T, f broker.TLSFiles, clientCA string) *tls.Config {
	t.Helper()
	tc, err := broker.ServerTLS(f.Cert, f.Key, clientCA)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ingestOverSecureKafka runs a hub with cfg against brokers, publishes one report with a writer
// using the same security, and waits for its index event on mrhub.index.v1.
func ingestOverSecureKafka(t *testing.T, cfg config.Config) *hub.Hub {
	t.Helper()
	h, err := hub.Open(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if h.Kafka == nil {
		t.Fatal("hub.Open built no Kafka security from the configuration")
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not stop within 30s")
		}
	})

	w := bus.NewWriter(cfg.KafkaBrokers, config.TopicReports, h.Kafka)
	defer w.Close()
	report := testenv.Report{Performer: testenv.HospitalA, ID: "SEC-1", NID: testenv.NID(41)}.JSON()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	err = w.WriteMessages(wctx, kafka.Message{Key: []byte(testenv.HospitalA + "|SEC-1"), Value: report,
		Headers: []protocol.Header{{Key: bus.HeaderSource, Value: []byte(testenv.HospitalA)}}})
	if err != nil {
		t.Fatalf("publishing over %s: %v", h.Kafka, err)
	}

	r, err := bus.NewReader(bus.ReaderConfig{Brokers: cfg.KafkaBrokers, GroupID: "verify-" + t.Name(), Topic: config.TopicIndex, Security: h.Kafka})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	m, err := r.FetchMessage(rctx)
	if err != nil {
		t.Fatalf("no index event over %s: %v", h.Kafka, err)
	}
	if len(m.Key) == 0 || len(m.Value) == 0 {
		t.Fatalf("index event without key or value: %+v", m)
	}
	return h
}

func TestKafkaSASLEndToEnd(t *testing.T) {
	for _, mech := range []string{config.SASLScramSHA256, config.SASLScramSHA512, config.SASLPlain} {
		t.Run(mech, func(t *testing.T) {
			b := secureBroker(t, []broker.SASLUser{{Mechanism: mech, Username: "hub", Password: secretPassword}}, nil)
			dsn, _ := testenv.DB(t)
			cfg := testenv.Config(dsn, b.Addrs())
			cfg.KafkaSASLMechanism, cfg.KafkaSASLUsername, cfg.KafkaSASLPassword = mech, "hub", config.Secret(secretPassword)
			ingestOverSecureKafka(t, cfg)

			// A client without credentials is refused, with a message that says what to set.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err := bus.Ping(ctx, b.Addrs(), nil)
			if err == nil || !strings.Contains(err.Error(), "MRHUB_KAFKA_SASL") {
				t.Fatalf("unauthenticated client: %v, want a refusal naming MRHUB_KAFKA_SASL_*", err)
			}
		})
	}
}

func TestKafkaWrongPasswordIsExplainedQuickly(t *testing.T) {
	b := secureBroker(t, []broker.SASLUser{{Mechanism: config.SASLScramSHA512, Username: "hub", Password: secretPassword}}, nil)
	dsn, _ := testenv.DB(t)
	cases := []struct{ name, mech, user, pass string }{
		{"wrong password", config.SASLScramSHA512, "hub", "wrong-" + secretPassword},
		{"unknown user", config.SASLScramSHA512, "nobody", secretPassword},
		{"wrong mechanism", config.SASLScramSHA256, "hub", secretPassword},
		{"wrong PLAIN password", config.SASLPlain, "hub", "wrong-" + secretPassword},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testenv.Config(dsn, b.Addrs())
			cfg.KafkaSASLMechanism, cfg.KafkaSASLUsername, cfg.KafkaSASLPassword = c.mech, c.user, config.Secret(c.pass)
			h, err := hub.Open(context.Background(), cfg, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err = h.Serve(ctx, nil) // EnsureTopics is the hub's first contact with Kafka
			took := time.Since(start)
			if err == nil {
				t.Fatal("the hub started with wrong Kafka credentials")
			}
			msg := err.Error()
			t.Logf("after %v: %s", took.Round(time.Millisecond), msg)
			if !strings.Contains(msg, "SASL") || !strings.Contains(msg, "MRHUB_KAFKA_SASL_USERNAME/PASSWORD") {
				t.Errorf("error does not explain the SASL failure: %s", msg)
			}
			if strings.Contains(msg, c.pass) {
				t.Errorf("error shows the password: %s", msg)
			}
			if took > 15*time.Second {
				t.Errorf("failing took %v, want a quick failure", took)
			}
		})
	}
}

func TestKafkaTLSAndHTTPS(t *testing.T) {
	f := pki(t)
	b := secureBroker(t, []broker.SASLUser{{Mechanism: config.SASLScramSHA512, Username: "hub", Password: secretPassword}}, serverTLS(t, f, ""))
	dsn, _ := testenv.DB(t)
	cfg := testenv.Config(dsn, b.Addrs())
	cfg.KafkaTLS, cfg.KafkaTLSCAFile = true, f.CA
	cfg.KafkaSASLMechanism, cfg.KafkaSASLUsername = config.SASLScramSHA512, "hub"
	pwFile := filepath.Join(t.TempDir(), "kafka.password")
	if err := os.WriteFile(pwFile, []byte(secretPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.KafkaSASLPasswordFile = pwFile
	cfg.HTTPAddr = freeAddr(t)
	cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile = f.Cert, f.Key
	h := ingestOverSecureKafka(t, cfg)
	if !h.Kafka.TLS() || !h.Kafka.SASL() {
		t.Fatalf("security = %s, want TLS and SASL", h.Kafka)
	}

	// HTTPS: /healthz answers to a client trusting the test CA, with TLS ≥ 1.2.
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://" + cfg.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatalf("GET https /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("https /healthz: status %d, tls %+v", resp.StatusCode, resp.TLS)
	}
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}} //nolint:gosec // checking the server refuses it
	if resp, err := old.Get("https://" + cfg.HTTPAddr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("the server accepted TLS 1.1")
	}
	if resp, err := http.Get("http://" + cfg.HTTPAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the HTTPS port")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("wrong CA", func(t *testing.T) {
		other := pki(t) // a different CA
		bad := cfg
		bad.KafkaTLSCAFile = other.CA
		sec, err := bus.NewSecurity(bad)
		if err != nil {
			t.Fatal(err)
		}
		err = bus.EnsureTopics(ctx, bad.KafkaBrokers, h.Topics(), sec)
		if err == nil || !strings.Contains(err.Error(), "not signed by a trusted CA") || !strings.Contains(err.Error(), "MRHUB_KAFKA_TLS_CA_FILE") {
			t.Fatalf("wrong CA: %v, want a message naming MRHUB_KAFKA_TLS_CA_FILE", err)
		}
		t.Log(err)
	})
	t.Run("plaintext client", func(t *testing.T) {
		err := bus.Ping(ctx, cfg.KafkaBrokers, nil)
		if err == nil || !strings.Contains(err.Error(), "MRHUB_KAFKA_TLS") {
			t.Fatalf("plaintext client against a TLS broker: %v, want a message naming MRHUB_KAFKA_TLS", err)
		}
		t.Log(err)
	})
}

func TestKafkaMutualTLS(t *testing.T) {
	f := pki(t)
	b := secureBroker(t, nil, serverTLS(t, f, f.CA))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := config.Default()
	cfg.KafkaBrokers = b.Addrs()
	cfg.KafkaTLS, cfg.KafkaTLSCAFile = true, f.CA
	cfg.KafkaTLSCertFile, cfg.KafkaTLSKeyFile = f.ClientCert, f.ClientKey
	sec, err := bus.NewSecurity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureTopics(ctx, cfg.KafkaBrokers, []bus.TopicSpec{{Name: "mtls-check", Partitions: 1}}, sec); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	w := bus.NewWriter(cfg.KafkaBrokers, "mtls-check", sec)
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err != nil {
		t.Fatalf("writing with a client certificate: %v", err)
	}
	_ = w.Close()

	cfg.KafkaTLSCertFile, cfg.KafkaTLSKeyFile = "", ""
	sec, err = bus.NewSecurity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = bus.Ping(ctx, cfg.KafkaBrokers, sec)
	if err == nil {
		t.Fatal("the broker accepted a client without a certificate")
	}
	t.Log(err)
}

// TestPostgresSSLMode checks that DATABASE_URL's sslmode is honoured (pgx) against the local
// server, and that a failure names the URL without its password.
func TestPostgresSSLMode(t *testing.T) {
	server := testenv.ServerURL()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	withQuery := func(user *url.Userinfo, kv ...string) string {
		v := u.Query()
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		c := *u
		c.User = user
		c.RawQuery = v.Encode()
		return c.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, withQuery(u.User, "sslmode", "disable"), 2)
	if err != nil {
		if os.Getenv("MRHUB_REQUIRE_PG") == "1" {
			t.Fatal(err)
		}
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	var serverSSL string
	_ = pool.QueryRow(ctx, "SHOW ssl").Scan(&serverSSL)
	pool.Close()

	pool, err = db.Open(ctx, withQuery(u.User, "sslmode", "require"), 2)
	if serverSSL != "on" {
		if err == nil {
			pool.Close()
			t.Fatal("sslmode=require connected to a server without TLS")
		}
		t.Logf("server has ssl=%s; sslmode=require fails as it must: %v", serverSSL, err)
	} else {
		if err != nil {
			t.Fatalf("sslmode=require against a server with ssl=on: %v", err)
		}
		var inTLS bool
		var version string
		if err := pool.QueryRow(ctx, `SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&inTLS, &version); err != nil {
			t.Fatal(err)
		}
		pool.Close()
		if !inTLS {
			t.Fatal("sslmode=require: the connection is not encrypted")
		}
		t.Logf("sslmode=require: connection encrypted with %s", version)
	}

	// verify-full with a CA that did not sign the server certificate: a clear failure, and the
	// password is not in the message.
	other := pki(t)
	user := url.UserPassword(u.User.Username(), "pw-must-not-leak")
	_, err = db.Open(ctx, withQuery(user, "sslmode", "verify-full", "sslrootcert", other.CA), 2)
	if err == nil {
		t.Fatal("sslmode=verify-full accepted a server certificate from an unknown CA")
	}
	if strings.Contains(err.Error(), "pw-must-not-leak") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if !errors.Is(err, db.ErrUnreachable) {
		t.Logf("note: error is not ErrUnreachable: %v", err)
	}
	t.Log(err)
}
