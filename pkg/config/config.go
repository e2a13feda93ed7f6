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

// Topic names of the message contract (docs/integration.md "Topics").
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
	// DatabaseReplicaURLs are PostgreSQL streaming replicas of DATABASE_URL's server
	// (MRHUB_DATABASE_REPLICA_URLS, comma separated): the HTTP read paths use them, writes never.
	DatabaseReplicaURLs []string
	ReplicaMaxLag       time.Duration // MRHUB_REPLICA_MAX_LAG: a replica further behind is skipped until it catches up
	HTTPAddr            string        // MRHUB_HTTP_ADDR
	GroupID             string        // MRHUB_GROUP_ID: consumer group of the hub instances
	IDKeyHex            string        // MRHUB_ID_KEY: hex HMAC key for identity numbers (≥ 16 bytes)
	IDKeyFile           string        // MRHUB_ID_KEY_FILE: file holding the hex key (created by the demo)

	// CDSFHIRServers are the EHR FHIR base URLs (MRHUB_CDS_FHIR_SERVERS, comma separated) the CDS
	// Hooks service may read a missing prefetch from with the request's fhirAuthorization; none
	// by default.
	CDSFHIRServers []string

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

	// Kafka security in transit (every Kafka client of the process: readers, writers, admin).
	KafkaTLS                   bool   // MRHUB_KAFKA_TLS: connect to the brokers over TLS
	KafkaTLSCAFile             string // MRHUB_KAFKA_TLS_CA_FILE: PEM CA bundle (default: the system roots)
	KafkaTLSCertFile           string // MRHUB_KAFKA_TLS_CERT_FILE: PEM client certificate (mutual TLS, optional)
	KafkaTLSKeyFile            string // MRHUB_KAFKA_TLS_KEY_FILE: PEM key of the client certificate
	KafkaTLSInsecureSkipVerify bool   // MRHUB_KAFKA_TLS_INSECURE_SKIP_VERIFY: do not verify the brokers' certificates (testing only)
	KafkaSASLMechanism         string // MRHUB_KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 ("" = no SASL)
	KafkaSASLUsername          string // MRHUB_KAFKA_SASL_USERNAME
	KafkaSASLPassword          Secret // MRHUB_KAFKA_SASL_PASSWORD (never printed)
	KafkaSASLPasswordFile      string // MRHUB_KAFKA_SASL_PASSWORD_FILE: file holding the password (trailing newline ignored)

	// HTTP TLS: the server speaks HTTPS (TLS ≥ 1.2) when both are set.
	HTTPTLSCertFile string // MRHUB_HTTP_TLS_CERT_FILE: PEM certificate chain
	HTTPTLSKeyFile  string // MRHUB_HTTP_TLS_KEY_FILE: PEM private key

	badEnv string // environment values that did not parse, reported by Validate
}

