package cdshooks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/decisions"
	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/telemetry"
)

// Service ids and hooks.
const (
	ServiceSelect   = "mrhub-recognition-select" // answers order-select
	ServiceSign     = "mrhub-recognition-sign"   // answers order-sign
	HookOrderSelect = "order-select"
	HookOrderSign   = "order-sign"
)

// Code systems of the codings the service writes.
const (
	// DeclineReasonSystem is the system of the override reasons: the region's decline reasons
	// (互认 decline reasons, catalogue "reasons"), code = the reason's number.
	DeclineReasonSystem = "http://mrhub.example/CodeSystem/decline-reason"
	// TopicSystem is the system of the cards' source topic.
	TopicSystem = "http://mrhub.example/CodeSystem/cds-topic"
	// TopicRecognizable is the topic of every card: a prior result recognisable now.
	TopicRecognizable = "recognizable-result"
)

// UnspecifiedDepartment is the department recorded when the EHR sends neither a PractitionerRole
// nor an Encounter naming one.
const UnspecifiedDepartment = "unspecified"

// Hub is what the service needs of the HTTP API server (httpapi.Server): its token check and
// limits, its patient lookup, its "recognisable now" answer and its reminders.
type Hub interface {
	Guard(public func(*http.Request) bool, h http.Handler) http.Handler
	PatientsByIdentifier(ctx context.Context, system, value string) ([]int64, error)
	Answer(ctx context.Context, p *auth.Principal, pids []int64, items []*catalog.Item) (*httpapi.RecognizableResponse, error)
	Remind(ctx context.Context, p *auth.Principal, pid int64, items []httpapi.ItemJSON) error
	MarkWrite(ctx context.Context)
}

// Options configures a Service. Hub, Pool, Catalog and Decisions are required.
type Options struct {
	Hub       Hub
	Pool      *pgxpool.Pool // cards and feedback are written here (the primary)
	Catalog   *catalog.Catalog
	Decisions *decisions.Store
	Log       *zap.Logger    // default: no-op
	Location  *time.Location // dates in cards; default UTC+8
	// FHIRServers are the EHR FHIR base URLs the service may read a missing prefetch from (with
	// the request's fhirAuthorization). Empty: it never calls out, and a call without the
	// patient in prefetch is answered 412.
	FHIRServers []string
	Client      *http.Client     // for those reads; default a client with a 3 s timeout
	Now         func() time.Time // default time.Now
	// EHRPatients are the patients the EHR page offers to pick (the demo's simulated ones;
	// synthetic data only), served as /ehr/patients.json.
	EHRPatients []EHRPatient
}

// Service is the CDS Hooks service. Create it with New.
type Service struct {
	opt      Options
	hub      Hub
	pool     *pgxpool.Pool
	cat      *catalog.Catalog
	dec      *decisions.Store
	log      *zap.Logger
	defs     []ServiceDef
	reasons  map[string][]Coding // by language
	handler  http.Handler
	maxFetch int64
}

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Hub == nil || o.Pool == nil || o.Catalog == nil || o.Decisions == nil {
		return nil, errors.New("cdshooks: Hub, Pool, Catalog and Decisions are required")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Location == nil {
		o.Location = time.FixedZone("CST", 8*3600)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 3 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{opt: o, hub: o.Hub, pool: o.Pool, cat: o.Catalog, dec: o.Decisions, log: o.Log,
		defs: Services(), reasons: map[string][]Coding{}, maxFetch: 1 << 20}
	for _, r := range o.Catalog.Region().Reasons {
		code := strconv.Itoa(r.Code)
		s.reasons[langZH] = append(s.reasons[langZH], Coding{Code: code, System: DeclineReasonSystem, Display: r.Name})
		s.reasons[langEN] = append(s.reasons[langEN], Coding{Code: code, System: DeclineReasonSystem, Display: r.NameEn})
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			telemetry.SetRoute(r.Context(), pattern)
			h(w, r)
		}))
	}
	callers := func(h http.HandlerFunc) http.HandlerFunc {
		return auth.Require(h, auth.RoleHIS, auth.RoleClinician).ServeHTTP
	}
	handle("GET /cds-services", s.discovery)
	handle("POST /cds-services/{id}", callers(s.call))
	handle("POST /cds-services/{id}/feedback", callers(s.feedback))
	handle("/cds-services/", func(w http.ResponseWriter, r *http.Request) {
		auth.WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("%s %s: no such route (GET /cds-services lists the services; POST /cds-services/{id} calls one; POST /cds-services/{id}/feedback takes its feedback)", r.Method, r.URL.Path))
	})
	public := func(r *http.Request) bool { return r.URL.Path == "/cds-services" && r.Method == http.MethodGet }
	s.handler = o.Hub.Guard(public, mux)
	return s, nil
}

