package profile

import (
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
)

// MRNSystemPrefix is the hub's own MRN system: urn:mrhub:mrn:<institution code> names the
// issuing institution in the system itself.
const MRNSystemPrefix = "urn:mrhub:mrn:"

// Who issued an identifier (docs/rules.md "Who issued an identifier"). One rule, applied when a
// report is stored and when a caller looks a patient up:
//
//  1. the institution Identifier.assigner names: an identifier in an institution system
//     (InstitutionSystems) or a reference to an Organization of the message that has one;
//  2. else the institution whose MRN system the identifier's system is: urn:mrhub:mrn:<code>, or
//     a system the catalogue registers (catalog.Institution.MRNSystems);
//  3. else the institution that performed the report (its publisher when it names no performer).
//
// A lookup has no assigner and no performer: a system the hub cannot place by rule 2 is refused.

// SystemIssuer is rule 2: the institution code whose MRN system is system.
func SystemIssuer(cat *catalog.Catalog, system string) (string, bool) {
	if code, ok := strings.CutPrefix(system, MRNSystemPrefix); ok {
		if in, ok := cat.Institution(code); ok {
			return in.Code, true
		}
		return "", false
	}
	if in, ok := cat.MRNSystem(system); ok {
		return in.Code, true
	}
	return "", false
}

// OrgResolver finds the Organization a reference names inside the message, or nil.
type OrgResolver func(ref *dtpb.Reference) *orgpb.Organization

// assignerIssuer is rule 1. named reports whether the identifier names an assigner at all
// (an identifier or a reference, not only a display); ok whether it is an institution of the
// region.
func assignerIssuer(cat *catalog.Catalog, id *dtpb.Identifier, orgs OrgResolver) (code string, named, ok bool) {
	a := id.GetAssigner()
	if a == nil {
		return "", false, false
	}
	if ai := a.GetIdentifier(); ai != nil && ai.GetValue().GetValue() != "" {
		if code, ok := institutionIdentifier(cat, ai); ok {
			return code, true, true
		}
		return "", true, false
	}
	ref := fhir.RefString(a)
	if ref == "" {
		return "", false, false // display only: says nothing the hub can place
	}
	if typ, q, ok := strings.Cut(ref, "?"); ok && typ == "Organization" {
		// Organization?identifier=system|value names the institution by its code.
		if v, ok := strings.CutPrefix(q, "identifier="); ok {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
			sys, val, _ := strings.Cut(v, "|")
			x := &dtpb.Identifier{System: &dtpb.Uri{Value: sys}, Value: &dtpb.String{Value: val}}
			if code, ok := institutionIdentifier(cat, x); ok {
				return code, true, true
			}
		}
		return "", true, false
	}
	if orgs != nil {
		if org := orgs(a); org != nil {
			for _, oi := range org.GetIdentifier() {
				if code, ok := institutionIdentifier(cat, oi); ok {
					return code, true, true
				}
			}
		}
	}
	return "", true, false
}

// institutionIdentifier places an identifier in an institution system (or without a system) by
// its value: the institution's code or region code.
func institutionIdentifier(cat *catalog.Catalog, id *dtpb.Identifier) (string, bool) {
	sys := id.GetSystem().GetValue()
	if sys != "" && !contains(InstitutionSystems, sys) {
		return "", false
	}
	if in, ok := cat.Institution(strings.TrimSpace(id.GetValue().GetValue())); ok {
		return in.Code, true
	}
	return "", false
}

// MRNIssuer applies the rule to an MRN identifier of a report performed by performer. ok is
// false when the identifier names an assigner the hub cannot place (an organisation outside
// the region, or a reference that does not resolve to one): such an MRN is not filed under a
// guess.
func MRNIssuer(cat *catalog.Catalog, id *dtpb.Identifier, orgs OrgResolver, performer string) (string, bool) {
	if code, named, ok := assignerIssuer(cat, id, orgs); named {
		return code, ok
	}
	if code, ok := SystemIssuer(cat, id.GetSystem().GetValue()); ok {
		return code, true
	}
	return performer, true
}