// Secret is a string that prints as "[redacted]" (fmt, %v/%+v/%#v of a Config, JSON), so a
// logged configuration never shows it. Use string(s) to read it.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalText keeps the secret out of JSON/YAML encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// SASL mechanisms accepted in MRHUB_KAFKA_SASL_MECHANISM.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

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
		ReplicaMaxLag:   5 * time.Second,
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
	if v := os.Getenv("MRHUB_DATABASE_REPLICA_URLS"); v != "" {
		c.DatabaseReplicaURLs = splitList(v)
	}
	if v := os.Getenv("MRHUB_REPLICA_MAX_LAG"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			c.ReplicaMaxLag = d
		} else {
			c.ReplicaMaxLag = -1
		}
	}
	str("MRHUB_HTTP_ADDR", &c.HTTPAddr)
	if v := os.Getenv("MRHUB_CDS_FHIR_SERVERS"); v != "" {
		c.CDSFHIRServers = splitList(v)
	}
	str("MRHUB_GROUP_ID", &c.GroupID)
	str("MRHUB_ID_KEY", &c.IDKeyHex)
	str("MRHUB_ID_KEY_FILE", &c.IDKeyFile)
	str("MRHUB_TIME_ZONE", &c.TimeZone)
	str("MRHUB_LOG_LEVEL", &c.LogLevel)
	str("MRHUB_LOG_FORMAT", &c.LogFormat)
	boolean := func(name string, dst *bool) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				c.badEnv += fmt.Sprintf("%s must be true or false, got %q\n", name, v)
				return
			}
			*dst = b
		}
	}
	boolean("MRHUB_KAFKA_TLS", &c.KafkaTLS)
	boolean("MRHUB_KAFKA_TLS_INSECURE_SKIP_VERIFY", &c.KafkaTLSInsecureSkipVerify)
	str("MRHUB_KAFKA_TLS_CA_FILE", &c.KafkaTLSCAFile)
	str("MRHUB_KAFKA_TLS_CERT_FILE", &c.KafkaTLSCertFile)
	str("MRHUB_KAFKA_TLS_KEY_FILE", &c.KafkaTLSKeyFile)
	str("MRHUB_KAFKA_SASL_MECHANISM", &c.KafkaSASLMechanism)
	str("MRHUB_KAFKA_SASL_USERNAME", &c.KafkaSASLUsername)
	str("MRHUB_KAFKA_SASL_PASSWORD_FILE", &c.KafkaSASLPasswordFile)
	if v := os.Getenv("MRHUB_KAFKA_SASL_PASSWORD"); v != "" {
		c.KafkaSASLPassword = Secret(v)
	}
	str("MRHUB_HTTP_TLS_CERT_FILE", &c.HTTPTLSCertFile)
	str("MRHUB_HTTP_TLS_KEY_FILE", &c.HTTPTLSKeyFile)
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
	fs.Func("database-replica-urls", "PostgreSQL streaming replicas for the HTTP read paths, comma separated (env MRHUB_DATABASE_REPLICA_URLS; default none)", func(s string) error {
		c.DatabaseReplicaURLs = splitList(s)
		return nil
	})
	fs.DurationVar(&c.ReplicaMaxLag, "replica-max-lag", c.ReplicaMaxLag, "skip a replica lagging more than this (env MRHUB_REPLICA_MAX_LAG)")
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
	c.RegisterKafkaSecurityFlags(fs)
	fs.StringVar(&c.HTTPTLSCertFile, "http-tls-cert-file", c.HTTPTLSCertFile, "PEM certificate: serve HTTPS (env MRHUB_HTTP_TLS_CERT_FILE; needs --http-tls-key-file)")
	fs.StringVar(&c.HTTPTLSKeyFile, "http-tls-key-file", c.HTTPTLSKeyFile, "PEM private key of --http-tls-cert-file (env MRHUB_HTTP_TLS_KEY_FILE)")
}

