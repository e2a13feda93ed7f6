// Package bus is mrhub's kafka-go wiring: validated reader and writer construction (kafka-go's
// NewReader panics on bad config, so configuration is checked first), the message-header
// contract (mrhub-source, dead-letter headers), topic creation on real Kafka, and small helpers to
// read headers. Consumers use FetchMessage + CommitMessages only, never ReadMessage.
package bus
