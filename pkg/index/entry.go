package index

import (
	"strconv"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/offsets"
)

// Position is where a message was read.
type Position = offsets.Position

// Entry is one DiagnosticReport as the index keeps it, produced by package profile.
type Entry struct {
	ID         string // canonical id: hex SHA-256 of NaturalKey, 32 chars
	NaturalKey string
	Performer  string // issuing institution code
	Source     string // publishing institution code (mrhub-source)

	IdentifierSystem, IdentifierValue string

	Patient identity.Request

	Item                                    string // catalogue item; "" when the code is unmapped
	Kind                                    string // lab | imaging | ""
	CodeSystem, Code, CodeDisplay, Category string
	Status                                  string
	Effective, Issued                       *time.Time
	Clock                                   time.Time // Effective, else Issued
	HRScope                                 string

	MetaVersionID string
	LastUpdated   *time.Time
	ContentHash   []byte // SHA-256 of the report and its results as received
	Resource      []byte // the DiagnosticReport JSON as received

	Observations []Observation
	Imaging      []ImagingStudy

	Pos Position
}

// Observation is the searchable part of one result of the report.
type Observation struct {
	Item                          string
	CodeSystem, Code, CodeDisplay string
	Status                        string
	Effective                     *time.Time
	ValueNum                      *float64
	ValueText                     *string
	Unit                          string
	RefLow, RefHigh               *float64
	Interpretation                string
	Resource                      []byte
}

// ImagingStudy is the searchable part of one imaging study of the report.
type ImagingStudy struct {
	StudyUID, Accession, Modality string
	Started                       *time.Time
	Resource                      []byte
}

// DeadLetter is a message that cannot be indexed, with why.
type DeadLetter struct {
	Pos     Position
	Key     []byte
	Value   []byte
	Headers map[string]string // original headers (last value wins)
	Code    string            // stable error code, e.g. fhir.unknown_element
	Message string            // what to fix; never contains identity numbers
	Path    string            // FHIR path at fault, or ""
}

// Withdrawn reports whether status withdraws a report from the index.
func Withdrawn(status string) bool { return status == "cancelled" || status == "entered-in-error" }

// Recognisable statuses: only these can ever be recognised.
func FinalStatus(status string) bool {
	return status == "final" || status == "amended" || status == "corrected" || status == "appended"
}

var statusPrecedence = map[string]int{
	"registered": 1, "partial": 2, "preliminary": 3, "final": 4, "appended": 5,
	"amended": 6, "corrected": 7, "cancelled": 8, "entered-in-error": 9,
}

// Rank is the version ordering key of an entry: meta.versionId, then meta.lastUpdated, then
// issued, then status precedence, then content hash (so equal-looking versions still order the
// same way on every instance). Encoded as a string stored with the version; compare with
// CompareRank.
func (e *Entry) Rank() string {
	var b strings.Builder
	if n, err := strconv.ParseUint(e.MetaVersionID, 10, 63); err == nil {
		b.WriteString("n" + leftPad(strconv.FormatUint(n, 10), 20))
	} else if e.MetaVersionID != "" {
		b.WriteString("s" + e.MetaVersionID)
	}
	b.WriteByte('|')
	if e.LastUpdated != nil {
		b.WriteString(e.LastUpdated.UTC().Format(rankTime))
	}
	b.WriteByte('|')
	if e.Issued != nil {
		b.WriteString(e.Issued.UTC().Format(rankTime))
	}
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(statusPrecedence[e.Status]))
	b.WriteByte('|')
	b.WriteString(hexString(e.ContentHash))
	return b.String()
}

const rankTime = "2006-01-02T15:04:05.000000000Z"

// CompareRank returns -1, 0 or 1: the criteria in order (numeric meta.versionId, lastUpdated,
// issued, status precedence, content hash), the first that differs decides, and a version that
// lacks a criterion ranks below one that has it. A non-numeric versionId (an opaque etag or
// uuid) carries no order and counts as absent.
//
// The order must be a strict total order (antisymmetric and transitive): Apply keeps, version
// after version in arrival order, whichever ranks higher, and only a total order makes that
// winner independent of the arrival order. Skipping a criterion that only one side carries
// looks gentler but is not transitive: (v1, issued 03:00) < (v2, issued 01:00) by versionId,
// (v2, issued 01:00) < (no versionId, issued 02:00) by issued, and (no versionId, issued
// 02:00) < (v1, issued 03:00) by issued again, so the survivor depended on the delivery order.
func CompareRank(a, b string) int {
	pa, pb := strings.Split(a, "|"), strings.Split(b, "|")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, y := pa[i], pb[i]
		if i == 0 {
			x, y = numericVersion(x), numericVersion(y)
		}
		if x == y {
			continue
		}
		if i == 3 && x != "" && y != "" {
			xi, _ := strconv.Atoi(x)
			yi, _ := strconv.Atoi(y)
			if xi != yi {
				if xi < yi {
					return -1
				}
				return 1
			}
			continue
		}
		// "" (absent) sorts below anything; versionIds are zero-padded and times fixed-width
		// UTC, so byte order is their order.
		if x < y {
			return -1
		}
		return 1
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return 0
}

// numericVersion keeps a numeric versionId rank field and blanks an opaque one.
func numericVersion(f string) string {
	if strings.HasPrefix(f, "n") {
		return f
	}
	return ""
}

func leftPad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

const hexDigits = "0123456789abcdef"

func hexString(b []byte) string {
	out := make([]byte, len(b)*2)
	for i, c := range b {
		out[i*2] = hexDigits[c>>4]
		out[i*2+1] = hexDigits[c&0xf]
	}
	return string(out)
}
