// Package outbox relays the outbox table to Kafka. Rows are written by package index in the same
// transaction as the change they announce; the relay publishes them in id order after commit and
// deletes them only once the broker acknowledged them, so no event is lost and none is invented.
// A crash between the acknowledgement and the delete publishes the same records again: consumers
// of the compacted mrhub.index.v1 see the same value for the same key twice, which compaction
// folds away.
//
// One relay is active per database: it holds a PostgreSQL session advisory lock for as long as it
// runs; other hub instances wait for it, so the order per key is the commit order.
package outbox
