// Package broker runs an embedded Kafka-protocol broker (github.com/twmb/franz-go/pkg/kfake) for
// the demo, the tests and the benchmarks. It listens on 127.0.0.1 TCP ports and persists its log
// and committed offsets to a data directory, so every client — the hub's kafka-go readers and
// writers, kcat, any other Kafka client — reaches it exactly as it would reach real Kafka.
// Production points MRHUB_KAFKA_BROKERS at real Kafka and never uses this package.
package broker
