package profile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mrhub/mrhub/consumers/reports"
	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"
)

// Rejection codes of the profile (fhir.* codes come from pkg/fhir).
const (
	CodeMissingSource      = "profile.missing_source"
	CodeUnknownSource      = "profile.unknown_source"
	CodeUnknownInstitution = "profile.unknown_institution"
	CodeNotPermitted       = "rights.not_permitted"
	CodeNoIdentity         = "identity.missing"
	CodeBadResidentID      = "identity.invalid_resident_id"
	CodeNoTime             = "profile.no_time"
	CodeBadTime            = "profile.bad_time"
)

// Identifier systems the profile recognises (docs/integration.md "Identifier systems").
var (
	ResidentIDSystems  = []string{"http://mrhub.example/sid/resident-id", "urn:oid:2.16.156.10011.1.3"}
	InsuranceSystems   = []string{"http://mrhub.example/sid/insurance", "urn:oid:2.16.156.10011.1.9"}
	InstitutionSystems = []string{"https://mrhub.example/sid/uscc", "https://mrhub.example/sid/institution"}
	HRMarkURL          = "http://mrhub.example/fhir/StructureDefinition/hr-mark"
)

// Profiler builds index entries. Safe for concurrent use.
type Profiler struct {
	Catalog  *catalog.Catalog
	Hasher   *identity.Hasher
	Location *time.Location // zone of times given without one
}

// Func adapts p to the consumer's ProfileFunc.
func (p *Profiler) Func() reports.ProfileFunc {
	return func(m kafka.Message) ([]*index.Entry, *reports.Rejection) {
		source := ""
		for _, h := range m.Headers {
			if h.Key == "mrhub-source" {
				source = string(h.Value)
			}
		}
		es, err := p.Message(m.Value, source)
		if err != nil {
			return nil, AsRejection(err)
		}
		return es, nil
	}
}

// Error is a profile rejection.
type Error struct{ Code, Path, Msg string }

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// AsRejection converts a profile or FHIR error into a consumer rejection.
func AsRejection(err error) *reports.Rejection {
	var pe *Error
	if errors.As(err, &pe) {
		return &reports.Rejection{Code: pe.Code, Path: pe.Path, Message: pe.Msg}
	}
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return &reports.Rejection{Code: fe.Code, Path: fe.Path, Message: fe.Msg}
	}
	return &reports.Rejection{Code: "profile.invalid", Message: err.Error()}
}

