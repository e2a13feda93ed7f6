package cdshooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mrhub/mrhub/pkg/httpapi"
	"github.com/mrhub/mrhub/pkg/profile"
)

// Prefetch keys of the services' templates.
const (
	PrefetchPatient   = "patient"
	PrefetchUser      = "user"
	PrefetchEncounter = "encounter"
)

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type patientResource struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
}

// prefetched returns the resource of prefetch key (a resource, or the first resource of type
// want in a searchset Bundle). ok is false when the key is absent, null, an OperationOutcome (the
// EHR could not fetch it) or holds no resource of type want.
func prefetched(req *Request, key, want string) (json.RawMessage, bool) {
	raw, present := req.Prefetch[key]
	if !present {
		return nil, false
	}
	return resourceOf(raw, want)
}

func resourceOf(raw json.RawMessage, want string) (json.RawMessage, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return nil, false
	}
	switch head.ResourceType {
	case want:
		return raw, true
	case "Bundle":
		for _, e := range head.Entry {
			var h struct {
				ResourceType string `json:"resourceType"`
			}
			if json.Unmarshal(e.Resource, &h) == nil && h.ResourceType == want {
				return e.Resource, true
			}
		}
	}
	return nil, false
}

// patient identifies the patient of the call: from prefetch.patient, or else read from the EHR's
// FHIR server when the request allows it and the hub may call that server; 412 when neither. It
// returns the hub's patients holding the strongest identifier the patient carries (none: the hub
// holds nothing of the patient).
func (s *Service) patient(ctx context.Context, req *Request, oc *OrderContext) ([]int64, error) {
	raw, ok := prefetched(req, PrefetchPatient, "Patient")
	if !ok {
		var err error
		if raw, err = s.fetchPatient(ctx, req, oc.PatientID); err != nil {
			return nil, err
		}
	}
	var pt patientResource
	if err := json.Unmarshal(raw, &pt); err != nil {
		return nil, bad("prefetch.patient is not a FHIR Patient: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if pt.ID != "" && pt.ID != strings.TrimSpace(oc.PatientID) {
		return nil, bad("prefetch.patient is Patient/%s but context.patientId is %s", pt.ID, oc.PatientID)
	}
	// Strongest first: resident ID, insurance number, then MRNs (and any system the hub may know).
	rank := func(id identifier) int {
		switch {
		case slices.Contains(profile.ResidentIDSystems, id.System):
			return 0
		case slices.Contains(profile.InsuranceSystems, id.System):
			return 1
		}
		return 2
	}
	ids := slices.Clone(pt.Identifier)
	slices.SortStableFunc(ids, func(a, b identifier) int { return rank(a) - rank(b) })
	for _, id := range ids {
		if id.System == "" || strings.TrimSpace(id.Value) == "" {
			continue
		}
		pids, err := s.hub.PatientsByIdentifier(ctx, id.System, id.Value)
		if err != nil {
			if httpapi.IsBadRequest(err) { // an identifier system the hub does not know: try the next
				continue
			}
			return nil, err
		}
		if len(pids) > 0 {
			return pids, nil
		}
	}
	return nil, nil
}

// fetchPatient reads Patient/{id} from the request's fhirServer with its fhirAuthorization.
func (s *Service) fetchPatient(ctx context.Context, req *Request, id string) (json.RawMessage, error) {
	missing := func(why string) error {
		return &failure{http.StatusPreconditionFailed, "prefetch_missing",
			"prefetch.patient (Patient/{{context.patientId}}) is missing, null or an OperationOutcome, and " + why +
				": send the patient with its identifiers (resident ID, insurance number or MRN) in prefetch.patient"}
	}
	switch {
	case req.FHIRServer == "" || req.FHIRAuthorization == nil:
		return nil, missing("the request gives no fhirServer with fhirAuthorization to read it from")
	case !s.mayFetch(req.FHIRServer):
		return nil, missing(fmt.Sprintf("the hub is not configured to read from fhirServer %s", req.FHIRServer))
	case !strings.EqualFold(req.FHIRAuthorization.TokenType, "Bearer") || req.FHIRAuthorization.AccessToken == "":
		return nil, missing("fhirAuthorization holds no Bearer access_token")
	}
	u := strings.TrimRight(req.FHIRServer, "/") + "/Patient/" + url.PathEscape(strings.TrimSpace(id))
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, missing("the fhirServer URL is not usable")
	}
	hr.Header.Set("Accept", "application/fhir+json")
	hr.Header.Set("Authorization", "Bearer "+req.FHIRAuthorization.AccessToken)
	res, err := s.opt.Client.Do(hr)
	if err != nil {
		return nil, missing("reading it from fhirServer failed (" + redactURL(err.Error(), u) + ")")
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, s.maxFetch+1))
	if err != nil || int64(len(body)) > s.maxFetch {
		return nil, missing("reading it from fhirServer failed")
	}
	if res.StatusCode != http.StatusOK {
		return nil, missing(fmt.Sprintf("fhirServer answered %d to GET Patient/%s", res.StatusCode, id))
	}
	raw, ok := resourceOf(body, "Patient")
	if !ok {
		return nil, missing("fhirServer answered something other than a Patient")
	}
	return raw, nil
}

func redactURL(msg, u string) string { return strings.ReplaceAll(msg, u, "fhirServer") }

func (s *Service) mayFetch(server string) bool {
	server = strings.TrimRight(server, "/")
	for _, a := range s.opt.FHIRServers {
		if strings.TrimRight(a, "/") == server {
			return true
		}
	}
	return false
}

type codeable struct {
	Text   string `json:"text"`
	Coding []struct {
		Display string `json:"display"`
		Code    string `json:"code"`
	} `json:"coding"`
}

func (c *codeable) name() string {
	if c == nil {
		return ""
	}
	if t := strings.TrimSpace(c.Text); t != "" {
		return t
	}
	for _, x := range c.Coding {
		if d := strings.TrimSpace(x.Display); d != "" {
			return d
		}
	}
	for _, x := range c.Coding {
		if d := strings.TrimSpace(x.Code); d != "" {
			return d
		}
	}
	return ""
}

// department is the ordering department: the first specialty of prefetch.user
// (PractitionerRole), else the serviceType (then the first type) of prefetch.encounter, else
// UnspecifiedDepartment. At most 64 characters.
func (s *Service) department(req *Request) string {
	name := ""
	if raw, ok := prefetched(req, PrefetchUser, "PractitionerRole"); ok {
		var pr struct {
			Specialty []codeable `json:"specialty"`
		}
		if json.Unmarshal(raw, &pr) == nil {
			for i := range pr.Specialty {
				if name = pr.Specialty[i].name(); name != "" {
					break
				}
			}
		}
	}
	if raw, ok := prefetched(req, PrefetchEncounter, "Encounter"); ok && name == "" {
		var enc struct {
			ServiceType *codeable  `json:"serviceType"`
			Type        []codeable `json:"type"`
		}
		if json.Unmarshal(raw, &enc) == nil {
			name = enc.ServiceType.name()
			for i := range enc.Type {
				if name != "" {
					break
				}
				name = enc.Type[i].name()
			}
		}
	}
	if name == "" {
		return UnspecifiedDepartment
	}
	if utf8.RuneCountInString(name) > 64 {
		name = string([]rune(name)[:64])
	}
	return name
}
