package broker

import (
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
