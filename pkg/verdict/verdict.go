package verdict

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/index"
	"github.com/mrhub/mrhub/pkg/profile"
)

// Severities of an issue (FHIR IssueSeverity).
const (
	Error       = "error"
	Warning     = "warning"
	Information = "information"
)

// Codes of the warnings and information issues (dead-letter codes are the errors' codes). What
// the hub would do with a report is the information issue hub.<action>: hub.new, hub.unchanged,
// hub.version, hub.history or hub.withdrawal.
const (
	CodeUnmapped      = "catalog.unmapped"
	CodeNotQualified  = "catalog.not_qualified"
	CodeNoRefRange    = "results.no_reference_range"
	CodeExpired       = "recognition.expired"
	CodeNotFinal      = "recognition.not_final"
	CodeAction        = "hub.action"
	CodeItem          = "hub.item"
	CodePatientKeys   = "hub.patient_keys"
	DeadLetterSystem  = "http://mrhub.example/CodeSystem/dead-letter-code"
	VerdictCodeSystem = "http://mrhub.example/CodeSystem/verdict"
	actionNew         = "new"
	actionUnchanged   = "unchanged"
	actionVersion     = "version"
	actionHistory     = "history"
	actionWithdrawal  = "withdrawal"
)

// Querier reads the stored versions (a pool, a connection or a transaction).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Checker gives verdicts. Profile and MaxBytes must be the consumer's (a profile.Profiler's
// Func and MRHUB_MAX_MESSAGE_BYTES), so the verdict is ingest's.
type Checker struct {
	Profile  func(kafka.Message) ([]*index.Entry, *profile.Rejection)
	MaxBytes int
	Catalog  *catalog.Catalog
	DB       Querier          // stored versions; nil: every report counts as new
	Now      func() time.Time // default time.Now
	// Decoder, when set, names the FHIR path of each report and result in the warnings (it
	// reads the message a second time); without it the paths are relative to the report.
	Decoder *fhir.Decoder
}

// paths locates a report and its results in the message.
type paths struct {
	report  string
	results []string
}

func (p paths) result(i int) string {
	if i < len(p.results) {
		return p.results[i]
	}
	return fmt.Sprintf("%s.result[%d]", p.report, i)
}

// locate returns the paths of the reports of an accepted message, in the profile's order (one
// entry per report, in document order).
func (c *Checker) locate(value []byte, n int) []paths {
	out := make([]paths, n)
	for i := range out {
		out[i].report = "DiagnosticReport"
	}
	if c.Decoder == nil {
		return out
	}
	msg, err := c.Decoder.ParseMessage(value)
	if err != nil || len(msg.Reports) != n {
		return out
	}
	for i, r := range msg.Reports {
		out[i].report = r.Path
		for _, o := range r.Results {
			out[i].results = append(out[i].results, o.Path)
		}
	}
	return out
}

// Issue is one finding.
type Issue struct {
	Severity   string   `json:"severity"`
	Code       string   `json:"code"` // dead-letter code for errors, else one of the Code constants
	Message    string   `json:"message"`
	Expression []string `json:"expression,omitempty"` // FHIR path
}

// Report is what the hub would do with one report of the message.
type Report struct {
	ID     string   `json:"id"`     // canonical id
	Action string   `json:"action"` // new | unchanged | version | history | withdrawal
	Item   string   `json:"item"`   // "" when the code is unmapped
	Keys   []string `json:"keys"`   // kind:masked
}

// Verdict is the answer for one message.
type Verdict struct {
	Refused *profile.Rejection `json:"refused,omitempty"` // nil: the message would be indexed
	Reports []Report           `json:"reports"`
	Issues  []Issue            `json:"issues"`
}

// Accepted reports whether the message would be indexed.
func (v *Verdict) Accepted() bool { return v.Refused == nil }

// Warnings counts the warning issues.
func (v *Verdict) Warnings() int {
	n := 0
	for _, is := range v.Issues {
		if is.Severity == Warning {
			n++
		}
	}
	return n
}

