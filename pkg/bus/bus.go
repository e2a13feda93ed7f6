package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Header names of the message contract.
const (
	HeaderSource         = "mrhub-source"
	HeaderErrorCode      = "mrhub-error-code"
	HeaderErrorMessage   = "mrhub-error-message"
	HeaderErrorPath      = "mrhub-error-path"
	HeaderSourceTopic    = "mrhub-source-topic"
	HeaderSourcePart     = "mrhub-source-partition"
	HeaderSourceOffset   = "mrhub-source-offset"
	HeaderDeadLetteredAt = "mrhub-dead-lettered-at"
)

// Header returns the value of the first header named key, or "".
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// ReaderConfig is what a consumer-group reader needs.
type ReaderConfig struct {
	Brokers  []string
	GroupID  string
	Topic    string
	MaxBytes int // largest message accepted from the broker (fetch size)
	// Security is the TLS/SASL setting of the connections (nil: plaintext).
	Security *Security
}

// NewReader returns a consumer-group reader. Offsets are committed explicitly (CommitInterval 0:
// CommitMessages is synchronous), and a new group starts at the first offset.
func NewReader(c ReaderConfig) (*kafka.Reader, error) {
	if len(c.Brokers) == 0 || c.GroupID == "" || c.Topic == "" {
		return nil, errors.New("kafka reader needs brokers, a group id and a topic")
	}
	maxBytes := c.MaxBytes
	if maxBytes < 1<<20 {
		maxBytes = 1 << 20
	}
	cfg := kafka.ReaderConfig{
		Brokers:  c.Brokers,
		GroupID:  c.GroupID,
		Topic:    c.Topic,
		MinBytes: 1,
		// One fetch carries at most the largest accepted message (a larger first batch still
		// comes whole, as the fetch protocol guarantees): the broker builds each response in
		// memory, and an embedded broker shares the hub's memory limit.
		MaxBytes: maxBytes,
		MaxWait:  250 * time.Millisecond,
		// kafka-go arms this deadline before each message of a fetch response and counts the time
		// the message waits for the consumer to take it (a queue of QueueCapacity): a consumer
		// writing a batch for longer than this abandons every partition's fetch, and the broker
		// rebuilds and resends up to MaxBytes from the same offset. It is set well above a
		// batch's write time; a broken connection still fails at once (reset, EOF).
		ReadBatchTimeout:       30 * time.Second,
		StartOffset:            kafka.FirstOffset,
		CommitInterval:         0,
		HeartbeatInterval:      1 * time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       500 * time.Millisecond,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		QueueCapacity:          100,
		Dialer:                 c.Security.Dialer(),
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka reader config: %w", err)
	}
	return kafka.NewReader(cfg), nil
}

// NewWriter returns a synchronous writer (WriteMessages returns once every message is acknowledged
// by all in-sync replicas) that places keys like the Java client (murmur2), so partitioning agrees
// with other producers. sec is the TLS/SASL setting (nil: plaintext).
func NewWriter(brokers []string, topic string, sec *Security) *kafka.Writer {
	return &kafka.Writer{
		Transport:       sec.Transport(),
		Addr:            kafka.TCP(brokers...),
		Topic:           topic,
		Balancer:        &kafka.Murmur2Balancer{},
		RequiredAcks:    kafka.RequireAll,
		BatchSize:       1000,
		BatchBytes:      16 << 20,
		BatchTimeout:    5 * time.Millisecond,
		MaxAttempts:     5,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 1 * time.Second,
	}
}

// TopicSpec is a topic the hub expects.
type TopicSpec struct {
	Name       string
	Partitions int
	Configs    map[string]string
}

// EnsureTopics creates missing topics through the cluster controller (real Kafka with
// auto-creation off, or the embedded broker). Existing topics are left as they are. It is the
// hub's first contact with Kafka, so its errors explain TLS and SASL failures (sec.Explain).
func EnsureTopics(ctx context.Context, brokers []string, specs []TopicSpec, sec *Security) error {
	conn, err := dialAny(ctx, brokers, sec)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("finding the Kafka controller: %w", sec.Explain(err))
	}
	cc, err := sec.Dialer().DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("connecting to the Kafka controller: %w", sec.Explain(err))
	}
	defer cc.Close()
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: -1}
		for k, v := range s.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		err := cc.CreateTopics(tc)
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", s.Name, err)
		}
	}
	return nil
}
