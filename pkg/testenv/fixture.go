package testenv

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/mrhub/mrhub/pkg/identity"
)

// Seeded institutions and codes used by fixtures (from seeds/region.json).
const (
	HospitalA     = "12330299473079193Y" // 清溪区人民医院, lead of community QXYG01
	HospitalB     = "12330299473158385B" // 清溪区第二人民医院, lead of community QXYG02
	LabCodeSystem = "http://his.qx001.example/lab-codes"
	LabCodeCBC    = "6587" // maps to item JY001 at HospitalA
	LOINC         = "http://loinc.org"
)

// Report describes a lab report fixture: a collection Bundle with the DiagnosticReport, its
// Patient, the performing Organization and Observations, linked by urn:uuid references.
type Report struct {
	Performer   string // institution code; "" = no performer element
	ID          string // report identifier value ("" = no identifier)
	Status      string // default final
	NID         string // resident ID ("" = none)
	MRN         string
	OtherMRNs   []MRN // patient numbers of other institutions the subject also carries
	Name        string
	Gender      string
	BirthDate   string
	CodeSystem  string
	Code        string
	Effective   time.Time
	Issued      time.Time
	VersionID   string
	LastUpdated time.Time
	Values      []float64 // one Observation each (default 8 values)
	Note        string    // goes into conclusion, to change content
}

// MRN is a patient number in system, issued by Assigner (an institution code sent as
// Identifier.assigner.identifier in the USCC system; "" = no assigner).
type MRN struct{ System, Value, Assigner string }

// NID returns a valid synthetic resident ID for seq.
func NID(seq int) string {
	return identity.NewResidentID("330299", time.Date(1950+seq%50, time.Month(1+seq%12), 1+seq%28, 0, 0, 0, 0, time.UTC), seq%1000)
}

// JSON renders the report as FHIR R4 JSON.
func (r Report) JSON() []byte {
	if r.Status == "" {
		r.Status = "final"
	}
	if r.CodeSystem == "" {
		r.CodeSystem, r.Code = LabCodeSystem, LabCodeCBC
	}
	if r.Effective.IsZero() {
		r.Effective = time.Date(2026, 11, 20, 8, 30, 0, 0, time.FixedZone("CST", 8*3600))
	}
	if r.Issued.IsZero() {
		r.Issued = r.Effective.Add(2 * time.Hour)
	}
	if r.Values == nil {
		r.Values = []float64{5.2, 4.5, 135, 0.41, 90, 30, 330, 210}
	}
	pid := []map[string]any{}
	if r.NID != "" {
		pid = append(pid, map[string]any{"system": "http://mrhub.example/sid/resident-id", "value": r.NID})
	}
	if r.MRN != "" {
		pid = append(pid, map[string]any{
			"type":   map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}},
			"system": "http://his." + r.Performer + ".example/sid/mrn", "value": r.MRN})
	}
	for _, m := range r.OtherMRNs {
		id := map[string]any{
			"type":   map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}},
			"system": m.System, "value": m.Value}
		if m.Assigner != "" {
			id["assigner"] = map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/uscc", "value": m.Assigner}}
		}
		pid = append(pid, id)
	}
	patient := map[string]any{"resourceType": "Patient"}
	if len(pid) > 0 {
		patient["identifier"] = pid
	}
	if r.Name != "" {
		patient["name"] = []any{map[string]any{"text": r.Name}}
	}
	if r.Gender != "" {
		patient["gender"] = r.Gender
	}
	if r.BirthDate != "" {
		patient["birthDate"] = r.BirthDate
	}
	base := "urn:uuid:" + uuidLike(r.Performer+"|"+r.ID+"|"+r.NID+"|"+r.MRN)
	entries := []any{}
	dr := map[string]any{
		"resourceType": "DiagnosticReport",
		"status":       r.Status,
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": r.CodeSystem, "code": r.Code}}},
		"subject":           map[string]any{"reference": base + "-p"},
		"effectiveDateTime": r.Effective.Format(time.RFC3339),
		"issued":            r.Issued.Format(time.RFC3339),
	}
	if r.ID != "" {
		dr["identifier"] = []any{map[string]any{"system": "http://his." + r.Performer + ".example/report-id", "value": r.ID}}
	}
	if r.Performer != "" {
		dr["performer"] = []any{map[string]any{"reference": base + "-o"}}
	}
	meta := map[string]any{}
	if r.VersionID != "" {
		meta["versionId"] = r.VersionID
	}
	if !r.LastUpdated.IsZero() {
		meta["lastUpdated"] = r.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if len(meta) > 0 {
		dr["meta"] = meta
	}
	if r.Note != "" {
		dr["conclusion"] = r.Note
	}
	var results []any
	for i, v := range r.Values {
		ref := base + "-r" + strconv.Itoa(i)
		results = append(results, map[string]any{"reference": ref})
		entries = append(entries, map[string]any{"fullUrl": ref, "resource": map[string]any{
			"resourceType": "Observation", "status": r.Status2Obs(),
			"code":              map[string]any{"coding": []any{map[string]any{"system": LOINC, "code": obsCodes[i%len(obsCodes)]}}},
			"subject":           map[string]any{"reference": base + "-p"},
			"effectiveDateTime": r.Effective.Format(time.RFC3339),
			"valueQuantity":     map[string]any{"value": v, "unit": "10*9/L", "system": "http://unitsofmeasure.org", "code": "10*9/L"},
			"referenceRange":    []any{map[string]any{"low": map[string]any{"value": v * 0.8}, "high": map[string]any{"value": v * 1.2}}},
		}})
	}
	dr["result"] = results
	all := []any{map[string]any{"fullUrl": base + "-dr", "resource": dr}, map[string]any{"fullUrl": base + "-p", "resource": patient}}
	if r.Performer != "" {
		all = append(all, map[string]any{"fullUrl": base + "-o", "resource": map[string]any{
			"resourceType": "Organization",
			"identifier":   []any{map[string]any{"system": "https://mrhub.example/sid/uscc", "value": r.Performer}},
			"name":         "performer"}})
	}
	all = append(all, entries...)
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": all})
	if err != nil {
		panic(err)
	}
	return b
}

// Status2Obs maps the report status to a valid Observation status.
func (r Report) Status2Obs() string {
	switch r.Status {
	case "partial", "appended":
		return "final"
	}
	return r.Status
}

var obsCodes = []string{"6690-2", "789-8", "718-7", "4544-3", "787-2", "785-6", "786-4", "777-3"}

func uuidLike(s string) string {
	h := uint64(1469598103934665603)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	x := strconv.FormatUint(h, 16)
	for len(x) < 16 {
		x = "0" + x
	}
	return x[:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8000-" + x[4:16]
}
