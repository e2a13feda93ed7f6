package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	fastjson "github.com/segmentio/encoding/json"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/stats"
	"github.com/mrhub/mrhub/pkg/verdict"
)

// Options configures a Server. Pool, Catalog and Hasher are required.
type Options struct {
	Pool *pgxpool.Pool
	// Reads routes the read paths to read replicas (nil: every query goes to Pool). Its primary
	// must be Pool.
	Reads   *db.Router
	Catalog *catalog.Catalog
	Hasher  *identity.Hasher
	Log     *zap.Logger // default: no-op

	MaxBodyBytes int64 // default 1 MiB
	// MaxMessageBytes is the ingest size limit $validate applies (MRHUB_MAX_MESSAGE_BYTES),
	// default 2 MiB; a $validate body may be this size plus 64 KiB whatever MaxBodyBytes says.
	MaxMessageBytes int
	RequestTimeout  time.Duration // per request, default 10 s
	MaxInFlight     int           // concurrent requests served, default 64
	MaxQueueWait    time.Duration // how long a request may wait for a slot before 429, default 100 ms
	TokenCacheTTL   time.Duration // see auth.Authenticator.CacheTTL
	Location        *time.Location
	Now             func() time.Time // for tests; default time.Now
}

// Server serves the API. Create it with New.
type Server struct {
	opt     Options
	pool    *pgxpool.Pool
	reads   *db.Router
	cat     *catalog.Catalog
	hasher  *identity.Hasher
	log     *zap.Logger
	authn   *auth.Authenticator
	slots   chan struct{}
	handler http.Handler
	dec     *decisions.Store

	checker *verdict.Checker

	reminders *reminderWriter
	folder    *reminderFolder

	stopListen context.CancelFunc
	listening  chan struct{} // closed when the revocation listener has stopped
}

// New builds a Server.
func New(o Options) (*Server, error) {
	if o.Pool == nil || o.Catalog == nil || o.Hasher == nil {
		return nil, errors.New("httpapi: Pool, Catalog and Hasher are required")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 2 << 20
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.MaxQueueWait <= 0 {
		o.MaxQueueWait = 100 * time.Millisecond
	}
	if o.Location == nil {
		o.Location = time.FixedZone("CST", 8*3600)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Reads == nil {
		var err error
		if o.Reads, err = db.NewRouter(context.Background(), o.Pool, nil, db.RouterOptions{}); err != nil {
			return nil, err
		}
	}
	if o.Reads.Primary() != o.Pool {
		return nil, errors.New("httpapi: Reads must route writes to Pool (its primary)")
	}
	s := &Server{opt: o, pool: o.Pool, reads: o.Reads, cat: o.Catalog, hasher: o.Hasher, log: o.Log,
		authn: &auth.Authenticator{DB: o.Pool, CacheTTL: o.TokenCacheTTL},
		slots: make(chan struct{}, o.MaxInFlight)}
	if o.TokenCacheTTL >= 0 { // with a token cache, revocations announced by the database drop entries at once
		var ctx context.Context
		ctx, s.stopListen = context.WithCancel(context.Background())
		s.listening = make(chan struct{})
		go func() {
			defer close(s.listening)
			s.authn.Listen(ctx, o.Pool, o.Log, nil)
		}()
	}
	s.reminders = newReminderWriter(o.Pool.Exec, o.Log, reminderFlushers)
	s.folder = startReminderFolder(func(ctx context.Context) (int64, error) { return stats.FoldReminders(ctx, o.Pool) },
		s.reminders.written.Load, o.Log, reminderFoldInterval)

	mux := newRouteMux()
	clin := func(h http.HandlerFunc) http.Handler { return auth.Require(h, auth.RoleClinician) }
	mux.HandleFunc("GET /fhir/metadata", s.metadata)
	for _, rt := range []string{"DiagnosticReport", "Observation", "ImagingStudy", "Patient"} {
		mux.Handle("GET /fhir/"+rt, clin(s.search(rt)))
		mux.Handle("GET /fhir/"+rt+"/{id}", clin(s.read(rt)))
	}
	mux.Handle("GET /fhir/DiagnosticReport/{id}/_history", clin(s.history))
	mux.Handle("GET /fhir/DiagnosticReport/{id}/_history/{vid}", clin(s.vread))
	mux.Handle("GET /fhir/Patient/{id}/$everything", clin(http.HandlerFunc(s.everything)))
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		auth.WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("%s %s is not supported: see /fhir/metadata", r.Method, r.URL.Path))
	})
	mux.Handle("GET /api/v1/recognizable", clin(s.recognizable))
	mux.Handle("GET /api/v1/reports/{id}", clin(s.apiReport))
	s.mountDecisions(mux)
	s.mountValidate(mux)
	s.mountPublishing(mux)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		auth.WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("%s %s: no such route", r.Method, r.URL.Path))
	})
	public := func(r *http.Request) bool { return r.URL.Path == "/fhir/metadata" }
	s.handler = s.protect(s.checkInput(s.authn.Middleware(public, mux)))
	return s, nil
}

