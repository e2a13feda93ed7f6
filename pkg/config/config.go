package config

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Topic names of the message contract (README "Topics").
const (
	TopicReports   = "mrhub.reports.v1"
	TopicDLQ       = "mrhub.dlq.v1"
	TopicIndex     = "mrhub.index.v1"
	TopicDecisions = "mrhub.decisions.v1"
)

// Config is everything a hub process needs. Zero values are replaced by Default().
type Config struct {
	KafkaBrokers []string // MRHUB_KAFKA_BROKERS, comma separated
	DatabaseURL  string   // DATABASE_URL
	HTTPAddr     string   // MRHUB_HTTP_ADDR
	GroupID      string   // MRHUB_GROUP_ID: consumer group of the hub instances
	IDKeyHex     string   // MRHUB_ID_KEY: hex HMAC key for identity numbers (≥ 16 bytes)
	IDKeyFile    string   // MRHUB_ID_KEY_FILE: file holding the hex key (created by the demo)

	TopicReports string
	TopicDLQ     string
	TopicIndex   string
	Partitions   int // partitions of topics the hub creates

	Consumers       int           // MRHUB_CONSUMERS: group members in this process (each owns whole partitions)
	BatchSize       int           // MRHUB_BATCH_SIZE: max messages per database transaction
	BatchWait       time.Duration // MRHUB_BATCH_WAIT: max wait to fill a batch
	DecodeWorkers   int           // MRHUB_DECODE_WORKERS: parallel decoders per batch
	MaxMessageBytes int           // MRHUB_MAX_MESSAGE_BYTES: larger reports are dead-lettered
	DBMaxConns      int           // MRHUB_DB_MAX_CONNS
	TimeZone        string        // MRHUB_TIME_ZONE: zone of dates/times without one

	LogLevel  string // MRHUB_LOG_LEVEL: debug|info|warn|error
	LogFormat string // MRHUB_LOG_FORMAT: console|json
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		KafkaBrokers:    []string{"127.0.0.1:9092"},
		DatabaseURL:     "postgres://postgres@127.0.0.1:5432/mrhub?sslmode=disable",
		HTTPAddr:        "127.0.0.1:8080",
		GroupID:         "mrhub",
		TopicReports:    TopicReports,
		TopicDLQ:        TopicDLQ,
		TopicIndex:      TopicIndex,
		Partitions:      6,
		Consumers:       2,
		BatchSize:       500,
		BatchWait:       100 * time.Millisecond,
		DecodeWorkers:   2,
		MaxMessageBytes: 2 << 20,
		DBMaxConns:      8,
		TimeZone:        "Asia/Shanghai",
		LogLevel:        "info",
		LogFormat:       "console",
	}
}

// FromEnv returns Default() overridden by the environment.
func FromEnv() Config {
	c := Default()
	str := func(name string, dst *string) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			*dst = v
		}
	}
	num := func(name string, dst *int) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				*dst = n
			} else {
				*dst = -1 // reported by Validate
			}
		}
	}
	if v := os.Getenv("MRHUB_KAFKA_BROKERS"); v != "" {
		c.KafkaBrokers = splitList(v)
	}
	str("DATABASE_URL", &c.DatabaseURL)
	str("MRHUB_HTTP_ADDR", &c.HTTPAddr)
	str("MRHUB_GROUP_ID", &c.GroupID)
	str("MRHUB_ID_KEY", &c.IDKeyHex)
	str("MRHUB_ID_KEY_FILE", &c.IDKeyFile)
	str("MRHUB_TIME_ZONE", &c.TimeZone)
	str("MRHUB_LOG_LEVEL", &c.LogLevel)
	str("MRHUB_LOG_FORMAT", &c.LogFormat)
	num("MRHUB_PARTITIONS", &c.Partitions)
	num("MRHUB_CONSUMERS", &c.Consumers)
	num("MRHUB_BATCH_SIZE", &c.BatchSize)
	num("MRHUB_DECODE_WORKERS", &c.DecodeWorkers)
	num("MRHUB_MAX_MESSAGE_BYTES", &c.MaxMessageBytes)
	num("MRHUB_DB_MAX_CONNS", &c.DBMaxConns)
	if v := os.Getenv("MRHUB_BATCH_WAIT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			c.BatchWait = d
		} else {
			c.BatchWait = -1
		}
	}
	return c
}

