package profile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestWhoIssuedAnMRN is a property test over the forms an MRN's issuer takes (assigner
// identifier by USCC or region code, assigner reference to a Bundle entry, to Organization/id,
// to a contained Organization, a conditional Organization reference, display only, an
// assigner outside the region; a registered MRN system, urn:mrhub:mrn:<code>, an unregistered
// system) and the places the MRN is carried: the profile files it under the institution the
// rule names, and a lookup by the same system places it the same way whenever the system
// alone can say.
func TestWhoIssuedAnMRN(t *testing.T) {
	p, h := offlineProfiler(t)
	const (
		performer = "12330299473079193Y" // QX001
		township  = "12330299473554337R" // QX101
		other     = "12330299473158385B" // QX002
	)
	systems := []struct {
		system, issuer string // issuer by rule 2 ("" = none)
	}{
		{"http://his.qx101.example/sid/mrn", township},
		{"urn:mrhub:mrn:QX002", other},
		{"urn:mrhub:mrn:" + township, township},
		{"http://his.nowhere.example/sid/mrn", ""},
		{"http://his.qx001.example/sid/mrn", performer},
	}
	type assigner struct {
		json      any
		entry     any    // an extra Bundle entry, or nil
		contained any    // an Organization contained in the Patient, or nil
		issuer    string // "" = names none (fall through), "-" = outside the region
	}
	orgEntry := func(fullURL, id, code string) any {
		org := map[string]any{"resourceType": "Organization",
			"identifier": []any{map[string]any{"system": "https://mrhub.example/sid/uscc", "value": code}}}
		if id != "" {
			org["id"] = id
		}
		return map[string]any{"fullUrl": fullURL, "resource": org}
	}
	assigners := []assigner{
		{nil, nil, nil, ""},
		{map[string]any{"display": "青山镇卫生院"}, nil, nil, ""},
		{map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/uscc", "value": township}}, nil, nil, township},
		{map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/institution", "value": "QX002"}}, nil, nil, other},
		{map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/uscc", "value": "91110000000000000X"}}, nil, nil, "-"},
		{map[string]any{"reference": "urn:uuid:org-t"}, orgEntry("urn:uuid:org-t", "", township), nil, township},
		{map[string]any{"reference": "Organization/o2"}, orgEntry("http://his.qx002.example/fhir/Organization/o2", "o2", other), nil, other},
		{map[string]any{"reference": "Organization?identifier=" + url.QueryEscape("https://mrhub.example/sid/uscc|"+township)}, nil, nil, township},
		{map[string]any{"reference": "urn:uuid:nowhere"}, nil, nil, "-"},
		{map[string]any{"reference": "#o"}, nil, map[string]any{"resourceType": "Organization", "id": "o",
			"identifier": []any{map[string]any{"system": "https://mrhub.example/sid/institution", "value": "QX101"}}}, township},
	}
	rng := rand.New(rand.NewPCG(7, 21))
	for i := 0; i < 400; i++ {
		sys := systems[rng.IntN(len(systems))]
		as := assigners[rng.IntN(len(assigners))]
		value := fmt.Sprintf("M-%d", rng.IntN(1000))
		id := map[string]any{"system": sys.system, "value": value}
		if rng.IntN(2) == 0 || sys.system == "http://his.nowhere.example/sid/mrn" {
			id["type"] = map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}}
		}
		if as.json != nil {
			id["assigner"] = as.json
		}
		want := as.issuer
		switch {
		case want == "" && sys.issuer != "":
			want = sys.issuer
		case want == "":
			want = performer
		}
		entries := []any{
			map[string]any{"fullUrl": "urn:uuid:dr", "resource": map[string]any{"resourceType": "DiagnosticReport", "status": "final",
				"code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "urn:uuid:p"},
				"performer":         []any{map[string]any{"identifier": map[string]any{"system": "https://mrhub.example/sid/uscc", "value": performer}}},
				"effectiveDateTime": "2026-11-20T08:30:00+08:00"}},
			map[string]any{"fullUrl": "urn:uuid:p", "resource": map[string]any{"resourceType": "Patient", "identifier": []any{id,
				map[string]any{"system": "http://mrhub.example/sid/resident-id", "value": testenv.NID(i)}}}},
		}
		if as.contained != nil {
			entries[1].(map[string]any)["resource"].(map[string]any)["contained"] = []any{as.contained}
		}
		if as.entry != nil {
			entries = append(entries, as.entry)
		}
		msg, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
		es, err := p.Message(msg, performer)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, msg)
		}
		var got []identity.Key
		for _, k := range es[0].Patient.Keys {
			if k.Kind == identity.KindMRN {
				got = append(got, k)
			}
		}
		if want == "-" {
			if len(got) != 0 {
				t.Fatalf("case %d: an MRN assigned outside the region was filed under %s\n%s", i, got[0].Issuer, msg)
			}
			continue
		}
		if len(got) != 1 || got[0].Issuer != want || !bytes.Equal(got[0].Hash, h.Hash(identity.KindMRN, want, value)) {
			t.Fatalf("case %d: MRN keys %+v, want one issued by %s\n%s", i, got, want, msg)
		}
		// A lookup by the system alone agrees whenever the system names the issuer.
		kind, issuer, err := profile.LookupIdentifier(p.Catalog, sys.system)
		switch {
		case sys.issuer == "" && err == nil:
			t.Fatalf("case %d: lookup placed unregistered system %s under %s", i, sys.system, issuer)
		case sys.issuer != "" && (err != nil || kind != identity.KindMRN || issuer != sys.issuer):
			t.Fatalf("case %d: lookup of %s: %s %s %v, want mrn %s", i, sys.system, kind, issuer, err, sys.issuer)
		case as.issuer == "" && sys.issuer != "" && issuer != got[0].Issuer:
			t.Fatalf("case %d: stored under %s, looked up under %s", i, got[0].Issuer, issuer)
		}
	}
}