// Close stops the server's background writer after writing whatever it holds. Call it after the
// HTTP server has shut down (requests still arriving afterwards write their audit rows directly).
func (s *Server) Close() error {
	if s.stopListen != nil {
		s.stopListen()
		<-s.listening
	}
	s.reminders.Close()
	s.folder.Close()
	return nil
}

// reminderFoldInterval is how often reminders reach the statistics rollup while they are being
// written; a statistics query folds before it reads, whatever the interval.
const reminderFoldInterval = time.Second

// Handler returns the whole API (for tests and for mounting under "/").
func (s *Server) Handler() http.Handler { return s.handler }

// Routes returns the patterns and handlers to pass to hub.Serve's extra map.
func (s *Server) Routes() map[string]http.Handler {
	return map[string]http.Handler{"/fhir/": s.handler, "/api/v1/": s.handler}
}

// Protect applies the server's limits (body size, concurrency with 429, timeout) to h; the API
// routes already have them.
func (s *Server) Protect(h http.Handler) http.Handler { return s.protect(h) }

// protect applies the size limit, the concurrency limit and the request timeout.
func (s *Server) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.opt.MaxBodyBytes
		if strings.HasSuffix(r.URL.Path, "/$validate") {
			limit = max(limit, int64(s.opt.MaxMessageBytes)+64<<10) // a whole message, as ingest takes it
		}
		if r.ContentLength > limit {
			auth.WriteError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", limit))
			return
		}
		if len(r.URL.RawQuery) > 8<<10 {
			auth.WriteError(w, r, http.StatusRequestURITooLong, "too_large", "query string over 8 KiB")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		select {
		case s.slots <- struct{}{}:
		default:
			t := time.NewTimer(s.opt.MaxQueueWait)
			select {
			case s.slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				auth.RetryAfter(w, time.Second)
				auth.WriteError(w, r, http.StatusTooManyRequests, "overloaded", "too many requests in flight; retry after the Retry-After delay")
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-s.slots }()
		ctx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// fail answers an error from a handler: bad requests with 400, timeouts with 503, others 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var be *badRequest
	var nf *notFound
	var na *notAcceptable
	switch {
	case errors.As(err, &na):
		auth.WriteError(w, r, http.StatusNotAcceptable, "not_acceptable", na.msg)
	case errors.As(err, &be):
		auth.WriteError(w, r, http.StatusBadRequest, "bad_request", be.msg)
	case errors.As(err, &nf):
		auth.WriteError(w, r, http.StatusNotFound, "not_found", nf.msg)
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		auth.RetryAfter(w, time.Second)
		auth.WriteError(w, r, http.StatusServiceUnavailable, "timeout", "the request took too long; retry")
	case errors.Is(err, context.Canceled):
		// the client went away
	default:
		s.log.Error("request failed", zap.String("path", r.URL.Path), zap.Error(err))
		auth.WriteError(w, r, http.StatusInternalServerError, "internal", "internal error")
	}
}

type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, a ...any) error { return &badRequest{fmt.Sprintf(format, a...)} }

type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

func writeJSON(w http.ResponseWriter, status int, ctype string, v any) {
	b, err := fastjson.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// With its length known, net/http sends the body as it is rather than in 2 KB chunks, in
	// fewer writes (a recognizable answer is tens of KB).
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, "application/fhir+json; charset=utf-8", v)
}

// remoteAddr is the client address: the first X-Forwarded-For hop when present, else the peer.
func remoteAddr(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(first)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// baseURL is the FHIR base of r, e.g. http://127.0.0.1:8080/fhir.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host + "/fhir"
}

var errNoRows = pgx.ErrNoRows