// RegisterFlags binds the common flags of hub commands to c (call after FromEnv so the
// environment provides the defaults shown in -help).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Func("brokers", "Kafka bootstrap brokers, comma separated (env MRHUB_KAFKA_BROKERS; default "+strings.Join(c.KafkaBrokers, ",")+")", func(s string) error {
		c.KafkaBrokers = splitList(s)
		return nil
	})
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (env MRHUB_HTTP_ADDR)")
	fs.StringVar(&c.GroupID, "group", c.GroupID, "Kafka consumer group (env MRHUB_GROUP_ID)")
	fs.StringVar(&c.IDKeyFile, "id-key-file", c.IDKeyFile, "file with the hex HMAC key for identity numbers (env MRHUB_ID_KEY_FILE; MRHUB_ID_KEY gives the key itself)")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions for topics the hub creates (env MRHUB_PARTITIONS)")
	fs.IntVar(&c.Consumers, "consumers", c.Consumers, "consumer-group members in this process (env MRHUB_CONSUMERS)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "max messages per database transaction (env MRHUB_BATCH_SIZE)")
	fs.DurationVar(&c.BatchWait, "batch-wait", c.BatchWait, "max time to fill a batch (env MRHUB_BATCH_WAIT)")
	fs.IntVar(&c.DecodeWorkers, "decode-workers", c.DecodeWorkers, "parallel decoders per batch (env MRHUB_DECODE_WORKERS)")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", c.MaxMessageBytes, "reports larger than this are dead-lettered (env MRHUB_MAX_MESSAGE_BYTES)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug|info|warn|error (env MRHUB_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "console|json (env MRHUB_LOG_FORMAT)")
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.KafkaBrokers) == 0 {
		bad("MRHUB_KAFKA_BROKERS is empty: give host:port[,host:port]")
	}
	for _, b := range c.KafkaBrokers {
		if !strings.Contains(b, ":") {
			bad("broker %q has no port: use host:port", b)
		}
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL is empty")
	}
	if c.GroupID == "" {
		bad("MRHUB_GROUP_ID is empty")
	}
	if c.Partitions < 1 || c.Partitions > 1000 {
		bad("MRHUB_PARTITIONS must be 1..1000, got %d", c.Partitions)
	}
	if c.Consumers < 1 || c.Consumers > 64 {
		bad("MRHUB_CONSUMERS must be 1..64, got %d", c.Consumers)
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		bad("MRHUB_BATCH_SIZE must be 1..10000, got %d", c.BatchSize)
	}
	if c.BatchWait <= 0 {
		bad("MRHUB_BATCH_WAIT must be a positive duration such as 100ms")
	}
	if c.DecodeWorkers < 1 || c.DecodeWorkers > 256 {
		bad("MRHUB_DECODE_WORKERS must be 1..256, got %d", c.DecodeWorkers)
	}
	if c.MaxMessageBytes < 1024 {
		bad("MRHUB_MAX_MESSAGE_BYTES must be at least 1024, got %d", c.MaxMessageBytes)
	}
	if c.DBMaxConns < 2 {
		bad("MRHUB_DB_MAX_CONNS must be at least 2, got %d", c.DBMaxConns)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		bad("MRHUB_TIME_ZONE %q: %v", c.TimeZone, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("MRHUB_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "console", "json":
	default:
		bad("MRHUB_LOG_FORMAT must be console or json, got %q", c.LogFormat)
	}
	if c.IDKeyHex != "" {
		if _, err := decodeKey(c.IDKeyHex); err != nil {
			bad("MRHUB_ID_KEY: %v", err)
		}
	}
	return errors.Join(errs...)
}

// Location returns the configured time zone (Validate first).
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// IDKey returns the identity HMAC key from MRHUB_ID_KEY or MRHUB_ID_KEY_FILE.
func (c Config) IDKey() ([]byte, error) {
	if c.IDKeyHex != "" {
		return decodeKey(c.IDKeyHex)
	}
	if c.IDKeyFile == "" {
		return nil, errors.New("no identity key: set MRHUB_ID_KEY (hex, ≥ 32 hex digits) or MRHUB_ID_KEY_FILE; `mrhub demo` creates one in its data directory")
	}
	b, err := os.ReadFile(c.IDKeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading MRHUB_ID_KEY_FILE: %w", err)
	}
	return decodeKey(strings.TrimSpace(string(b)))
}

func decodeKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("must be hexadecimal")
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("must be at least 16 bytes (32 hex digits), got %d bytes", len(k))
	}
	return k, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