// RegisterKafkaSecurityFlags binds the Kafka TLS and SASL flags to c. There is no flag for the
// SASL password (command lines are visible to other users): use MRHUB_KAFKA_SASL_PASSWORD or
// --kafka-sasl-password-file.
func (c *Config) RegisterKafkaSecurityFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.KafkaTLS, "kafka-tls", c.KafkaTLS, "connect to Kafka over TLS (env MRHUB_KAFKA_TLS)")
	fs.StringVar(&c.KafkaTLSCAFile, "kafka-tls-ca-file", c.KafkaTLSCAFile, "PEM CA bundle that signs the brokers' certificates; default the system roots (env MRHUB_KAFKA_TLS_CA_FILE)")
	fs.StringVar(&c.KafkaTLSCertFile, "kafka-tls-cert-file", c.KafkaTLSCertFile, "PEM client certificate for mutual TLS (env MRHUB_KAFKA_TLS_CERT_FILE)")
	fs.StringVar(&c.KafkaTLSKeyFile, "kafka-tls-key-file", c.KafkaTLSKeyFile, "PEM key of the client certificate (env MRHUB_KAFKA_TLS_KEY_FILE)")
	fs.BoolVar(&c.KafkaTLSInsecureSkipVerify, "kafka-tls-insecure-skip-verify", c.KafkaTLSInsecureSkipVerify, "do NOT verify the brokers' certificates: testing only (env MRHUB_KAFKA_TLS_INSECURE_SKIP_VERIFY)")
	fs.StringVar(&c.KafkaSASLMechanism, "kafka-sasl-mechanism", c.KafkaSASLMechanism, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty = no SASL (env MRHUB_KAFKA_SASL_MECHANISM)")
	fs.StringVar(&c.KafkaSASLUsername, "kafka-sasl-username", c.KafkaSASLUsername, "SASL user (env MRHUB_KAFKA_SASL_USERNAME)")
	fs.StringVar(&c.KafkaSASLPasswordFile, "kafka-sasl-password-file", c.KafkaSASLPasswordFile, "file holding the SASL password (env MRHUB_KAFKA_SASL_PASSWORD_FILE; or MRHUB_KAFKA_SASL_PASSWORD)")
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
	for i, u := range c.DatabaseReplicaURLs {
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			bad("MRHUB_DATABASE_REPLICA_URLS entry %d is not a postgres:// URL", i+1) // the value may hold a password
		}
	}
	if c.ReplicaMaxLag <= 0 {
		bad("MRHUB_REPLICA_MAX_LAG must be a positive duration such as 5s")
	}
	for _, u := range c.CDSFHIRServers {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			bad("MRHUB_CDS_FHIR_SERVERS entry %q is not an http(s):// FHIR base URL", u)
		}
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
	if err := c.ValidateKafkaSecurity(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.HTTPTLSCertFile != "" && c.HTTPTLSKeyFile == "":
		bad("MRHUB_HTTP_TLS_CERT_FILE is set but MRHUB_HTTP_TLS_KEY_FILE is not: HTTPS needs both")
	case c.HTTPTLSCertFile == "" && c.HTTPTLSKeyFile != "":
		bad("MRHUB_HTTP_TLS_KEY_FILE is set but MRHUB_HTTP_TLS_CERT_FILE is not: HTTPS needs both")
	case c.HTTPTLSCertFile != "":
		checkFile(&errs, "MRHUB_HTTP_TLS_CERT_FILE", c.HTTPTLSCertFile)
		checkFile(&errs, "MRHUB_HTTP_TLS_KEY_FILE", c.HTTPTLSKeyFile)
	}
	return errors.Join(errs...)
}

