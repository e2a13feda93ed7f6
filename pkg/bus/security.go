package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/mrhub/mrhub/pkg/config"
)

// dialTimeout bounds connecting to a broker, including the TLS handshake and SASL exchange.
const dialTimeout = 10 * time.Second

// Security is how every Kafka client of the process connects: TLS and SASL settings loaded
// once from the configuration. A nil *Security is a plaintext, unauthenticated connection
// (the embedded broker, tests).
type Security struct {
	tls       *tls.Config
	sasl      sasl.Mechanism
	mechanism string
	username  string
	dialer    *kafka.Dialer
	transport *kafka.Transport
}

// NewSecurity validates the Kafka TLS/SASL settings of cfg and loads the CA, client certificate
// and password files. It returns nil (plaintext) when neither TLS nor SASL is configured.
func NewSecurity(cfg config.Config) (*Security, error) {
	if err := cfg.ValidateKafkaSecurity(); err != nil {
		return nil, fmt.Errorf("invalid Kafka security configuration:\n%w", err)
	}
	s := &Security{mechanism: cfg.SASLMechanism(), username: cfg.KafkaSASLUsername}
	if cfg.KafkaTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.KafkaTLSInsecureSkipVerify} //nolint:gosec // opt-in, warned at start
		if cfg.KafkaTLSCAFile != "" {
			pem, err := os.ReadFile(cfg.KafkaTLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("reading MRHUB_KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("MRHUB_KAFKA_TLS_CA_FILE %s holds no PEM certificate", cfg.KafkaTLSCAFile)
			}
			tc.RootCAs = pool
		}
		if cfg.KafkaTLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.KafkaTLSCertFile, cfg.KafkaTLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("loading the Kafka client certificate (MRHUB_KAFKA_TLS_CERT_FILE/KEY_FILE): %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		s.tls = tc
	}
	if s.mechanism != "" {
		pass, err := cfg.SASLPassword()
		if err != nil {
			return nil, err
		}
		switch s.mechanism {
		case config.SASLPlain:
			s.sasl = plain.Mechanism{Username: cfg.KafkaSASLUsername, Password: pass}
		case config.SASLScramSHA256, config.SASLScramSHA512:
			algo := scram.SHA256
			if s.mechanism == config.SASLScramSHA512 {
				algo = scram.SHA512
			}
			m, err := scram.Mechanism(algo, cfg.KafkaSASLUsername, pass)
			if err != nil {
				// The error names the SASLprep rule the user name or password breaks, not the value.
				return nil, fmt.Errorf("MRHUB_KAFKA_SASL_USERNAME/PASSWORD unusable for %s: %w", s.mechanism, err)
			}
			s.sasl = m
		}
	}
	if s.tls == nil && s.sasl == nil {
		return nil, nil
	}
	s.dialer = &kafka.Dialer{Timeout: dialTimeout, DualStack: true, TLS: s.tls, SASLMechanism: s.sasl}
	s.transport = &kafka.Transport{DialTimeout: dialTimeout, TLS: s.tls, SASL: s.sasl}
	return s, nil
}

// Dialer returns the dialer for readers, admin connections and partition leaders.
func (s *Security) Dialer() *kafka.Dialer {
	if s == nil {
		return &kafka.Dialer{Timeout: dialTimeout, DualStack: true}
	}
	return s.dialer
}

// Transport returns the transport for writers (nil: kafka-go's default, plaintext).
func (s *Security) Transport() kafka.RoundTripper {
	if s == nil {
		return nil
	}
	return s.transport
}

// SASL reports whether SASL authentication is configured.
func (s *Security) SASL() bool { return s != nil && s.sasl != nil }

// TLS reports whether connections use TLS.
func (s *Security) TLS() bool { return s != nil && s.tls != nil }

// String describes the settings for logs, without the password.
func (s *Security) String() string {
	if s == nil {
		return "plaintext"
	}
	var parts []string
	switch {
	case s.tls != nil && s.tls.InsecureSkipVerify:
		parts = append(parts, "TLS (certificates NOT verified)")
	case s.tls != nil:
		parts = append(parts, "TLS")
	default:
		parts = append(parts, "no TLS")
	}
	if s.sasl != nil {
		parts = append(parts, fmt.Sprintf("SASL %s as %q", s.mechanism, s.username))
	}
	return strings.Join(parts, ", ")
}

// Explain turns the low-level errors kafka-go gives for security failures into messages that
// say what to check. Other errors are returned unchanged.
func (s *Security) Explain(err error) error {
	if err == nil {
		return nil
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownAuthority):
		return fmt.Errorf("the Kafka broker's TLS certificate is not signed by a trusted CA: set MRHUB_KAFKA_TLS_CA_FILE to the CA that signs the brokers' certificates: %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("the Kafka broker's TLS certificate does not name the address in MRHUB_KAFKA_BROKERS: use the host name the certificate was issued for: %w", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the Kafka broker's TLS certificate is invalid (expired, or not for serving): %w", err)
	case errors.As(err, &recordHeader):
		return fmt.Errorf("the Kafka broker did not answer with TLS: is MRHUB_KAFKA_TLS=true meant for a plaintext listener? %w", err)
	case strings.Contains(err.Error(), "remote error: tls:"):
		return fmt.Errorf("the Kafka broker refused the TLS handshake (a client certificate required? see MRHUB_KAFKA_TLS_CERT_FILE/KEY_FILE): %w", err)
	}
	if !closedConn(err) {
		return err
	}
	if s.SASL() && errors.Is(err, kafka.SASLAuthenticationFailed) {
		return fmt.Errorf("the Kafka brokers refused SASL %s authentication as %q: check MRHUB_KAFKA_SASL_USERNAME/PASSWORD and MRHUB_KAFKA_SASL_MECHANISM: %w",
			s.mechanism, s.username, err)
	}
	if s.SASL() {
		return fmt.Errorf("the Kafka broker closed the connection during SASL %s authentication as %q: check MRHUB_KAFKA_SASL_USERNAME/PASSWORD and MRHUB_KAFKA_SASL_MECHANISM "+
			"(kafka-go cannot tell a wrong password from a dropped connection): %w", s.mechanism, s.username, err)
	}
	if !s.TLS() {
		return fmt.Errorf("the Kafka broker closed the connection: if the brokers require TLS or SASL, set MRHUB_KAFKA_TLS / MRHUB_KAFKA_SASL_*: %w", err)
	}
	return err
}

// closedConn reports whether err is the peer closing or resetting the connection, which is how
// brokers answer a failed SASL exchange or a protocol mismatch.
func closedConn(err error) bool {
	return errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// Ping connects to the first reachable broker and reads the cluster metadata, so a command
// fails at once with a clear message when the brokers cannot be reached or refuse the
// credentials (writers and readers would otherwise retry in the background).
func Ping(ctx context.Context, brokers []string, sec *Security) error {
	conn, err := dialAny(ctx, brokers, sec)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Brokers(); err != nil {
		return fmt.Errorf("reading Kafka metadata: %w", sec.Explain(err))
	}
	return nil
}

func dialAny(ctx context.Context, brokers []string, sec *Security) (*kafka.Conn, error) {
	d := sec.Dialer()
	var errs []error
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no Kafka brokers configured (MRHUB_KAFKA_BROKERS)")
	}
	return nil, fmt.Errorf("connecting to Kafka at %v (%s): %w", brokers, sec, sec.Explain(errors.Join(errs...)))
}
