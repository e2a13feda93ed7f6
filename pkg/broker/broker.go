package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/config"
)

// Topic is a topic to create at start (kept when it already exists).
type Topic struct {
	Name       string
	Partitions int32
	Configs    map[string]string // e.g. cleanup.policy=compact
}

// Options configure the embedded broker.
type Options struct {
	Port            int    // 0 picks a free port
	DataDir         string // "" keeps everything in memory (tests only: memory grows with the log)
	Topics          []Topic
	MaxMessageBytes int // broker message.max.bytes; 0 keeps kfake's 1 MiB default
	Logger          *zap.Logger

	// SASLUsers turns SASL authentication on: every client must log in as one of these users
	// (no ACLs: every user may do everything). Empty: no authentication.
	SASLUsers []SASLUser
	// TLS makes the listener speak TLS with this configuration (see ServerTLS). nil: plaintext.
	TLS *tls.Config
}

// SASLUser is a user of the embedded broker. Mechanism is PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512 (config.SASLPlain…); a user may be given once per mechanism.
type SASLUser struct {
	Mechanism string
	Username  string
	Password  string
}

// ServerTLS loads the broker's certificate and key (PEM) for Options.TLS. With clientCAFile,
// clients must present a certificate signed by that CA (mutual TLS).
func ServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the broker certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA file %s holds no PEM certificate", clientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Broker is a running embedded cluster of one broker.
type Broker struct {
	c *kfake.Cluster
}

// Start starts the broker, restoring the data directory's log and offsets when present, and
// creates the topics that do not exist yet.
func Start(o Options) (*Broker, error) {
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("broker port %d out of range", o.Port)
	}
	opts := []kfake.Opt{kfake.Ports(o.Port)}
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("creating broker data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.MaxMessageBytes > 0 {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(o.MaxMessageBytes)}))
	}
	if len(o.SASLUsers) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range o.SASLUsers {
			switch u.Mechanism {
			case config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512:
			default:
				return nil, fmt.Errorf("broker SASL user %q: mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", u.Username, u.Mechanism)
			}
			if u.Username == "" || u.Password == "" {
				return nil, errors.New("broker SASL users need a user name and a password")
			}
			opts = append(opts, kfake.User(u.Mechanism, u.Username, u.Password))
		}
	}
	if o.TLS != nil {
		opts = append(opts, kfake.TLS(o.TLS))
	}
	if o.Logger != nil {
		opts = append(opts, kfake.WithLogger(zapLogger{o.Logger.Named("kfake")}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker on port %d: %w", o.Port, err)
	}
	b := &Broker{c: c}
	for _, t := range o.Topics {
		if err := b.CreateTopic(t); err != nil {
			c.Close()
			return nil, err
		}
	}
	return b, nil
}

// CreateTopic creates t unless it exists.
func (b *Broker) CreateTopic(t Topic) error {
	err := b.c.CreateTopic(t.Name, t.Partitions, t.Configs)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", t.Name, err)
	}
	return nil
}

// Addrs returns the host:port addresses the broker listens on.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Compact runs log compaction now on compacted topics.
func (b *Broker) Compact() { b.c.Compact() }

// Close stops the broker, flushing the data directory.
func (b *Broker) Close() { b.c.Close() }

type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		z.l.Sugar().Errorf(format, args...)
	case kfake.LogLevelWarn:
		z.l.Sugar().Warnf(format, args...)
	default:
		z.l.Sugar().Debugf(format, args...)
	}
}

// HubTopics lists the hub's topics with their partition counts and configs; the index topic is
// compacted.
func HubTopics(partitions int32) []Topic {
	return []Topic{
		{Name: config.TopicReports, Partitions: partitions},
		{Name: config.TopicDLQ, Partitions: partitions},
		{Name: config.TopicIndex, Partitions: partitions, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: config.TopicDecisions, Partitions: partitions},
	}
}
