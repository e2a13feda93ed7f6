package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/broker"
	"github.com/mrhub/mrhub/pkg/bus"
	"github.com/mrhub/mrhub/pkg/config"
)

// brokerSASLUsers is the SASL user the embedded broker accepts: the one the hub is configured
// with (MRHUB_KAFKA_SASL_*), or none.
func brokerSASLUsers(cfg config.Config) ([]broker.SASLUser, error) {
	mech := cfg.SASLMechanism()
	if mech == "" {
		return nil, nil
	}
	if err := cfg.ValidateKafkaSecurity(); err != nil {
		return nil, fmt.Errorf("invalid Kafka security configuration:\n%w", err)
	}
	pass, err := cfg.SASLPassword()
	if err != nil {
		return nil, err
	}
	return []broker.SASLUser{{Mechanism: mech, Username: cfg.KafkaSASLUsername, Password: pass}}, nil
}

// secureDemoKafka switches the demo's Kafka to TLS + SCRAM-SHA-512: a throw-away CA and broker
// certificate in DATA/tls, a random password in DATA/kafka.password (both kept across runs),
// unless the environment already names a SASL user. It returns the broker's TLS configuration.
func secureDemoKafka(cfg *config.Config, dataDir string) (*tls.Config, error) {
	files, err := broker.WriteTestPKI(filepath.Join(dataDir, "tls"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		return nil, fmt.Errorf("creating the demo's TLS certificates: %w", err)
	}
	cfg.KafkaTLS, cfg.KafkaTLSCAFile = true, files.CA
	if cfg.SASLMechanism() == "" {
		pf := filepath.Join(dataDir, "kafka.password")
		if err := ensureRandomHexFile(pf, 24); err != nil { // a 48-character password
			return nil, err
		}
		cfg.KafkaSASLMechanism, cfg.KafkaSASLUsername, cfg.KafkaSASLPasswordFile = config.SASLScramSHA512, "mrhub", pf
	}
	return broker.ServerTLS(files.Cert, files.Key, "")
}

// kcatSecurityArgs are the kcat options matching cfg's Kafka security, for the demo banner
// (the password is read from its file by the shell, never printed).
func kcatSecurityArgs(cfg config.Config) string {
	var sb strings.Builder
	mech := cfg.SASLMechanism()
	switch {
	case cfg.KafkaTLS && mech != "":
		sb.WriteString(" -X security.protocol=SASL_SSL")
	case cfg.KafkaTLS:
		sb.WriteString(" -X security.protocol=SSL")
	case mech != "":
		sb.WriteString(" -X security.protocol=SASL_PLAINTEXT")
	}
	if cfg.KafkaTLSCAFile != "" {
		sb.WriteString(" -X ssl.ca.location=" + cfg.KafkaTLSCAFile)
	}
	if mech != "" {
		sb.WriteString(" -X sasl.mechanisms=" + mech + " -X sasl.username=" + cfg.KafkaSASLUsername)
		if cfg.KafkaSASLPasswordFile != "" {
			sb.WriteString(` -X sasl.password="$(cat ` + cfg.KafkaSASLPasswordFile + `)"`)
		} else {
			sb.WriteString(` -X sasl.password="$MRHUB_KAFKA_SASL_PASSWORD"`)
		}
	}
	return sb.String()
}

// publishSecurityFlags are the `mrhub publish` flags matching cfg's Kafka security (the
// password stays in its file or in MRHUB_KAFKA_SASL_PASSWORD).
func publishSecurityFlags(cfg config.Config) string {
	var sb strings.Builder
	if cfg.KafkaTLS {
		sb.WriteString(" --kafka-tls")
		if cfg.KafkaTLSCAFile != "" {
			sb.WriteString(" --kafka-tls-ca-file " + cfg.KafkaTLSCAFile)
		}
	}
	if mech := cfg.SASLMechanism(); mech != "" {
		sb.WriteString(" --kafka-sasl-mechanism " + mech + " --kafka-sasl-username " + cfg.KafkaSASLUsername)
		if cfg.KafkaSASLPasswordFile != "" {
			sb.WriteString(" --kafka-sasl-password-file " + cfg.KafkaSASLPasswordFile)
		}
	}
	return sb.String()
}

// kafkaClient builds the Kafka security of a command that only talks to Kafka (publish,
// simulate), prints its warnings, and checks the brokers accept the connection, so a wrong
// password or CA fails at once with a clear message instead of retrying in the writer.
func kafkaClient(ctx context.Context, cfg config.Config) (*bus.Security, error) {
	sec, err := bus.NewSecurity(cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.SecurityWarnings() {
		fmt.Fprintln(os.Stderr, "mrhub: WARNING, INSECURE:", w)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := bus.Ping(pctx, cfg.KafkaBrokers, sec); err != nil {
		return nil, err
	}
	return sec, nil
}
