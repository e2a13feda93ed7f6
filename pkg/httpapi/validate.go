package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/verdict"
)

// mountValidate adds POST /fhir/$validate, /fhir/Bundle/$validate and
// /fhir/DiagnosticReport/$validate: the verdict of ingest on a message, before it is published
// (package verdict). Role his (the publisher is the token's institution) or admin (naming the
// publisher with source).
func (s *Server) mountValidate(mux routeMux) {
	p := &profile.Profiler{Catalog: s.cat, Hasher: s.hasher, Location: s.opt.Location}
	s.checker = &verdict.Checker{Profile: p.Func(), MaxBytes: s.opt.MaxMessageBytes, Catalog: s.cat, DB: s.pool, Now: s.opt.Now,
		Decoder: fhir.NewDecoder(s.opt.Location)}
	for _, rt := range []string{"", "Bundle/", "DiagnosticReport/"} {
		want := rt
		if want != "" {
			want = want[:len(want)-1]
		}
		mux.Handle("POST /fhir/"+rt+"$validate", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.validate(w, r, want)
		}), auth.RoleHIS, auth.RoleAdmin))
	}
}

// validate answers one $validate request with an OperationOutcome (200 whatever the verdict;
// 4xx when the request itself cannot be checked).
func (s *Server) validate(w http.ResponseWriter, r *http.Request, want string) {
	p := auth.FromContext(r.Context())
	for k := range r.URL.Query() {
		if k != "source" {
			s.fail(w, r, badf("parameter %q is not supported by $validate (source)", k))
			return
		}
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	source := r.URL.Query().Get("source")
	msg := body
	var head struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name        string          `json:"name"`
			Resource    json.RawMessage `json:"resource"`
			ValueString *string         `json:"valueString"`
			ValueCode   *string         `json:"valueCode"`
		} `json:"parameter"`
	}
	if json.Unmarshal(body, &head) == nil && head.ResourceType == "Parameters" {
		msg = nil
		for _, pm := range head.Parameter {
			switch pm.Name {
			case "resource":
				msg = pm.Resource
			case "source":
				for _, v := range []*string{pm.ValueString, pm.ValueCode} {
					if v != nil {
						source = *v
					}
				}
			case "mode", "profile":
				// accepted and ignored: the hub has one mode (publish) and one profile (its own)
			default:
				s.fail(w, r, badf("Parameters.parameter %q is not supported by $validate (resource, source)", pm.Name))
				return
			}
		}
		if len(msg) == 0 {
			s.fail(w, r, badf("Parameters has no parameter \"resource\" holding the message to check"))
			return
		}
		head.ResourceType = ""
		var inner struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(msg, &inner) == nil {
			head.ResourceType = inner.ResourceType
		}
	}
	if want != "" && head.ResourceType != "" && head.ResourceType != want {
		s.fail(w, r, badf("this is %s/$validate but the message is a %s: post it to /fhir/$validate or /fhir/%s/$validate", want, head.ResourceType, head.ResourceType))
		return
	}
	switch p.Role {
	case auth.RoleHIS:
		if source != "" && source != p.Org {
			auth.WriteError(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf("a his token publishes as its institution %s, not as %s", p.Org, source))
			return
		}
		source = p.Org
	case auth.RoleAdmin:
		if source == "" {
			s.fail(w, r, badf("an admin names the publishing institution: ?source=CODE (the header mrhub-source the message would carry)"))
			return
		}
	}
	v, err := s.checker.Check(r.Context(), msg, source)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, v.Outcome())
}