// Check gives the verdict on value published by source (header mrhub-source).
func (c *Checker) Check(ctx context.Context, value []byte, source string) (*Verdict, error) {
	if c.Profile == nil || c.Catalog == nil || c.MaxBytes <= 0 {
		return nil, errors.New("verdict: Checker needs Profile, Catalog and MaxBytes")
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	m := kafka.Message{Value: value}
	if source != "" {
		m.Headers = []kafka.Header{{Key: "mrhub-source", Value: []byte(source)}}
	}
	es, rej, _ := profile.Evaluate(c.Profile, c.MaxBytes, m)
	v := &Verdict{Reports: []Report{}, Issues: []Issue{}}
	if rej != nil {
		v.Refused = rej
		is := Issue{Severity: Error, Code: rej.Code, Message: rej.Message}
		if rej.Path != "" {
			is.Expression = []string{rej.Path}
		}
		v.Issues = append(v.Issues, is)
		return v, nil
	}
	at := c.locate(value, len(es))
	for i, e := range es {
		where := ""
		if len(es) > 1 {
			where = fmt.Sprintf("report %d of %d (%s): ", i+1, len(es), e.ID)
		}
		action, err := c.action(ctx, e)
		if err != nil {
			return nil, err
		}
		r := Report{ID: e.ID, Action: action, Item: e.Item, Keys: []string{}}
		for _, k := range e.Patient.Keys {
			r.Keys = append(r.Keys, k.Kind+":"+k.Masked)
		}
		v.Reports = append(v.Reports, r)
		v.Issues = append(v.Issues, c.warnings(e, at[i], where, now())...)
		v.Issues = append(v.Issues, Issue{Severity: Information, Code: "hub." + action, Message: where + describe(action, e)})
		if it, ok := c.Catalog.Item(e.Item); ok {
			v.Issues = append(v.Issues, Issue{Severity: Information, Code: CodeItem, Expression: []string{at[i].report + ".code"},
				Message: fmt.Sprintf("%scatalogue item %s %s (%s, valid %d days, scope %s) from local code %s",
					where, it.Code, it.Name, it.Kind, it.ValidityDays, it.Scope, codeOf(e))})
		}
		v.Issues = append(v.Issues, Issue{Severity: Information, Code: CodePatientKeys, Expression: []string{at[i].report + ".subject"},
			Message: where + "patient keys (masked): " + strings.Join(r.Keys, ", ")})
	}
	return v, nil
}

func codeOf(e *index.Entry) string {
	if e.CodeSystem == "" {
		return e.Code
	}
	return e.CodeSystem + "|" + e.Code
}

func describe(action string, e *index.Entry) string {
	switch action {
	case actionNew:
		return fmt.Sprintf("the hub would index a new report %s (status %s)", e.ID, e.Status)
	case actionUnchanged:
		return fmt.Sprintf("the hub already holds this version of report %s: nothing would change", e.ID)
	case actionVersion:
		return fmt.Sprintf("the hub would store a new current version of report %s (status %s)", e.ID, e.Status)
	case actionHistory:
		return fmt.Sprintf("the hub would keep this as an older version of report %s: the stored current version ranks higher (meta.versionId, meta.lastUpdated, issued, status)", e.ID)
	case actionWithdrawal:
		return fmt.Sprintf("the hub would withdraw report %s (status %s): it leaves every search and recognition answer", e.ID, e.Status)
	}
	return "report " + e.ID
}

// action reads what the index holds for e (read-only) and says what Apply would do.
func (c *Checker) action(ctx context.Context, e *index.Entry) (string, error) {
	if c.DB == nil {
		return stored(e, false, "", false), nil
	}
	var rank string
	var same bool
	err := c.DB.QueryRow(ctx, `SELECT r.version_rank, EXISTS (SELECT 1 FROM report_versions v WHERE v.report_id = r.id AND v.content_hash = $2)
		FROM reports r WHERE r.id = $1`, e.ID, e.ContentHash).Scan(&rank, &same)
	if errors.Is(err, pgx.ErrNoRows) {
		return stored(e, false, "", false), nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the stored versions of report %s: %w", e.ID, err)
	}
	return stored(e, true, rank, same), nil
}

// stored is index.Store's decision for one entry against the stored state.
func stored(e *index.Entry, exists bool, rank string, same bool) string {
	switch {
	case same:
		return actionUnchanged
	case !exists || index.CompareRank(e.Rank(), rank) > 0:
		if index.Withdrawn(e.Status) {
			return actionWithdrawal
		}
		if !exists {
			return actionNew
		}
		return actionVersion
	}
	return actionHistory
}

func (c *Checker) warnings(e *index.Entry, at paths, where string, now time.Time) []Issue {
	var out []Issue
	if index.Withdrawn(e.Status) {
		return nil
	}
	it, mapped := c.Catalog.Item(e.Item)
	if !mapped {
		out = append(out, Issue{Severity: Warning, Code: CodeUnmapped, Expression: []string{at.report + ".code"},
			Message: fmt.Sprintf("%slocal code %s of %s maps to no catalogue item: the report is indexed and searchable but never recognisable; ask the bureau to add it to the code map, or send the item's standard code", where, orNone(codeOf(e)), e.Performer)})
	}
	if !index.FinalStatus(e.Status) {
		out = append(out, Issue{Severity: Information, Code: CodeNotFinal, Expression: []string{at.report + ".status"},
			Message: fmt.Sprintf("%sstatus %s: the report is indexed but not recognisable until a final (or amended, corrected, appended) version arrives", where, e.Status)})
	}
	if mapped {
		if _, ok := c.Catalog.Qualified(e.Performer, it.Code, e.Clock); !ok {
			out = append(out, Issue{Severity: Warning, Code: CodeNotQualified, Expression: []string{at.report + ".performer"},
				Message: fmt.Sprintf("%s%s holds no qualification (HR mark) for item %s on %s: other institutions will not recognise this result", where, e.Performer, it.Code, e.Clock.In(china).Format("2006-01-02"))})
		}
		if it.ValidityDays > 0 && e.Clock.AddDate(0, 0, it.ValidityDays).Before(now) {
			out = append(out, Issue{Severity: Warning, Code: CodeExpired, Expression: []string{at.report + ".effective"},
				Message: fmt.Sprintf("%sthe result dates from %s, past item %s's validity window of %d days: it will not be offered for recognition", where, e.Clock.In(china).Format(time.RFC3339), it.Code, it.ValidityDays)})
		}
	}
	for i, o := range e.Observations {
		if o.ValueNum != nil && o.RefLow == nil && o.RefHigh == nil && o.Interpretation == "" {
			out = append(out, Issue{Severity: Warning, Code: CodeNoRefRange, Expression: []string{at.result(i)},
				Message: fmt.Sprintf("%sresult %d (%s) has a numeric value without referenceRange or interpretation: the hub cannot flag it abnormal", where, i+1, orNone(codeOf(&index.Entry{CodeSystem: o.CodeSystem, Code: o.Code})))})
		}
	}
	return out
}

var china = time.FixedZone("CST", 8*3600)

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
