package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
)

// Systems of the masked identifiers the hub serves on Patient.
const (
	maskedSystemBase = "http://mrhub.example/sid/masked/"
	maskedExtURL     = "http://mrhub.example/fhir/StructureDefinition/identifier-masked"
)

// identifierKind maps a patient identifier system to the hub's identifier kind and issuer by
// the rule the profile files identifiers with (profile.LookupIdentifier): resident-ID systems →
// nid, insurance systems → ins, urn:mrhub:mrn:<institution> or an MRN system the catalogue
// registers → mrn issued by that institution. A system the hub cannot place is a bad request.
func (s *Server) identifierKind(system string) (kind, issuer string, err error) {
	kind, issuer, err = profile.LookupIdentifier(s.cat, system)
	if err != nil {
		return "", "", &badRequest{err.Error()}
	}
	return kind, issuer, nil
}

// patientsByIdentifier returns the live patients (after merges) holding system|value.
func (s *Server) patientsByIdentifier(ctx context.Context, token string) ([]int64, error) {
	system, value, ok := strings.Cut(token, "|")
	if !ok || system == "" || strings.TrimSpace(value) == "" {
		return nil, badf("patient identifier must be system|value, got %q", redact(token))
	}
	kind, issuer, err := s.identifierKind(system)
	if err != nil {
		return nil, err
	}
	hash := s.hasher.Hash(kind, issuer, value)
	rows, err := s.rd(ctx).Query(ctx, `WITH RECURSIVE p(id) AS (
			SELECT patient_id FROM patient_identifiers WHERE kind = $1 AND issuer = $2 AND value_hash = $3
			UNION SELECT pt.merged_into FROM patients pt JOIN p ON pt.id = p.id WHERE pt.merged_into IS NOT NULL)
		SELECT p.id FROM p JOIN patients x ON x.id = p.id WHERE x.merged_into IS NULL`, kind, issuer, hash)
	if err != nil {
		return nil, fmt.Errorf("looking up patient identifier: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// livePatient follows merges from patient id to the live patient; ok=false when id is unknown.
func (s *Server) livePatient(ctx context.Context, id int64) (int64, bool, error) {
	for i := 0; i < 16; i++ {
		var into *int64
		err := s.rd(ctx).QueryRow(ctx, `SELECT merged_into FROM patients WHERE id = $1`, id).Scan(&into)
		if errors.Is(err, errNoRows) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("looking up patient: %w", err)
		}
		if into == nil {
			return id, true, nil
		}
		id = *into
	}
	return id, true, nil
}

// parsePatientRef parses "Patient/p12", "p12" (and "12") into 12.
func parsePatientRef(v string) (int64, error) {
	v = strings.TrimPrefix(v, "Patient/")
	v = strings.TrimPrefix(v, "p")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, badf("patient reference must be Patient/p<id>, got %q", redact(v))
	}
	return id, nil
}

// redact keeps a value short and without long digit runs (identity numbers) for error messages.
func redact(v string) string {
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	if i := strings.Index(v, "|"); i >= 0 {
		return v[:i] + "|" + identity.Mask("ins", v[i+1:])
	}
	return v
}

type patientRow struct {
	ID        int64
	MergedTo  *int64
	Name      string
	Gender    string
	BirthDate *time.Time
	Updated   time.Time
	IDs       []patientIdent
}

type patientIdent struct{ Kind, Issuer, Masked string }

func (s *Server) loadPatients(ctx context.Context, ids []int64) (map[int64]*patientRow, error) {
	out := map[int64]*patientRow{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.rd(ctx).Query(ctx, `SELECT id, merged_into, name, gender, birth_date, updated_at FROM patients WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("loading patients: %w", err)
	}
	for rows.Next() {
		p := &patientRow{}
		if err := rows.Scan(&p.ID, &p.MergedTo, &p.Name, &p.Gender, &p.BirthDate, &p.Updated); err != nil {
			rows.Close()
			return nil, err
		}
		out[p.ID] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.rd(ctx).Query(ctx, `SELECT patient_id, kind, issuer, masked FROM patient_identifiers WHERE patient_id = ANY($1) ORDER BY patient_id, kind DESC, issuer, masked`, ids)
	if err != nil {
		return nil, fmt.Errorf("loading patient identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int64
		var x patientIdent
		if err := rows.Scan(&pid, &x.Kind, &x.Issuer, &x.Masked); err != nil {
			return nil, err
		}
		if p := out[pid]; p != nil {
			p.IDs = append(p.IDs, x)
		}
	}
	return out, rows.Err()
}

// patientResource builds the FHIR Patient the hub serves: identifiers masked, never plaintext.
func (s *Server) patientResource(p *patientRow) map[string]any {
	res := map[string]any{
		"resourceType": "Patient",
		"id":           "p" + strconv.FormatInt(p.ID, 10),
		"meta": map[string]any{
			"lastUpdated": p.Updated.UTC().Format(time.RFC3339Nano),
			"security": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "MASKED",
				"display": "masked"}},
		},
		"active": p.MergedTo == nil,
	}
	var ids []any
	for _, x := range p.IDs {
		id := map[string]any{
			"extension": []any{map[string]any{"url": maskedExtURL, "valueBoolean": true}},
			"system":    maskedSystemBase + x.Kind,
			"value":     x.Masked,
		}
		switch x.Kind {
		case identity.KindNationalID:
			id["type"] = map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}}, "text": "resident ID (masked)"}
		case identity.KindInsurance:
			id["type"] = map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SN"}}, "text": "medical insurance number (masked)"}
		case identity.KindMRN:
			id["type"] = map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}, "text": "medical record number (masked)"}
			id["system"] = maskedSystemBase + "mrn/" + x.Issuer
			id["assigner"] = s.orgRef(x.Issuer)
		}
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		res["identifier"] = ids
	}
	if p.Name != "" {
		res["name"] = []any{map[string]any{"text": p.Name}}
	}
	switch p.Gender {
	case "male", "female", "other", "unknown":
		res["gender"] = p.Gender
	}
	if p.BirthDate != nil {
		res["birthDate"] = p.BirthDate.Format("2006-01-02")
	}
	if p.MergedTo != nil {
		res["link"] = []any{map[string]any{"other": map[string]any{"reference": "Patient/p" + strconv.FormatInt(*p.MergedTo, 10)}, "type": "replaced-by"}}
	}
	return res
}

// orgRef is a logical reference to an institution of the region.
func (s *Server) orgRef(code string) map[string]any {
	ref := map[string]any{"identifier": map[string]any{"system": profile.InstitutionSystems[0], "value": code}}
	if in, ok := s.cat.Institution(code); ok {
		ref["display"] = in.Name
	}
	return ref
}