// Handler returns the service's routes under /cds-services.
func (s *Service) Handler() http.Handler { return s.handler }

// Routes returns the patterns and handlers to mount on the hub's server: the service under
// /cds-services and the EHR page that plays a hospital's ordering screen under /ehr/.
func (s *Service) Routes() map[string]http.Handler {
	return map[string]http.Handler{"/cds-services": s.handler, "/cds-services/": s.handler, "GET /ehr/": EHRHandler(s.cat, s.opt.EHRPatients)}
}

// Services returns the service definitions GET /cds-services lists.
func Services() []ServiceDef {
	prefetch := func() map[string]string {
		return map[string]string{
			"patient":   "Patient/{{context.patientId}}",
			"user":      "PractitionerRole?_id={{userPractitionerRoleId}}",
			"encounter": "Encounter/{{context.encounterId}}",
		}
	}
	const usage = "Needs a hub token (role his or clinician) as the bearer token; prefetch.patient must carry the patient's identifiers (resident ID, medical-insurance number or the institution's MRN). The ordering department is read from prefetch.user (PractitionerRole.specialty) or prefetch.encounter (Encounter.serviceType)."
	return []ServiceDef{
		{Hook: HookOrderSelect, ID: ServiceSelect, Title: "检查检验结果互认 Mutual recognition of prior results (order-select)",
			Description: "When lab tests or examinations are selected, shows one card per selected item for which the patient has a prior result recognisable now for the ordering institution (互认), with its values, abnormal flags and trend; accepting the card's suggestion cancels the order and records a recognition, overriding it with one of the region's decline reasons records a decline.",
			Prefetch:    prefetch(), UsageRequirements: usage},
		{Hook: HookOrderSign, ID: ServiceSign, Title: "检查检验结果互认 Mutual recognition of prior results (order-sign)",
			Description: "When orders are signed, shows one card per ordered lab test or examination for which the patient has a prior result recognisable now for the ordering institution (互认); feedback is recorded as for order-select.",
			Prefetch:    prefetch(), UsageRequirements: usage},
	}
}

func (s *Service) def(id string) (ServiceDef, bool) {
	for _, d := range s.defs {
		if d.ID == id {
			return d, true
		}
	}
	return ServiceDef{}, false
}

func (s *Service) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Discovery{Services: s.defs})
}

// failure is an error answered with its status.
type failure struct {
	status int
	code   string
	msg    string
}

func (f *failure) Error() string { return f.msg }

func bad(format string, a ...any) *failure {
	return &failure{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, a...)}
}

// fail answers err: a *failure or *decisions.Error with its status, timeouts 503, else 500.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var f *failure
	var de *decisions.Error
	switch {
	case errors.As(err, &f):
		auth.WriteError(w, r, f.status, f.code, f.msg)
	case errors.As(err, &de):
		auth.WriteError(w, r, de.Status, de.Code, de.Message)
	case httpapi.IsBadRequest(err):
		auth.WriteError(w, r, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		auth.RetryAfter(w, time.Second)
		auth.WriteError(w, r, http.StatusServiceUnavailable, "timeout", "the request took too long; retry")
	case errors.Is(err, context.Canceled):
	default:
		s.log.Error("CDS Hooks request failed", zap.String("path", r.URL.Path), zap.Error(err))
		auth.WriteError(w, r, http.StatusInternalServerError, "internal", "internal error")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readJSON decodes the request body into v: 413 over the limit, 400 for anything but one JSON
// object of v's shape.
// serviceAndBody finds the service the path names and reads the JSON body into v, answering
// 404 or 400 itself when it cannot.
func (s *Service) serviceAndBody(w http.ResponseWriter, r *http.Request, v any, what string) (ServiceDef, bool) {
	def, ok := s.def(r.PathValue("id"))
	if !ok {
		auth.WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no CDS service %q: GET /cds-services lists them", r.PathValue("id")))
		return def, false
	}
	if err := readJSON(r, v, what); err != nil {
		s.fail(w, r, err)
		return def, false
	}
	return def, true
}

func readJSON(r *http.Request, v any, what string) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &failure{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
		}
		return bad("reading the request body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 || strings.TrimSpace(string(b))[0] != '{' {
		return bad("the body must be a JSON object (%s)", what)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return bad("%s: must be %s, not a JSON %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
		}
		return bad("the body is not a valid %s: %v", what, err)
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[x>>4], hex[x&15])
	}
	return string(out)
}

// isUUID reports whether s is a UUID in its canonical text form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// baseURL is the hub's own base URL as the caller reached it, e.g. https://hub.example.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}
