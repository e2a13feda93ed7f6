package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// Publish writes values to topic with header mrhub-source = source, keyed by key(i).
func Publish(t testing.TB, brokers []string, topic, source string, key func(i int) string, values ...[]byte) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchBytes: 16 << 20}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Key: []byte(key(i)), Value: v, Headers: []protocol.Header{{Key: "mrhub-source", Value: []byte(source)}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("publishing %d messages: %v", len(values), err)
	}
}

// ReadAll reads every message currently in topic (all partitions) until it has read want
// messages or timeout passes.
func ReadAll(t testing.TB, brokers []string, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatalf("dialing broker: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("reading partitions of %s: %v", topic, err)
	}
	deadline := time.Now().Add(timeout)
	var out []kafka.Message
	for {
		out = out[:0]
		for _, p := range parts {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
			hi := int64(-1)
			if c, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p.ID); err == nil {
				hi, _ = c.ReadLastOffset()
				c.Close()
			}
			for off := int64(0); off < hi; off++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				m, err := r.ReadMessage(ctx)
				cancel()
				if err != nil {
					break
				}
				out = append(out, m)
				if m.Offset >= hi-1 {
					break
				}
			}
			r.Close()
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitFor polls ok until it holds, failing t after timeout with what was awaited.
func WaitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
