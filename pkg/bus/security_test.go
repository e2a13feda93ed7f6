package bus

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/config"
)

func TestNewSecurityPlaintextIsNil(t *testing.T) {
	sec, err := NewSecurity(config.Default())
	if err != nil || sec != nil {
		t.Fatalf("default config: %v, %v; want nil, nil", sec, err)
	}
	if sec.Dialer() == nil || sec.Transport() != nil || sec.SASL() || sec.TLS() || sec.String() != "plaintext" {
		t.Fatal("nil Security is not a usable plaintext setting")
	}
}

func TestNewSecurityReportsBadSettings(t *testing.T) {
	c := config.Default()
	c.KafkaSASLMechanism = "SCRAM-SHA-1"
	if _, err := NewSecurity(c); err == nil || !strings.Contains(err.Error(), "MRHUB_KAFKA_SASL_MECHANISM") {
		t.Fatalf("bad mechanism: %v", err)
	}
	c = config.Default()
	c.KafkaTLS, c.KafkaTLSCAFile = true, "/nonexistent/ca.pem"
	if _, err := NewSecurity(c); err == nil || !strings.Contains(err.Error(), "MRHUB_KAFKA_TLS_CA_FILE") {
		t.Fatalf("missing CA file: %v", err)
	}
}

// kafka-go reports a broker that drops the connection mid-SASL as EOF / unexpected EOF; the
// message must say what to check and never show the password.
func TestExplainSASLDisconnect(t *testing.T) {
	c := config.Default()
	c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword = "scram-sha-512", "hub", "hunter2-secret"
	sec, err := NewSecurity(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, cause := range []error{io.ErrUnexpectedEOF, io.EOF, syscall.ECONNRESET, kafka.SASLAuthenticationFailed} {
		err := sec.Explain(fmt.Errorf("could not successfully authenticate: %w", cause))
		msg := err.Error()
		if !strings.Contains(msg, "MRHUB_KAFKA_SASL_USERNAME/PASSWORD") || !strings.Contains(msg, "SCRAM-SHA-512") {
			t.Errorf("%v: not explained: %s", cause, msg)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("%v: password in message: %s", cause, msg)
		}
		if !errors.Is(err, cause) {
			t.Errorf("%v: cause lost", cause)
		}
	}
	other := errors.New("topic authorization failed")
	if got := sec.Explain(other); got != other {
		t.Errorf("unrelated error changed: %v", got)
	}
	if strings.Contains(sec.String(), "hunter2") {
		t.Errorf("String shows the password: %s", sec)
	}
}
