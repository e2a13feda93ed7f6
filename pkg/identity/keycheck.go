package identity

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// fingerprintKind is an identifier kind no identifier has: its hash names the key.
const fingerprintKind = "key-fingerprint"

// Fingerprint identifies the key without revealing it: the keyed hash of a fixed label.
func (h *Hasher) Fingerprint() []byte {
	return h.Hash(fingerprintKind, "", "mrhub identity key v1")
}

// ErrKeyMismatch is returned by CheckKey when the database's hashes were made with another key.
var ErrKeyMismatch = errors.New("identity key mismatch")

// KeyDB is what CheckKey needs of the database.
type KeyDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CheckKey records h's fingerprint in a database that has none, and otherwise fails with
// ErrKeyMismatch unless the recorded fingerprint is h's.
func CheckKey(ctx context.Context, db KeyDB, h *Hasher) error {
	fp := h.Fingerprint()
	if _, err := db.Exec(ctx, `INSERT INTO identity_key (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING`, fp); err != nil {
		return fmt.Errorf("recording the identity key's fingerprint: %w", err)
	}
	var stored []byte
	if err := db.QueryRow(ctx, `SELECT fingerprint FROM identity_key`).Scan(&stored); err != nil {
		return fmt.Errorf("reading the identity key's fingerprint: %w", err)
	}
	if !hmac.Equal(stored, fp) {
		return fmt.Errorf("%w: this database's identities were hashed with the key of fingerprint %s, "+
			"but MRHUB_ID_KEY (or MRHUB_ID_KEY_FILE) has fingerprint %s; start with the original key "+
			"(with another key every patient would be new), or use a new database",
			ErrKeyMismatch, hex.EncodeToString(stored[:6]), hex.EncodeToString(fp[:6]))
	}
	return nil
}
