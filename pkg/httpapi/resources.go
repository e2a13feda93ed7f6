package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
)

const unresolvedDisplay = "reference not resolvable outside the publisher's message"

func decodeResource(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// scrub makes a stored resource safe and meaningful outside the message it came in:
// contained Patients are dropped (the subject is rewritten to the hub's Patient), resident-ID
// and insurance numbers anywhere are masked, and references that only resolved inside the
// publisher's message (urn:uuid, relative ids of resources the hub does not serve) are reduced
// to their display. Local references (#id) and absolute URLs are kept.
func scrub(v any) {
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x["contained"].([]any); ok {
			kept := c[:0]
			for _, r := range c {
				if m, ok := r.(map[string]any); ok && m["resourceType"] == "Patient" {
					continue
				}
				kept = append(kept, r)
			}
			if len(kept) == 0 {
				delete(x, "contained")
			} else {
				x["contained"] = kept
			}
		}
		if sys, ok := x["system"].(string); ok {
			if val, ok := x["value"].(string); ok {
				if kind := personalKind(sys); kind != "" {
					x["value"] = identity.Mask(kind, val)
					x["system"] = maskedSystemBase + kind
				}
			}
		}
		if ref, ok := x["reference"].(string); ok && !strings.HasPrefix(ref, "#") &&
			!strings.HasPrefix(ref, "http://") && !strings.HasPrefix(ref, "https://") {
			delete(x, "reference")
			if len(x) == 0 {
				x["display"] = unresolvedDisplay
			}
		}
		for _, c := range x {
			scrub(c)
		}
	case []any:
		for _, c := range x {
			scrub(c)
		}
	}
}

func personalKind(system string) string {
	for _, s := range profile.ResidentIDSystems {
		if s == system {
			return identity.KindNationalID
		}
	}
	for _, s := range profile.InsuranceSystems {
		if s == system {
			return identity.KindInsurance
		}
	}
	return ""
}

func patientRef(pid int64) map[string]any {
	return map[string]any{"reference": "Patient/p" + strconv.FormatInt(pid, 10)}
}

// row is one resource row of a search or read.
type row struct {
	ID        string
	Sort      time.Time
	PatientID int64
	Performer string
	Version   int
	Updated   time.Time
	Resource  []byte
	Current   bool
	Status    string
	// Category is, for an Observation, the category the hub serves when it carries none of its
	// own: its report's (laboratory, imaging; reportCategoryExpr), or "".
	Category string

	// Set by searches that select the type's childCols: the ids of the report's observations
	// and imaging studies, in ordinal order.
	HasChildIDs    bool
	ObsIDs, ImgIDs []string
}

// reportResource is the DiagnosticReport the hub serves for r with its observation and imaging
// study ids (in ordinal order).
func (s *Server) reportResource(r *row, obs, img []string) (map[string]any, error) {
	m, err := s.reportBase(r)
	if err != nil {
		return nil, err
	}
	delete(m, "result")
	delete(m, "imagingStudy")
	if len(obs) > 0 {
		refs := make([]any, len(obs))
		for i, id := range obs {
			refs[i] = map[string]any{"reference": "Observation/" + id}
		}
		m["result"] = refs
	}
	if len(img) > 0 {
		refs := make([]any, len(img))
		for i, id := range img {
			refs[i] = map[string]any{"reference": "ImagingStudy/" + id}
		}
		m["imagingStudy"] = refs
	}
	return m, nil
}

// reportBase is the stored resource of r scrubbed, with the hub's id, meta (versionId =
// r.Version, lastUpdated = r.Updated), subject and performer; its result and imagingStudy
// references are left as scrubbed.
func (s *Server) reportBase(r *row) (map[string]any, error) {
	m, meta, err := served(r)
	if err != nil {
		return nil, err
	}
	meta["versionId"] = strconv.Itoa(r.Version)
	m["performer"] = []any{s.orgRef(r.Performer)}
	return m, nil
}

// served is the stored resource of r scrubbed, with the hub's id, subject and
// meta.lastUpdated = r.Updated; it returns the meta map for the caller to complete.
func served(r *row) (map[string]any, map[string]any, error) {
	m, err := decodeResource(r.Resource)
	if err != nil {
		return nil, nil, err
	}
	scrub(m)
	m["id"] = r.ID
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["lastUpdated"] = r.Updated.UTC().Format(time.RFC3339Nano)
	m["meta"] = meta
	m["subject"] = patientRef(r.PatientID)
	return m, meta, nil
}

// obsCategoryDisplay are the displays of the Observation categories the hub derives.
var obsCategoryDisplay = map[string]string{"laboratory": "Laboratory", "imaging": "Imaging"}

// childResource is an Observation or ImagingStudy as served; an Observation without a category
// gets its report's (row.Category).
func (s *Server) childResource(r *row) (map[string]any, error) {
	m, meta, err := served(r)
	if err != nil {
		return nil, err
	}
	delete(meta, "versionId")
	if m["resourceType"] == "Observation" && r.Category != "" {
		if _, ok := m["category"]; !ok {
			m["category"] = []any{map[string]any{"coding": []any{map[string]any{"system": obsCategorySystem, "code": r.Category,
				"display": obsCategoryDisplay[r.Category]}}}}
		}
	}
	if m["resourceType"] == "Observation" {
		if p, ok := m["performer"].([]any); ok && len(p) > 0 {
			m["performer"] = append(p, s.orgRef(r.Performer))
		} else {
			m["performer"] = []any{s.orgRef(r.Performer)}
		}
	}
	return m, nil
}
