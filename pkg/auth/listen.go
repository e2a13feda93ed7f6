package auth

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Channel is the PostgreSQL notification channel on which a token's revocation (or any change
// of it) is announced, with the token id as payload (trigger api_tokens_notify, migration 0013).
const Channel = "mrhub_token_changed"

// Listen keeps the cache true to revocations until ctx ends: it LISTENs on Channel on a
// connection of its own (opened with pool's settings, outside the pool) and drops a token from the cache as soon as its change is announced,
// so a revocation takes effect on every hub at once. When the connection is lost, notifications
// may be lost with it: it drops the whole cache, and reconnects with a growing delay (up to
// the cache TTL, which bounds how long a lost notification can matter). ready, if not nil, is
// closed once the first LISTEN is in place. Listen returns when ctx ends.
func (a *Authenticator) Listen(ctx context.Context, pool *pgxpool.Pool, log *zap.Logger, ready chan<- struct{}) {
	if log == nil {
		log = zap.NewNop()
	}
	if a.ttl() < 0 {
		if ready != nil {
			close(ready)
		}
		return // no cache, nothing to drop
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := a.listenOnce(ctx, pool, &ready)
		a.dropAll() // whatever was announced while not listening is unknown
		if ctx.Err() != nil {
			return
		}
		log.Warn("token revocation listener lost its connection; the token cache was dropped, reconnecting", zap.Error(err), zap.Duration("retry_in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > a.ttl() {
			backoff = a.ttl()
		}
	}
}

func (a *Authenticator) listenOnce(ctx context.Context, pool *pgxpool.Pool, ready *chan<- struct{}) error {
	// A connection of its own, with the pool's settings: it sits in LISTEN state and must not
	// take one of the pool's connections from the requests.
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	a.dropAll() // entries cached before the LISTEN may have been revoked meanwhile
	if *ready != nil {
		close(*ready)
		*ready = nil
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			a.dropAll()
			continue
		}
		a.drop(id)
	}
}

// drop removes token id from the cache (and marks any lookup in flight stale).
func (a *Authenticator) drop(id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for k, c := range a.cache {
		if c.p == nil || c.p.TokenID == id {
			delete(a.cache, k) // rejections are cheap to redo, and an id cannot be told from them
		}
	}
}

// dropAll empties the cache.
func (a *Authenticator) dropAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	a.cache = nil
}
