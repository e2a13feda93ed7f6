package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Principal is the authenticated caller.
type Principal struct {
	TokenID int64
	Role    string
	Org     string // institution code (his, clinician), district or institution (bureau)
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the caller authenticated by the middleware, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// Authenticator checks bearer tokens against api_tokens, caching results for CacheTTL. With
// Listen running, a revocation drops the token from the cache at once.
type Authenticator struct {
	DB       DB
	CacheTTL time.Duration    // 0 = DefaultCacheTTL; negative = no cache
	Now      func() time.Time // for tests; default time.Now

	mu    sync.Mutex
	cache map[string]cached
	gen   uint64 // bumped by every drop: a lookup that started before one is not cached
}

// DefaultCacheTTL bounds how long a revoked token may still be accepted by a hub whose
// revocation listener (Listen) lost a notification.
const DefaultCacheTTL = 5 * time.Second

func (a *Authenticator) ttl() time.Duration {
	if a.CacheTTL == 0 {
		return DefaultCacheTTL
	}
	return a.CacheTTL
}

type cached struct {
	p       *Principal // nil = rejected
	expires time.Time  // of the cache entry
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authenticate returns the principal of token, or ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return nil, ErrUnauthenticated
	}
	key := string(Hash(token))
	ttl := a.ttl()
	now := a.now()
	var gen uint64
	if ttl > 0 {
		a.mu.Lock()
		c, ok := a.cache[key]
		gen = a.gen
		a.mu.Unlock()
		if ok && now.Before(c.expires) {
			if c.p == nil {
				return nil, ErrUnauthenticated
			}
			return c.p, nil
		}
	}
	var p Principal
	var expires time.Time
	var revoked *time.Time
	err := a.DB.QueryRow(ctx, `SELECT id, role, org, expires_at, revoked_at FROM api_tokens WHERE token_hash = $1`, []byte(key)).
		Scan(&p.TokenID, &p.Role, &p.Org, &expires, &revoked)
	var res *Principal
	cacheUntil := now.Add(ttl)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("checking token: %w", err)
	case revoked != nil || !now.Before(expires):
	default:
		res = &p
		if expires.Before(cacheUntil) {
			cacheUntil = expires
		}
	}
	if ttl > 0 {
		a.mu.Lock()
		if a.gen == gen { // else a revocation was announced meanwhile: the answer may be stale
			if a.cache == nil || len(a.cache) > 100_000 {
				a.cache = map[string]cached{}
			}
			a.cache[key] = cached{p: res, expires: cacheUntil}
		}
		a.mu.Unlock()
	}
	if res == nil {
		return nil, ErrUnauthenticated
	}
	return res, nil
}

// Middleware requires a valid bearer token on every request for which public returns false, and
// puts the Principal into the request context.
func (a *Authenticator) Middleware(public func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public != nil && public(r) {
			next.ServeHTTP(w, r)
			return
		}
		h := r.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mrhub"`)
			WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "send Authorization: Bearer <token> (create one with `mrhub token create`)")
			return
		}
		p, err := a.Authenticate(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			if errors.Is(err, ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mrhub", error="invalid_token"`)
				WriteError(w, r, http.StatusUnauthorized, "invalid_token", "the bearer token is unknown, expired or revoked")
				return
			}
			WriteError(w, r, http.StatusServiceUnavailable, "unavailable", "cannot check the token now; retry")
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Require answers 403 unless the caller (authenticated by Middleware) has one of roles.
func Require(next http.Handler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := FromContext(r.Context())
		if p == nil {
			WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "authentication required")
			return
		}
		for _, role := range roles {
			if p.Role == role {
				next.ServeHTTP(w, r)
				return
			}
		}
		WriteError(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not use this route (allowed: %s)", p.Role, strings.Join(roles, ", ")))
	})
}

// IsFHIR reports whether r is under /fhir, where errors are OperationOutcomes.
func IsFHIR(r *http.Request) bool {
	return r.URL.Path == "/fhir" || strings.HasPrefix(r.URL.Path, "/fhir/")
}

// WriteError writes an error: a FHIR OperationOutcome (application/fhir+json) under /fhir, else
// {"error":{"code":…,"message":…}}.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if IsFHIR(r) {
		WriteOutcome(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// WriteOutcome writes an OperationOutcome with one error issue whose code follows status.
func WriteOutcome(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity": "error", "code": IssueType(status), "diagnostics": msg,
		}},
	})
}

// IssueType maps an HTTP status to a FHIR issue-type code.
func IssueType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not-found"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusRequestEntityTooLarge:
		return "too-long"
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable:
		return "not-supported"
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "timeout"
	}
	if status >= 500 {
		return "exception"
	}
	return "processing"
}

// RetryAfter sets Retry-After in whole seconds (at least 1).
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
}