// IsMRN reports whether id is a patient number of an institution: typed MR
// (http://terminology.hl7.org/CodeSystem/v2-0203), in a system ending in "/mrn", in an MRN system
// the catalogue registers, or in urn:mrhub:mrn:<code>.
func IsMRN(cat *catalog.Catalog, id *dtpb.Identifier) bool {
	if isMRN(id) {
		return true
	}
	_, ok := SystemIssuer(cat, id.GetSystem().GetValue())
	return ok
}

// LookupIdentifier places a patient identifier system for a search by system|value: resident-ID
// and insurance systems, or an MRN system whose issuer the catalogue knows (rule 2). Any other
// system is an error that says what the hub accepts.
func LookupIdentifier(cat *catalog.Catalog, system string) (kind, issuer string, err error) {
	switch {
	case contains(ResidentIDSystems, system):
		return identity.KindNationalID, "", nil
	case contains(InsuranceSystems, system):
		return identity.KindInsurance, "", nil
	}
	if code, ok := SystemIssuer(cat, system); ok {
		return identity.KindMRN, code, nil
	}
	if strings.HasPrefix(system, MRNSystemPrefix) {
		return "", "", fmt.Errorf("MRN system %q names no institution of the region: use %s<institution code> with the code or region code of an institution", system, MRNSystemPrefix)
	}
	return "", "", fmt.Errorf("the hub cannot place identifier system %q: it is no resident-ID system (%s), insurance system (%s) or MRN system the region's catalogue registers; for an institution's MRN use %s<institution code>|<MRN>",
		system, ResidentIDSystems[0], InsuranceSystems[0], MRNSystemPrefix)
}

// messageOrgs indexes the Organizations of a message for assigner references: by Bundle entry
// fullUrl, by Type/id, and contained ones by #id within their container.
// It is built on first use: most messages carry no assigner reference.
type messageOrgs struct {
	msg   *fhir.Message
	byRef map[string]*orgpb.Organization
}

func (m *messageOrgs) index() {
	if m.byRef != nil {
		return
	}
	m.byRef = map[string]*orgpb.Organization{}
	msg := m.msg
	if msg == nil || msg.Root == nil {
		return
	}
	var walk func(res proto.Message, fullURL string)
	walk = func(res proto.Message, fullURL string) {
		if org, ok := res.(*orgpb.Organization); ok {
			if fullURL != "" {
				m.byRef[fullURL] = org
			}
			if id := fhir.ID(org); id != "" {
				m.byRef["Organization/"+id] = org
			}
		}
		if b, ok := res.(*bcrpb.Bundle); ok {
			for _, e := range b.GetEntry() {
				if r := fhir.Resource(e.GetResource()); r != nil {
					walk(r, e.GetFullUrl().GetValue())
				}
			}
		}
	}
	walk(fhir.Resource(msg.Root), "")
}

// resolver returns the OrgResolver for identifiers inside container (whose contained
// Organizations answer #id references).
func (m *messageOrgs) resolver(containers ...proto.Message) OrgResolver {
	return func(ref *dtpb.Reference) *orgpb.Organization {
		s := fhir.RefString(ref)
		if id, ok := strings.CutPrefix(s, "#"); ok {
			for _, c := range containers {
				for _, r := range fhir.Contained(c) {
					if org, ok := r.(*orgpb.Organization); ok && fhir.ID(org) == id {
						return org
					}
				}
			}
			return nil
		}
		m.index()
		if org := m.byRef[s]; org != nil {
			return org
		}
		// An absolute RESTful URL ending in Organization/<id>.
		if i := strings.LastIndex(s, "/Organization/"); i >= 0 {
			return m.byRef[s[i+1:]]
		}
		return nil
	}
}

// conditionalIdentifier is the identifier of a conditional reference
// "Patient?identifier=system|value" (percent-encoding undone), or nil.
func conditionalIdentifier(ref string) *dtpb.Identifier {
	q, ok := strings.CutPrefix(ref, "Patient?identifier=")
	if !ok || strings.Contains(q, "&") {
		return nil
	}
	if strings.Contains(q, "%") {
		u, err := url.QueryUnescape(q)
		if err != nil {
			return nil
		}
		q = u
	}
	sys, val, ok := strings.Cut(q, "|")
	if !ok || sys == "" || strings.TrimSpace(val) == "" {
		return nil
	}
	return &dtpb.Identifier{System: &dtpb.Uri{Value: sys}, Value: &dtpb.String{Value: val}}
}
