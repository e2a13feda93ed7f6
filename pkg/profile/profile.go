package profile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/index"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
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
	Location *time.Location // zone of times given without one (UTC if nil)
	// Decoder decodes the messages; when nil, the Profiler makes its own in Location.
	// Profilers of one process share one, so that its counts are the process's.
	Decoder *fhir.Decoder

	once sync.Once
}

func (p *Profiler) dec() *fhir.Decoder {
	p.once.Do(func() {
		if p.Decoder == nil {
			p.Decoder = fhir.NewDecoder(p.Location)
		}
	})
	return p.Decoder
}

// Rejection says why a message cannot be indexed: a stable code, what to fix, and the FHIR path
// at fault (or ""). It never contains identity numbers.
type Rejection struct {
	Code, Message, Path string
}

// Func returns p as a function of one Kafka message (its value and mrhub-source header): the
// shape of the report consumer's ProfileFunc.
func (p *Profiler) Func() func(m kafka.Message) ([]*index.Entry, *Rejection) {
	return func(m kafka.Message) ([]*index.Entry, *Rejection) {
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

// AsRejection converts a profile or FHIR error into a rejection.
func AsRejection(err error) *Rejection {
	var pe *Error
	if errors.As(err, &pe) {
		return &Rejection{Code: pe.Code, Path: pe.Path, Message: pe.Msg}
	}
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return &Rejection{Code: fe.Code, Path: fe.Path, Message: fe.Msg}
	}
	return &Rejection{Code: "profile.invalid", Message: err.Error()}
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
	msg, err := p.dec().ParseMessage(value)
	if err != nil {
		return nil, err
	}
	out := make([]*index.Entry, 0, len(msg.Reports))
	orgs := &messageOrgs{msg: msg}
	for _, v := range msg.Reports {
		e, err := p.report(v, source, orgs)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Report applies the profile to one report view. An MRN's assigner may reference an
// Organization contained in the report or its subject; Message also resolves references to
// Organizations elsewhere in the message.
func (p *Profiler) Report(v *fhir.ReportView, source string) (*index.Entry, error) {
	return p.report(v, source, &messageOrgs{})
}

func (p *Profiler) report(v *fhir.ReportView, source string, orgs *messageOrgs) (*index.Entry, error) {
	dr := v.Report
	e := &index.Entry{Source: source, Status: fhir.Code(dr.GetStatus())}

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
	secrets, err := p.patient(v, e, orgs)
	if err != nil {
		return nil, err
	}

	// Code, item, category, kind.
	if dr.GetCode() != nil {
		e.CodeDisplay = dr.GetCode().GetText().GetValue()
		for i, c := range dr.GetCode().GetCoding() {
			system, code, display := c.GetSystem().GetValue(), c.GetCode().GetValue(), c.GetDisplay().GetValue()
			if i == 0 || e.Item == "" {
				if it, ok := p.Catalog.MapCode(performer, system, code); ok {
					e.Item, e.Kind = it.Code, it.Kind
					e.CodeSystem, e.Code = system, code
					if display != "" {
						e.CodeDisplay = display
					}
				} else if i == 0 {
					e.CodeSystem, e.Code = system, code
					if display != "" && e.CodeDisplay == "" {
						e.CodeDisplay = display
					}
				}
			}
		}
	}
	for _, cc := range dr.GetCategory() {
		for _, c := range cc.GetCoding() {
			if e.Category == "" {
				e.Category = c.GetCode().GetValue()
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

	// Times (their format was checked by the decoder).
	if dt := dr.GetEffective().GetDateTime(); dt != nil {
		t := fhir.Instant(dt)
		e.Effective = &t
	} else if st := dr.GetEffective().GetPeriod().GetStart(); st != nil {
		t := fhir.Instant(st)
		e.Effective = &t
	}
	if is := dr.GetIssued(); is != nil {
		t := fhir.Instant(is)
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
	if meta := dr.GetMeta(); meta != nil {
		e.MetaVersionID = meta.GetVersionId().GetValue()
		if lu := meta.GetLastUpdated(); lu != nil {
			t := fhir.Instant(lu)
			e.LastUpdated = &t
		}
	}
	for _, x := range dr.GetExtension() {
		if x.GetUrl().GetValue() == HRMarkURL {
			if sv := x.GetValue().GetStringValue(); sv != nil {
				e.HRScope = sv.GetValue()
			}
		}
	}

	// Identifier and natural key.
	if id := pickIdentifier(dr.GetIdentifier()); id != nil {
		e.IdentifierSystem, e.IdentifierValue = id.GetSystem().GetValue(), id.GetValue().GetValue()
		e.NaturalKey = performer + "|" + e.IdentifierSystem + "|" + e.IdentifierValue
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

	// Content and results are stored as received with identity numbers masked (maskResource:
	// on the decoded string values, whatever their JSON spelling).
	// The content hash is taken over their canonical form (fhir.Canonical: equal content in any
	// serialisation gives the same bytes), masked the same way, plus the keyed hash of every
	// number masked in them: a plain SHA-256 of the unmasked content would let anyone holding
	// the stored resource and the published content_hash recover the masked digits by trying
	// the few million candidates.
	used := make([]bool, len(secrets))
	mask := func(s string) string { return redactString(s, secrets, used) }
	e.Resource = maskResource(v.Raw, secrets, used)
	rep, err := canonical(dr, v.Path, mask)
	if err != nil {
		return nil, err
	}
	var obs, img [][]byte
	for _, r := range v.Results {
		o := p.observation(r, performer)
		o.Resource = maskResource(r.Raw, secrets, used)
		c, err := canonical(r.Obs, r.Path, mask)
		if err != nil {
			return nil, err
		}
		obs = append(obs, c)
		e.Observations = append(e.Observations, o)
	}
	for _, s := range v.Imaging {
		m := p.imaging(s)
		m.Resource = maskResource(s.Raw, secrets, used)
		c, err := canonical(s.Study, s.Path, mask)
		if err != nil {
			return nil, err
		}
		img = append(img, c)
		e.Imaging = append(e.Imaging, m)
	}
	var masked [][]byte
	for i, u := range used {
		if u {
			masked = append(masked, secrets[i].hash)
		}
	}
	e.ContentHash = ContentHash(rep, obs, img, masked)
	return e, nil
}

// ContentHash is the content hash of a report version: SHA-256 over the canonical form
// (fhir.Canonical, identity numbers masked) of the report, its results in order and its
// imaging studies in order, each with a kind byte, and the keyed hashes of the identity
// numbers masked in them, sorted. Equal content
// gives an equal hash whatever the order the subject listed its identifiers in.
func ContentHash(report []byte, results, imaging, maskedKeyHashes [][]byte) []byte {
	h := sha256.New()
	h.Write(report)
	for _, r := range results {
		h.Write([]byte{0})
		h.Write(r)
	}
	for _, r := range imaging {
		h.Write([]byte{1})
		h.Write(r)
	}
	ks := slices.Clone(maskedKeyHashes)
	slices.SortFunc(ks, bytes.Compare)
	ks = slices.CompactFunc(ks, bytes.Equal)
	for _, k := range ks {
		h.Write([]byte{2})
		h.Write(k)
	}
	return h.Sum(nil)
}

// canonical returns the canonical form of a decoded resource (fhir.Canonical).
func canonical(res proto.Message, path string, mask func(string) string) ([]byte, error) {
	b, err := fhir.Canonical(res, mask)
	if err != nil {
		return nil, &fhir.Error{Code: fhir.CodeInvalid, Path: path, Msg: "resource cannot be serialised: " + err.Error()}
	}
	return b, nil
}

// performer finds the issuing institution's code.
func (p *Profiler) performer(v *fhir.ReportView, source string) (string, error) {
	for _, org := range v.Performers {
		if code, ok := p.institution(org.GetIdentifier()); ok {
			return code, nil
		}
	}
	for _, ref := range v.PerformerRefs {
		if ref.GetIdentifier() != nil {
			if code, ok := p.institution([]*dtpb.Identifier{ref.GetIdentifier()}); ok {
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

func (p *Profiler) institution(ids []*dtpb.Identifier) (string, bool) {
	for _, id := range ids {
		if id.GetValue().GetValue() == "" {
			continue
		}
		if inst, ok := p.Catalog.Institution(id.GetValue().GetValue()); ok {
			return inst.Code, true
		}
	}
	return "", false
}

// patient fills e.Patient from the subject.
func (p *Profiler) patient(v *fhir.ReportView, e *index.Entry, orgs *messageOrgs) ([]secret, error) {
	dr := v.Report
	path := v.Path + ".subject"
	var ids []*dtpb.Identifier
	resolve := orgs.resolver(dr)
	if v.Subject != nil {
		resolve = orgs.resolver(v.Subject, dr)
		pt := v.Subject
		ids = pt.GetIdentifier()
		if names := pt.GetName(); len(names) > 0 {
			n := names[0]
			e.Patient.Demo.Name = n.GetText().GetValue()
			if e.Patient.Demo.Name == "" {
				var b strings.Builder
				b.WriteString(n.GetFamily().GetValue())
				for _, g := range n.GetGiven() {
					b.WriteString(g.GetValue())
				}
				e.Patient.Demo.Name = b.String()
			}
		}
		e.Patient.Demo.Gender = fhir.Code(pt.GetGender())
		if bd := pt.GetBirthDate(); bd != nil {
			t := fhir.CalendarDate(bd)
			e.Patient.Demo.BirthDate = &t
		}
		for _, t := range pt.GetTelecom() {
			if fhir.Code(t.GetSystem()) == "phone" && t.GetValue().GetValue() != "" {
				e.Patient.Demo.PhoneHash = p.Hasher.Hash("phone", "", t.GetValue().GetValue())
				break
			}
		}
	} else if dr.GetSubject().GetIdentifier() != nil {
		ids = []*dtpb.Identifier{dr.GetSubject().GetIdentifier()}
	} else if id := conditionalIdentifier(fhir.RefString(dr.GetSubject())); id != nil {
		ids = []*dtpb.Identifier{id}
	}
	if dr.GetSubject() == nil {
		return nil, &Error{Code: CodeNoIdentity, Path: v.Path, Msg: "report has no subject: the patient cannot be identified"}
	}
	var secrets []secret
	seen := map[string]bool{}
	unplaced := false
	for i, id := range ids {
		value, system := id.GetValue().GetValue(), id.GetSystem().GetValue()
		if value == "" {
			continue
		}
		kind, issuer := "", ""
		switch {
		case contains(ResidentIDSystems, system):
			kind = identity.KindNationalID
			if err := identity.ValidateResidentID(value); err != nil {
				return nil, &Error{Code: CodeBadResidentID, Path: fmt.Sprintf("%s.identifier[%d]", subjectPath(v), i),
					Msg: "resident ID number is invalid: " + redactIDError(err)}
			}
		case contains(InsuranceSystems, system):
			kind = identity.KindInsurance
		case IsMRN(p.Catalog, id):
			var ok bool
			if issuer, ok = MRNIssuer(p.Catalog, id, resolve, e.Performer); !ok {
				unplaced = true
				continue // an assigner outside the region: never filed under a guess
			}
			kind = identity.KindMRN
		default:
			continue
		}
		hash := p.Hasher.Hash(kind, issuer, value)
		masked := identity.Mask(kind, value)
		if kind != identity.KindMRN {
			secrets = append(secrets, newSecret(kind, value, masked, hash))
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
		if v.Subject == nil && dr.GetSubject().GetIdentifier() == nil {
			msg = "subject does not resolve to a Patient in the message and carries no identifier: include the Patient resource or give subject.identifier"
		}
		if unplaced {
			msg = "the subject's only identifiers are MRNs whose assigner is no institution of the region: give the assigner's identifier in " + InstitutionSystems[0] + " (its unified social credit code), or add a resident ID or insurance number"
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

// redact replaces every spelling of the subject's identity numbers in one decoded value with the
// masked form. used records which secrets occurred. The masked forms are plain ASCII.
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

// redactString masks one string value of a decoded resource (maskString). The canonical form
// calls it for every string of every resource, so it copies only a string that holds a number.
func redactString(s string, secrets []secret, used []bool) string {
	m, _ := maskString(s, secrets, used)
	return m
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

func isMRN(id *dtpb.Identifier) bool {
	for _, c := range id.GetType().GetCoding() {
		if c.GetCode().GetValue() == "MR" {
			return true
		}
	}
	return strings.HasSuffix(id.GetSystem().GetValue(), "/mrn")
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

func pickIdentifier(ids []*dtpb.Identifier) *dtpb.Identifier {
	var first *dtpb.Identifier
	for _, id := range ids {
		if id.GetValue().GetValue() == "" {
			continue
		}
		if fhir.Code(id.GetUse()) == "official" {
			return id
		}
		for _, c := range id.GetType().GetCoding() {
			if c.GetCode().GetValue() == "FILL" {
				return id
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
	row := index.Observation{Status: fhir.Code(o.GetStatus())}
	if o.GetCode() != nil {
		row.CodeDisplay = o.GetCode().GetText().GetValue()
		for i, c := range o.GetCode().GetCoding() {
			system, code := c.GetSystem().GetValue(), c.GetCode().GetValue()
			if it, ok := p.Catalog.MapCode(performer, system, code); ok && row.Item == "" {
				row.Item = it.Code
			}
			if i == 0 {
				row.CodeSystem, row.Code = system, code
				if d := c.GetDisplay().GetValue(); d != "" {
					row.CodeDisplay = d
				}
			}
		}
	}
	eff := o.GetEffective()
	switch {
	case eff.GetDateTime() != nil:
		t := fhir.Instant(eff.GetDateTime())
		row.Effective = &t
	case eff.GetPeriod().GetStart() != nil:
		t := fhir.Instant(eff.GetPeriod().GetStart())
		row.Effective = &t
	case eff.GetInstant() != nil:
		t := fhir.Instant(eff.GetInstant())
		row.Effective = &t
	}
	val := o.GetValue()
	switch {
	case val.GetQuantity() != nil:
		q := val.GetQuantity()
		if f, err := strconv.ParseFloat(q.GetValue().GetValue(), 64); err == nil {
			row.ValueNum = &f
		}
		row.Unit = q.GetUnit().GetValue()
		if row.Unit == "" {
			row.Unit = q.GetCode().GetValue()
		}
	case val.GetStringValue() != nil:
		s := val.GetStringValue().GetValue()
		row.ValueText = &s
	case val.GetCodeableConcept() != nil:
		cc := val.GetCodeableConcept()
		s := cc.GetText().GetValue()
		if s == "" && len(cc.GetCoding()) > 0 {
			s = cc.GetCoding()[0].GetDisplay().GetValue()
			if s == "" {
				s = cc.GetCoding()[0].GetCode().GetValue()
			}
		}
		row.ValueText = &s
	case val.GetInteger() != nil:
		f := float64(val.GetInteger().GetValue())
		row.ValueNum = &f
	case val.GetBoolean() != nil:
		s := strconv.FormatBool(val.GetBoolean().GetValue())
		row.ValueText = &s
	}
	if rrs := o.GetReferenceRange(); len(rrs) > 0 {
		rr := rrs[0]
		if rr.GetLow() != nil {
			if f, err := strconv.ParseFloat(rr.GetLow().GetValue().GetValue(), 64); err == nil {
				row.RefLow = &f
			}
		}
		if rr.GetHigh() != nil {
			if f, err := strconv.ParseFloat(rr.GetHigh().GetValue().GetValue(), 64); err == nil {
				row.RefHigh = &f
			}
		}
	}
	for _, cc := range o.GetInterpretation() {
		for _, c := range cc.GetCoding() {
			if row.Interpretation == "" {
				row.Interpretation = c.GetCode().GetValue()
			}
		}
	}
	return row
}

func (p *Profiler) imaging(r *fhir.ResolvedImagingStudy) index.ImagingStudy {
	s := r.Study
	var row index.ImagingStudy
	for _, id := range s.GetIdentifier() {
		value := id.GetValue().GetValue()
		if strings.HasPrefix(value, "urn:oid:") || id.GetSystem().GetValue() == "urn:dicom:uid" {
			row.StudyUID = strings.TrimPrefix(value, "urn:oid:")
		}
		for _, c := range id.GetType().GetCoding() {
			if c.GetCode().GetValue() == "ACSN" {
				row.Accession = value
			}
		}
	}
	if ms := s.GetModality(); len(ms) > 0 {
		row.Modality = ms[0].GetCode().GetValue()
	}
	if st := s.GetStarted(); st != nil {
		t := fhir.Instant(st)
		row.Started = &t
	}
	return row
}
