package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Roles.
const (
	RoleHIS       = "his"       // a hospital information system: publishes reports and decisions
	RoleClinician = "clinician" // reads patient data for its institution
	RoleBureau    = "bureau"    // reads aggregates only
	RoleAdmin     = "admin"     // manages reference data
)

// Roles lists every role.
var Roles = []string{RoleHIS, RoleClinician, RoleBureau, RoleAdmin}

// DefaultTTL is the lifetime of a token created without one.
const DefaultTTL = 90 * 24 * time.Hour

const tokenPrefix = "mrh_"

// Sentinel errors.
var (
	ErrUnauthenticated = errors.New("missing, unknown, expired or revoked token")
	ErrInvalidRole     = errors.New("invalid role")
	ErrUnknownOrg      = errors.New("unknown organisation")
	ErrNotFound        = errors.New("token not found")
)

// DB is what the token functions need; *pgxpool.Pool and pgx.Tx satisfy it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Token is a stored token, without its secret.
type Token struct {
	ID        int64      `json:"id"`
	Role      string     `json:"role"`
	Org       string     `json:"org"`
	Label     string     `json:"label,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Hash returns the stored form of a token.
func Hash(token string) []byte {
	s := sha256.Sum256([]byte(token))
	return s[:]
}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Create stores a new token for role and org, valid for ttl (DefaultTTL when ttl <= 0), and
// returns the token. org must name an institution (code or region code; stored as the code); a
// bureau token may name a district instead; an admin token may name anything non-empty.
func Create(ctx context.Context, db DB, role, org string, ttl time.Duration) (string, error) {
	tok, _, err := CreateToken(ctx, db, role, org, ttl, "")
	return tok, err
}

// CreateToken is Create with a label, also returning the stored record.
func CreateToken(ctx context.Context, db DB, role, org string, ttl time.Duration, label string) (string, Token, error) {
	if !ValidRole(role) {
		return "", Token{}, fmt.Errorf("%w %q: want one of %s", ErrInvalidRole, role, strings.Join(Roles, ", "))
	}
	org = strings.TrimSpace(org)
	if org == "" {
		return "", Token{}, fmt.Errorf("%w: --org is required (the institution's code)", ErrUnknownOrg)
	}
	canon, err := resolveOrg(ctx, db, role, org)
	if err != nil {
		return "", Token{}, err
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, fmt.Errorf("generating token: %w", err)
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	t := Token{Role: role, Org: canon, Label: label}
	err = db.QueryRow(ctx, `INSERT INTO api_tokens(token_hash, role, org, label, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING id, created_at, expires_at`,
		Hash(tok), role, canon, label, fmt.Sprintf("%d microseconds", ttl.Microseconds())).Scan(&t.ID, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return "", Token{}, fmt.Errorf("storing token: %w", err)
	}
	return tok, t, nil
}

func resolveOrg(ctx context.Context, db DB, role, org string) (string, error) {
	var code string
	err := db.QueryRow(ctx, `SELECT code FROM institutions WHERE code = $1 OR region_code = $1 ORDER BY code = $1 DESC LIMIT 1`, org).Scan(&code)
	if err == nil {
		return code, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("looking up organisation: %w", err)
	}
	switch role {
	case RoleAdmin:
		return org, nil
	case RoleBureau:
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM districts WHERE code = $1`, org).Scan(&n); err != nil {
			return "", fmt.Errorf("looking up district: %w", err)
		}
		if n == 1 {
			return org, nil
		}
		return "", fmt.Errorf("%w %q: a bureau token names a district code or an institution code", ErrUnknownOrg, org)
	}
	return "", fmt.Errorf("%w %q: a %s token names an institution of the region (unified social credit code or region code)", ErrUnknownOrg, org, role)
}

// Revoke revokes token id. Revoking a revoked token keeps the first revocation time.
func Revoke(ctx context.Context, db DB, id int64) error {
	tag, err := db.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoking token %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	return nil
}

// List returns every token, newest first.
func List(ctx context.Context, db DB) ([]Token, error) {
	rows, err := db.Query(ctx, `SELECT id, role, org, label, created_at, expires_at, revoked_at FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := r.Scan(&t.ID, &t.Role, &t.Org, &t.Label, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return out, nil
}
