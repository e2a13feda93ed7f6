package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// minHashKeyLen is the shortest HMAC key NewHasher accepts.
const minHashKeyLen = 16

// Hasher computes keyed hashes (HMAC-SHA256) of personal identifiers, so that the database can
// match them without ever holding the plaintext. The key is owned by the operator; losing it
// makes every stored hash unmatchable, leaking it makes them guessable. A Hasher is safe for
// concurrent use; the zero Hasher is not usable (use NewHasher).
type Hasher struct {
	pool sync.Pool // of hash.Hash (HMAC with the key), reset before use
}

// NewHasher returns a Hasher for key, which must be at least 16 bytes. The key is copied.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < minHashKeyLen {
		return nil, fmt.Errorf("identity hash key is %d bytes, want at least %d", len(key), minHashKeyLen)
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, k) }
	return h, nil
}

// Hash returns HMAC-SHA256(key, kind "|" issuer "|" normalised value), 32 bytes. kind is the
// identifier kind ("nid" resident ID, "ins" medical-insurance number, "mrn" an institution's
// patient number, "phone"); issuer is the institution code for "mrn" and "" otherwise.
// Normalisation: nid upper-cased and trimmed; ins trimmed, inner spaces removed, upper-cased;
// phone reduced to its digits without a leading +86/0086 country code; anything else trimmed.
func (h *Hasher) Hash(kind, issuer, value string) []byte {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(kind))
	m.Write([]byte{'|'})
	m.Write([]byte(issuer))
	m.Write([]byte{'|'})
	m.Write([]byte(hashNormalize(kind, value)))
	sum := m.Sum(make([]byte, 0, sha256.Size))
	h.pool.Put(m)
	return sum
}

// hashNormalize is the normalisation Hash and Mask apply to a value of the given kind.
func hashNormalize(kind, value string) string {
	value = strings.TrimSpace(value)
	switch kind {
	case "nid":
		return NormalizeResidentID(value)
	case "ins":
		return strings.ToUpper(strings.Join(strings.Fields(value), ""))
	case "phone":
		var b strings.Builder
		for _, r := range value {
			if r >= '0' && r <= '9' {
				b.WriteRune(r)
			}
		}
		d := b.String()
		switch {
		case strings.HasPrefix(value, "+86") && len(d) > 2:
			d = d[2:]
		case strings.HasPrefix(d, "0086") && len(d) > 4:
			d = d[4:]
		}
		return d
	}
	return value
}
