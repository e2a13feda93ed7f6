package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKafkaSecurityFromEnv(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pw := filepath.Join(dir, "pw")
	_ = os.WriteFile(ca, []byte("x"), 0o600)
	_ = os.WriteFile(pw, []byte("s3cret\r\n"), 0o600)
	t.Setenv("MRHUB_KAFKA_TLS", "true")
	t.Setenv("MRHUB_KAFKA_TLS_CA_FILE", ca)
	t.Setenv("MRHUB_KAFKA_SASL_MECHANISM", "scram-sha-256")
	t.Setenv("MRHUB_KAFKA_SASL_USERNAME", "hub")
	t.Setenv("MRHUB_KAFKA_SASL_PASSWORD_FILE", pw)
	c := FromEnv()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.KafkaTLS || c.SASLMechanism() != SASLScramSHA256 {
		t.Fatalf("parsed %+v", c)
	}
	if p, err := c.SASLPassword(); err != nil || p != "s3cret" {
		t.Fatalf("password from file: %q, %v", p, err)
	}
	if w := c.SecurityWarnings(); len(w) != 0 {
		t.Fatalf("warnings for a verified TLS + SCRAM setup: %v", w)
	}
}

func TestKafkaSecurityValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"unknown mechanism", func(c *Config) { c.KafkaSASLMechanism = "GSSAPI" }, "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{"no user", func(c *Config) { c.KafkaSASLMechanism, c.KafkaSASLPassword = "PLAIN", "p" }, "MRHUB_KAFKA_SASL_USERNAME is empty"},
		{"no password", func(c *Config) { c.KafkaSASLMechanism, c.KafkaSASLUsername = "PLAIN", "u" }, "no password"},
		{"two passwords", func(c *Config) {
			c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword, c.KafkaSASLPasswordFile = "PLAIN", "u", "p", "/etc/hostname"
		}, "give one"},
		{"user without mechanism", func(c *Config) { c.KafkaSASLUsername = "u" }, "MRHUB_KAFKA_SASL_MECHANISM is not"},
		{"CA without TLS", func(c *Config) { c.KafkaTLSCAFile = "/etc/hostname" }, "MRHUB_KAFKA_TLS is not true"},
		{"cert without key", func(c *Config) { c.KafkaTLS, c.KafkaTLSCertFile = true, "/etc/hostname" }, "needs its key"},
		{"missing CA file", func(c *Config) { c.KafkaTLS, c.KafkaTLSCAFile = true, "/nonexistent.pem" }, "MRHUB_KAFKA_TLS_CA_FILE"},
		{"HTTP cert without key", func(c *Config) { c.HTTPTLSCertFile = "/etc/hostname" }, "MRHUB_HTTP_TLS_KEY_FILE is not"},
	}
	for _, tc := range cases {
		c := Default()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	t.Setenv("MRHUB_KAFKA_TLS", "yes please")
	if err := FromEnv().Validate(); err == nil || !strings.Contains(err.Error(), "MRHUB_KAFKA_TLS must be true or false") {
		t.Errorf("bad bool: %v", err)
	}
}

func TestInsecureSettingsWarn(t *testing.T) {
	c := Default()
	c.KafkaTLS, c.KafkaTLSInsecureSkipVerify = true, true
	if w := c.SecurityWarnings(); len(w) != 1 || !strings.Contains(w[0], "NOT verified") {
		t.Fatalf("skip-verify warnings: %v", w)
	}
	c = Default()
	c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword = "PLAIN", "u", "p"
	if w := c.SecurityWarnings(); len(w) != 2 || !strings.Contains(w[0], "clear text") {
		t.Fatalf("PLAIN without TLS warnings: %v", w)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c := Default()
	c.KafkaSASLPassword = "hunter2"
	j, _ := json.Marshal(c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(j)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
	if string(c.KafkaSASLPassword) != "hunter2" {
		t.Fatal("the secret itself changed")
	}
}