// Message decodes one message value published by source and returns one entry per report. A
// message is indexed whole or not at all: the first report that fails rejects the message.
func (p *Profiler) Message(value []byte, source string) ([]*index.Entry, error) {
	if source == "" {
		return nil, &Error{Code: CodeMissingSource, Msg: "header mrhub-source is missing: set it to the publishing institution's code"}
	}
	if _, ok := p.Catalog.Institution(source); !ok {
		return nil, &Error{Code: CodeUnknownSource, Msg: fmt.Sprintf("publisher %q (header mrhub-source) is not an institution of the region", source)}
	}
	msg, err := fhir.ParseMessage(value)
	if err != nil {
		return nil, err
	}
	out := make([]*index.Entry, 0, len(msg.Reports))
	for _, v := range msg.Reports {
		e, err := p.Report(v, source)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Report applies the profile to one report view.
func (p *Profiler) Report(v *fhir.ReportView, source string) (*index.Entry, error) {
	dr := v.Report
	e := &index.Entry{Source: source, Status: dr.Status}

	// Issuing institution and publish rights.
	performer, err := p.performer(v, source)
	if err != nil {
		return nil, err
	}
	src, _ := p.Catalog.Institution(source)
	if performer != src.Code && !p.Catalog.SameCommunity(source, performer) {
		return nil, &Error{Code: CodeNotPermitted, Path: v.Path + ".performer",
			Msg: fmt.Sprintf("publisher %s may not publish reports issued by %s: only the performer or an institution of its medical community may", src.Code, performer)}
	}
	e.Performer = performer

	// Patient.
	secrets, err := p.patient(v, e)
	if err != nil {
		return nil, err
	}

	// Code, item, category, kind.
	if dr.Code != nil {
		e.CodeDisplay = dr.Code.Text
		for i, c := range dr.Code.Coding {
			if i == 0 || e.Item == "" {
				if it, ok := p.Catalog.MapCode(performer, c.System, c.Code); ok {
					e.Item, e.Kind = it.Code, it.Kind
					e.CodeSystem, e.Code = c.System, c.Code
					if c.Display != "" {
						e.CodeDisplay = c.Display
					}
				} else if i == 0 {
					e.CodeSystem, e.Code = c.System, c.Code
					if c.Display != "" && e.CodeDisplay == "" {
						e.CodeDisplay = c.Display
					}
				}
			}
		}
	}
	for _, cc := range dr.Category {
		for _, c := range cc.Coding {
			if e.Category == "" {
				e.Category = c.Code
			}
		}
	}
	if e.Kind == "" {
		switch e.Category {
		case "LAB", "HM", "CH", "MB", "SP", "laboratory":
			e.Kind = "lab"
		case "RAD", "RX", "CT", "MR", "US", "NMR", "imaging":
			e.Kind = "imaging"
		}
	}

	// Times.
	if dr.EffectiveDateTime != "" {
		t, err := p.time(dr.EffectiveDateTime, v.Path+".effectiveDateTime")
		if err != nil {
			return nil, err
		}
		e.Effective = &t
	} else if dr.EffectivePeriod != nil && dr.EffectivePeriod.Start != "" {
		t, err := p.time(dr.EffectivePeriod.Start, v.Path+".effectivePeriod.start")
		if err != nil {
			return nil, err
		}
		e.Effective = &t
	}
	if dr.Issued != "" {
		t, err := p.time(dr.Issued, v.Path+".issued")
		if err != nil {
			return nil, err
		}
		e.Issued = &t
	}
	switch {
	case e.Effective != nil:
		e.Clock = *e.Effective
	case e.Issued != nil:
		e.Clock = *e.Issued
	default:
		return nil, &Error{Code: CodeNoTime, Path: v.Path, Msg: "report has neither effective[x] nor issued: the validity window cannot be counted"}
	}
	if dr.Meta != nil {
		e.MetaVersionID = dr.Meta.VersionID
		if dr.Meta.LastUpdated != "" {
			t, err := p.time(dr.Meta.LastUpdated, v.Path+".meta.lastUpdated")
			if err != nil {
				return nil, err
			}
			e.LastUpdated = &t
		}
	}
	for _, x := range dr.Extension {
		if x.URL == HRMarkURL && x.ValueKey == "valueString" {
			_ = json.Unmarshal(x.Value, &e.HRScope)
		}
	}

	// Identifier and natural key.
	if id := pickIdentifier(dr.Identifier); id != nil {
		e.IdentifierSystem, e.IdentifierValue = id.System, id.Value
		e.NaturalKey = performer + "|" + id.System + "|" + id.Value
	} else {
		eff := ""
		if e.Effective != nil {
			eff = e.Effective.UTC().Format(time.RFC3339Nano)
		} else {
			eff = "issued:" + e.Issued.UTC().Format(time.RFC3339Nano)
		}
		e.NaturalKey = performer + "|patient:" + hex.EncodeToString(strongest(e.Patient.Keys).Hash) + "|" + e.CodeSystem + "|" + e.Code + "|" + eff
	}
	sum := sha256.Sum256([]byte(e.NaturalKey))
	e.ID = hex.EncodeToString(sum[:16])

	// Content and results, stored with identity numbers masked (see redact). The content hash
	// covers what is stored plus the keyed hash of every number masked in it: a plain SHA-256
	// of the unmasked bytes would let anyone holding the stored resource and the published
	// content_hash recover the masked digits by trying the few million candidates.
	used := make([]bool, len(secrets))
	h := sha256.New()
	e.Resource = redact(v.Raw, secrets, used)
	h.Write(e.Resource)
	for _, r := range v.Results {
		o := p.observation(r, performer)
		o.Resource = redact(r.Raw, secrets, used)
		h.Write([]byte{0})
		h.Write(o.Resource)
		e.Observations = append(e.Observations, o)
	}
	for _, s := range v.Imaging {
		m := p.imaging(s)
		m.Resource = redact(s.Raw, secrets, used)
		h.Write([]byte{1})
		h.Write(m.Resource)
		e.Imaging = append(e.Imaging, m)
	}
	for i, u := range used {
		if u {
			h.Write([]byte{2})
			h.Write(secrets[i].hash)
		}
	}
	e.ContentHash = h.Sum(nil)
	return e, nil
}

func (p *Profiler) time(s, path string) (time.Time, error) {
	t, _, err := fhir.ParseDateTime(s, p.Location)
	if err != nil {
		return time.Time{}, &Error{Code: CodeBadTime, Path: path, Msg: fmt.Sprintf("not a FHIR date/dateTime/instant: %v", err)}
	}
	return t, nil
}

// performer finds the issuing institution's code.
func (p *Profiler) performer(v *fhir.ReportView, source string) (string, error) {
	for _, org := range v.Performers {
		if code, ok := p.institution(org.Identifier); ok {
			return code, nil
		}
	}
	for _, ref := range v.PerformerRefs {
		if ref.Identifier != nil {
			if code, ok := p.institution([]fhir.Identifier{*ref.Identifier}); ok {
				return code, nil
			}
		}
	}
	if len(v.PerformerRefs) == 0 {
		return source, nil
	}
	return "", &Error{Code: CodeUnknownInstitution, Path: v.Path + ".performer",
		Msg: "no performer names an institution of the region: give the performer Organization an identifier with system " + InstitutionSystems[0] + " and the institution's unified social credit code"}
}

func (p *Profiler) institution(ids []fhir.Identifier) (string, bool) {
	for _, id := range ids {
		if id.Value == "" {
			continue
		}
		if inst, ok := p.Catalog.Institution(id.Value); ok {
			return inst.Code, true
		}
	}
	return "", false
}

// patient fills e.Patient from the subject.
func (p *Profiler) patient(v *fhir.ReportView, e *index.Entry) ([]secret, error) {
	dr := v.Report
	path := v.Path + ".subject"
	var ids []fhir.Identifier
	if v.Subject != nil {
		ids = v.Subject.Identifier
		pt := v.Subject
		if len(pt.Name) > 0 {
			n := pt.Name[0]
			e.Patient.Demo.Name = n.Text
			if e.Patient.Demo.Name == "" {
				e.Patient.Demo.Name = n.Family + strings.Join(n.Given, "")
			}
		}
		e.Patient.Demo.Gender = pt.Gender
		if pt.BirthDate != "" {
			if t, _, err := fhir.ParseDateTime(pt.BirthDate, time.UTC); err == nil {
				e.Patient.Demo.BirthDate = &t
			}
		}
		for _, t := range pt.Telecom {
			if t.System == "phone" && t.Value != "" {
				e.Patient.Demo.PhoneHash = p.Hasher.Hash("phone", "", t.Value)
				break
			}
		}
	} else if dr.Subject != nil && dr.Subject.Identifier != nil {
		ids = []fhir.Identifier{*dr.Subject.Identifier}
	}
	if dr.Subject == nil {
		return nil, &Error{Code: CodeNoIdentity, Path: v.Path, Msg: "report has no subject: the patient cannot be identified"}
	}
	var secrets []secret
	seen := map[string]bool{}
	for i, id := range ids {
		if id.Value == "" {
			continue
		}
		kind, issuer := "", ""
		switch {
		case contains(ResidentIDSystems, id.System):
			kind = identity.KindNationalID
			if err := identity.ValidateResidentID(id.Value); err != nil {
				return nil, &Error{Code: CodeBadResidentID, Path: fmt.Sprintf("%s.identifier[%d]", subjectPath(v), i),
					Msg: "resident ID number is invalid: " + redactIDError(err)}
			}
		case contains(InsuranceSystems, id.System):
			kind = identity.KindInsurance
		case isMRN(id):
			kind, issuer = identity.KindMRN, e.Performer
		default:
			continue
		}
		hash := p.Hasher.Hash(kind, issuer, id.Value)
		masked := identity.Mask(kind, id.Value)
		if kind != identity.KindMRN {
			secrets = append(secrets, newSecret(kind, id.Value, masked, hash))
		}
		k := kind + issuer + string(hash)
		if seen[k] {
			continue
		}
		seen[k] = true
		e.Patient.Keys = append(e.Patient.Keys, identity.Key{Kind: kind, Issuer: issuer, Hash: hash, Masked: masked})
	}
	if len(e.Patient.Keys) == 0 {
		msg := "subject has no resident ID (" + ResidentIDSystems[0] + "), insurance number (" + InsuranceSystems[0] + ") or MRN (identifier type MR)"
		if v.Subject == nil && dr.Subject.Identifier == nil {
			msg = "subject does not resolve to a Patient in the message and carries no identifier: include the Patient resource or give subject.identifier"
		}
		return nil, &Error{Code: CodeNoIdentity, Path: path, Msg: msg}
	}
	return secrets, nil
}

// secret is a resident ID or insurance number of the subject, in the spellings it may take in
// the message, with its masked form and keyed hash.
type secret struct {
	forms  [][]byte // longest first
	masked []byte
	hash   []byte
}

func newSecret(kind, value, masked string, hash []byte) secret {
	sc := secret{masked: []byte(masked), hash: hash}
	seen := map[string]bool{}
	for _, f := range []string{value, strings.TrimSpace(value), strings.ToUpper(strings.TrimSpace(value)),
		strings.ToLower(strings.TrimSpace(value))} {
		if len(f) >= 6 && !seen[f] {
			seen[f] = true
			sc.forms = append(sc.forms, []byte(f))
		}
	}
	sort.SliceStable(sc.forms, func(i, j int) bool { return len(sc.forms[i]) > len(sc.forms[j]) })
	return sc
}

// redact replaces every spelling of the subject's identity numbers in raw with the masked form,
// so that no plaintext national ID or insurance number is stored: a contained Patient, a
// logical reference (subject.identifier) or a conditional reference (Patient?identifier=…)
// carries them inside the report and its observations. used records which secrets occurred.
// The masked forms are plain ASCII, so the JSON stays valid.
func redact(raw []byte, secrets []secret, used []bool) []byte {
	out := raw
	for i, sc := range secrets {
		for _, f := range sc.forms {
			if bytes.Contains(out, f) {
				out = bytes.ReplaceAll(out, f, sc.masked)
				used[i] = true
			}
		}
	}
	return out
}

func subjectPath(v *fhir.ReportView) string {
	if v.Subject != nil {
		return "Patient"
	}
	return v.Path + ".subject"
}

// redactIDError keeps the reason of a resident-ID error ("bad check digit: expected 7, got 0").
// identity.ValidateResidentID never repeats the number in its errors; only the generic prefix
// is dropped (keeping just the text after the last ": " lost the reason itself).
func redactIDError(err error) string {
	return strings.TrimPrefix(err.Error(), identity.ErrResidentID.Error()+": ")
}

func isMRN(id fhir.Identifier) bool {
	if id.Type != nil {
		for _, c := range id.Type.Coding {
			if c.Code == "MR" {
				return true
			}
		}
	}
	return strings.HasSuffix(id.System, "/mrn")
}

func strongest(keys []identity.Key) identity.Key {
	best := keys[0]
	rank := map[string]int{identity.KindNationalID: 3, identity.KindInsurance: 2, identity.KindMRN: 1}
	for _, k := range keys[1:] {
		if rank[k.Kind] > rank[best.Kind] {
			best = k
		}
	}
	return best
}

func pickIdentifier(ids []fhir.Identifier) *fhir.Identifier {
	var first *fhir.Identifier
	for i := range ids {
		id := &ids[i]
		if id.Value == "" {
			continue
		}
		if id.Use == "official" {
			return id
		}
		if id.Type != nil {
			for _, c := range id.Type.Coding {
				if c.Code == "FILL" {
					return id
				}
			}
		}
		if first == nil {
			first = id
		}
	}
	return first
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *Profiler) observation(r *fhir.ResolvedObservation, performer string) index.Observation {
	o := r.Obs
	row := index.Observation{Status: o.Status, Resource: r.Raw}
	if o.Code != nil {
		row.CodeDisplay = o.Code.Text
		for i, c := range o.Code.Coding {
			if it, ok := p.Catalog.MapCode(performer, c.System, c.Code); ok && row.Item == "" {
				row.Item = it.Code
			}
			if i == 0 {
				row.CodeSystem, row.Code = c.System, c.Code
				if c.Display != "" {
					row.CodeDisplay = c.Display
				}
			}
		}
	}
	eff := o.EffectiveDateTime
	if eff == "" && o.EffectivePeriod != nil {
		eff = o.EffectivePeriod.Start
	}
	if eff == "" {
		eff = o.EffectiveInstant
	}
	if eff != "" {
		if t, _, err := fhir.ParseDateTime(eff, p.Location); err == nil {
			row.Effective = &t
		}
	}
	switch {
	case o.ValueQuantity != nil:
		if f, err := strconv.ParseFloat(string(o.ValueQuantity.Value), 64); err == nil {
			row.ValueNum = &f
		}
		row.Unit = o.ValueQuantity.Unit
		if row.Unit == "" {
			row.Unit = o.ValueQuantity.Code
		}
	case o.ValueString != "":
		s := o.ValueString
		row.ValueText = &s
	case o.ValueCodeableConcept != nil:
		s := o.ValueCodeableConcept.Text
		if s == "" && len(o.ValueCodeableConcept.Coding) > 0 {
			s = o.ValueCodeableConcept.Coding[0].Display
			if s == "" {
				s = o.ValueCodeableConcept.Coding[0].Code
			}
		}
		row.ValueText = &s
	case o.ValueInteger != nil:
		f := float64(*o.ValueInteger)
		row.ValueNum = &f
	case o.ValueBoolean != nil:
		s := strconv.FormatBool(*o.ValueBoolean)
		row.ValueText = &s
	}
	if len(o.ReferenceRange) > 0 {
		rr := o.ReferenceRange[0]
		if rr.Low != nil {
			if f, err := strconv.ParseFloat(string(rr.Low.Value), 64); err == nil {
				row.RefLow = &f
			}
		}
		if rr.High != nil {
			if f, err := strconv.ParseFloat(string(rr.High.Value), 64); err == nil {
				row.RefHigh = &f
			}
		}
	}
	for _, cc := range o.Interpretation {
		for _, c := range cc.Coding {
			if row.Interpretation == "" {
				row.Interpretation = c.Code
			}
		}
	}
	return row
}

func (p *Profiler) imaging(r *fhir.ResolvedImagingStudy) index.ImagingStudy {
	s := r.Study
	row := index.ImagingStudy{Resource: r.Raw}
	for _, id := range s.Identifier {
		if strings.HasPrefix(id.Value, "urn:oid:") || id.System == "urn:dicom:uid" {
			row.StudyUID = strings.TrimPrefix(id.Value, "urn:oid:")
		}
		if id.Type != nil {
			for _, c := range id.Type.Coding {
				if c.Code == "ACSN" {
					row.Accession = id.Value
				}
			}
		}
	}
	if len(s.Modality) > 0 {
		row.Modality = s.Modality[0].Code
	}
	if s.Started != "" {
		if t, _, err := fhir.ParseDateTime(s.Started, p.Location); err == nil {
			row.Started = &t
		}
	}
	return row
}
