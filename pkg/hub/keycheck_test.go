package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/hub"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestHubRefusesAnotherIdentityKey: the first hub records its key's fingerprint; a hub started
// on the same database with another key refuses to start with a message that says what to do
// and shows neither key; the original key still starts.
func TestHubRefusesAnotherIdentityKey(t *testing.T) {
	dsn, pool := testenv.DB(t)
	ctx := context.Background()
	cfg := testenv.Config(dsn, []string{"127.0.0.1:1"}) // no broker is contacted by Open
	h, err := hub.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	h.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM identity_key`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("fingerprints recorded: %d (%v), want 1", n, err)
	}

	other := cfg
	other.IDKeyHex = testenv.Key()
	_, err = hub.Open(ctx, other, zap.NewNop())
	if !errors.Is(err, identity.ErrKeyMismatch) {
		t.Fatalf("start with another key: %v, want ErrKeyMismatch", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "MRHUB_ID_KEY") || !strings.Contains(msg, "original key") {
		t.Errorf("the message does not say what to do: %s", msg)
	}
	if strings.Contains(msg, cfg.IDKeyHex[:12]) || strings.Contains(msg, other.IDKeyHex[:12]) {
		t.Errorf("the message shows a key: %s", msg)
	}

	h, err = hub.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("restart with the original key: %v", err)
	}
	h.Close()
}