// ValidateKafkaSecurity reports invalid Kafka TLS/SASL settings (and unparsable environment
// values). Commands that only publish call it instead of Validate.
func (c Config) ValidateKafkaSecurity() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, line := range splitLines(c.badEnv) {
		bad("%s", line)
	}
	if !c.KafkaTLS {
		for _, f := range []struct{ name, v string }{
			{"MRHUB_KAFKA_TLS_CA_FILE", c.KafkaTLSCAFile},
			{"MRHUB_KAFKA_TLS_CERT_FILE", c.KafkaTLSCertFile},
			{"MRHUB_KAFKA_TLS_KEY_FILE", c.KafkaTLSKeyFile},
		} {
			if f.v != "" {
				bad("%s is set but MRHUB_KAFKA_TLS is not true: set MRHUB_KAFKA_TLS=true to connect over TLS", f.name)
			}
		}
		if c.KafkaTLSInsecureSkipVerify {
			bad("MRHUB_KAFKA_TLS_INSECURE_SKIP_VERIFY is set but MRHUB_KAFKA_TLS is not true")
		}
	} else {
		switch {
		case c.KafkaTLSCertFile != "" && c.KafkaTLSKeyFile == "":
			bad("MRHUB_KAFKA_TLS_CERT_FILE is set but MRHUB_KAFKA_TLS_KEY_FILE is not: a client certificate needs its key")
		case c.KafkaTLSCertFile == "" && c.KafkaTLSKeyFile != "":
			bad("MRHUB_KAFKA_TLS_KEY_FILE is set but MRHUB_KAFKA_TLS_CERT_FILE is not: a client key needs its certificate")
		}
		checkFile(&errs, "MRHUB_KAFKA_TLS_CA_FILE", c.KafkaTLSCAFile)
		checkFile(&errs, "MRHUB_KAFKA_TLS_CERT_FILE", c.KafkaTLSCertFile)
		checkFile(&errs, "MRHUB_KAFKA_TLS_KEY_FILE", c.KafkaTLSKeyFile)
	}
	mech := c.SASLMechanism()
	switch mech {
	case "":
		if c.KafkaSASLUsername != "" || c.KafkaSASLPassword != "" || c.KafkaSASLPasswordFile != "" {
			bad("MRHUB_KAFKA_SASL_USERNAME/PASSWORD are set but MRHUB_KAFKA_SASL_MECHANISM is not: set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.KafkaSASLUsername == "" {
			bad("MRHUB_KAFKA_SASL_MECHANISM is %s but MRHUB_KAFKA_SASL_USERNAME is empty", mech)
		}
		switch {
		case c.KafkaSASLPassword != "" && c.KafkaSASLPasswordFile != "":
			bad("both MRHUB_KAFKA_SASL_PASSWORD and MRHUB_KAFKA_SASL_PASSWORD_FILE are set: give one")
		case c.KafkaSASLPassword == "" && c.KafkaSASLPasswordFile == "":
			bad("MRHUB_KAFKA_SASL_MECHANISM is %s but no password: set MRHUB_KAFKA_SASL_PASSWORD or MRHUB_KAFKA_SASL_PASSWORD_FILE", mech)
		default:
			checkFile(&errs, "MRHUB_KAFKA_SASL_PASSWORD_FILE", c.KafkaSASLPasswordFile)
		}
	default:
		bad("MRHUB_KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.KafkaSASLMechanism)
	}
	return errors.Join(errs...)
}

// SASLMechanism returns MRHUB_KAFKA_SASL_MECHANISM normalized (upper case, "_" read as "-").
func (c Config) SASLMechanism() string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(c.KafkaSASLMechanism), "_", "-"))
}

// SASLPassword returns the SASL password from MRHUB_KAFKA_SASL_PASSWORD or the file.
func (c Config) SASLPassword() (string, error) {
	if c.KafkaSASLPassword != "" {
		return string(c.KafkaSASLPassword), nil
	}
	if c.KafkaSASLPasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.KafkaSASLPasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading MRHUB_KAFKA_SASL_PASSWORD_FILE: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("MRHUB_KAFKA_SASL_PASSWORD_FILE %s is empty", c.KafkaSASLPasswordFile)
	}
	return p, nil
}

// SecurityWarnings lists settings that work but weaken security in transit; the hub logs them
// at start.
func (c Config) SecurityWarnings() []string {
	var w []string
	if c.KafkaTLS && c.KafkaTLSInsecureSkipVerify {
		w = append(w, "MRHUB_KAFKA_TLS_INSECURE_SKIP_VERIFY=true: the Kafka brokers' certificates are NOT verified; "+
			"anyone on the network path can impersonate the brokers and read or alter reports and credentials. Testing only: set MRHUB_KAFKA_TLS_CA_FILE instead")
	}
	if c.SASLMechanism() == SASLPlain && !c.KafkaTLS {
		w = append(w, "MRHUB_KAFKA_SASL_MECHANISM=PLAIN without MRHUB_KAFKA_TLS: the Kafka password crosses the network in clear text")
	}
	if c.SASLMechanism() != "" && !c.KafkaTLS {
		w = append(w, "Kafka SASL without TLS: reports (personal health data) cross the network unencrypted")
	}
	return w
}

func checkFile(errs *[]error, name, path string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		*errs = append(*errs, fmt.Errorf("%s: %v", name, err))
	case st.IsDir():
		*errs = append(*errs, fmt.Errorf("%s: %s is a directory, not a file", name, path))
	}
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
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
