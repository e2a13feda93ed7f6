package catalog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateUSCC(t *testing.T) {
	valid := []string{
		"91350100M000100Y43", // the example printed in GB 32100-2015 commentary
		"91110000802100433B",
		"91440300708461136T",
		"12100000400000624D",
	}
	for _, c := range valid {
		if err := ValidateUSCC(c); err != nil {
			t.Errorf("ValidateUSCC(%s): %v", c, err)
		}
	}
	invalid := []struct{ code, reason string }{
		{"", "length 0"},
		{"91350100M000100Y4", "length 17"},
		{"91350100M000100Y44", "expected 3, got 4"},
		{"91350100M000100YI3", "not in the GB 32100 alphabet"}, // I is not used
		{"91350100m000100Y43", "not in the GB 32100 alphabet"}, // lower case
		{"913501O0M000100Y43", "not in the GB 32100 alphabet"}, // letter O
		{"9135A100M000100Y4" + "X", "6 digits"},
		{"00330299473079193Y", "must not be 0"},
	}
	for _, tt := range invalid {
		err := ValidateUSCC(tt.code)
		if !errors.Is(err, ErrUSCC) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidateUSCC(%q) = %v, want ErrUSCC mentioning %q", tt.code, err, tt.reason)
		}
	}
	// Every first 17 has exactly one check character.
	c, err := USCCCheckChar("12330299473079193")
	if err != nil || c != 'Y' {
		t.Errorf("USCCCheckChar = %c, %v", c, err)
	}
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// usccFor makes a valid public-institution USCC for tests.
func usccFor(body string) string {
	first17 := "12330299" + body
	c, err := USCCCheckChar(first17)
	if err != nil {
		panic(err)
	}
	return first17 + string(c)
}

var (
	hospA = usccFor("47000001X")
	townA = usccFor("470000021")
	hospB = usccFor("470000030")
)

func smallRegion() *Region {
	return &Region{
		Name:      "测试区",
		Districts: []District{{Code: "330299", Name: "测试区", NameEn: "Test District"}},
		Communities: []Community{
			{Code: "C1", Name: "甲医共体", District: "330299", LeadCode: hospA},
			{Code: "C2", Name: "乙医共体", District: "330299", LeadCode: hospB},
		},
		Institutions: []Institution{
			{Code: hospA, Name: "甲医院", Kind: KindHospital, District: "330299", Community: "C1", RegionCode: "T001",
				MRNSystems: []string{"http://his.t001.example/sid/mrn", "urn:oid:1.2.156.1"}},
			{Code: townA, Name: "甲镇卫生院", Kind: KindTownship, District: "330299", Community: "C1", RegionCode: "T101",
				MRNSystems: []string{"http://his.t101.example/sid/mrn"}},
			{Code: hospB, Name: "乙医院", Kind: KindHospital, District: "330299", Community: "C2", RegionCode: "T002"},
		},
		Items: []Item{
			{Code: "JY001", Name: "血常规", Kind: ItemLab, CodeSystem: "http://loinc.org", StdCode: "58410-2", ValidityDays: 7, PriceCents: 2000, Scope: ScopeNational, Department: "检验科"},
			{Code: "JC011", Name: "胸部CT平扫", Kind: ItemImaging, CodeSystem: "http://loinc.org", StdCode: "24627-2", ValidityDays: 90, PriceCents: 25000, Scope: ScopeNational, Department: "放射科"},
			{Code: "JC030", Name: "腹部超声", Kind: ItemImaging, CodeSystem: "urn:mrhub:item", StdCode: "JC030", ValidityDays: 30, PriceCents: 12000, Scope: ScopeProvince, Department: "超声科"},
		},
		CodeMaps: []CodeMap{
			{Institution: hospA, System: "http://his.t001.example/lab-codes", Code: "1001", Item: "JY001"},
			{Institution: hospA, System: "http://his.t001.example/lab-codes", Code: "58410-2", Item: "JC030"}, // perverse local code
			{Institution: townA, System: "", Code: "XCG", Item: "JY001"},
			{Institution: hospB, System: "http://his.t002.example/exam-codes", Code: "CT-XB", Item: "JC011"},
		},
		Qualifications: []Qualification{
			{Institution: hospA, Item: "JY001", Scope: ScopeProvince, ValidFrom: day("2025-01-01"), ValidTo: day("2025-12-31")},
			{Institution: hospA, Item: "JY001", Scope: ScopeNational, ValidFrom: day("2025-07-01"), ValidTo: day("2026-06-30")},
			{Institution: townA, Item: "JY001", Scope: ScopeRegion, ValidFrom: day("2025-01-01"), ValidTo: day("2027-12-31")},
		},
		Reasons: []Reason{
			{Code: 1, Name: "病情变化", NameEn: "Condition changed", CountsInRate: true},
			{Code: 6, Name: "其他", NameEn: "Other", CountsInRate: true, NoteRequired: true},
			{Code: 98, Name: "无法调阅", NameEn: "Prior report could not be obtained"},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := smallRegion().Validate(); err != nil {
		t.Fatalf("valid region: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(r *Region)
		want   string
	}{
		{"no name", func(r *Region) { r.Name = "" }, "name is empty"},
		{"district code", func(r *Region) { r.Districts[0].Code = "3302" }, "6-digit"},
		{"bad USCC", func(r *Region) {
			r.Institutions[0].Code = hospA[:17] + "0"
			r.Communities[0].LeadCode = r.Institutions[0].Code
		}, "bad check character"},
		{"duplicate institution", func(r *Region) { r.Institutions[1].Code = hospA }, "duplicate institution code"},
		{"kind", func(r *Region) { r.Institutions[1].Kind = "clinic" }, `kind "clinic"`},
		{"unknown district", func(r *Region) { r.Institutions[1].District = "330211" }, `district "330211" is not in districts`},
		{"unknown community", func(r *Region) { r.Institutions[1].Community = "C9" }, `community "C9" is not in communities`},
		{"duplicate region code", func(r *Region) { r.Institutions[1].RegionCode = "T001" }, `region_code "T001" is also used`},
		{"lead elsewhere", func(r *Region) { r.Communities[1].LeadCode = hospA }, "belongs to community"},
		{"lead missing", func(r *Region) { r.Communities[0].LeadCode = "" }, "lead_code is empty"},
		{"lead a township", func(r *Region) { r.Communities[0].LeadCode = townA }, "a community is led by a hospital"},
		{"item kind", func(r *Region) { r.Items[0].Kind = "exam" }, `kind "exam" must be lab or imaging`},
		{"item validity", func(r *Region) { r.Items[0].ValidityDays = 0 }, "validity_days must be > 0"},
		{"item std half", func(r *Region) { r.Items[0].CodeSystem = "" }, "both set or both empty"},
		{"item std duplicate", func(r *Region) { r.Items[1].StdCode = "58410-2" }, "is also item"},
		{"item scope", func(r *Region) { r.Items[0].Scope = "city" }, `scope "city"`},
		{"map to unknown item", func(r *Region) { r.CodeMaps[0].Item = "JY999" }, `item "JY999" is not in items`},
		{"map by region code", func(r *Region) { r.CodeMaps[0].Institution = "T001" }, "use the USCC"},
		{"duplicate map", func(r *Region) { r.CodeMaps[1].Code = "1001" }, "duplicate mapping"},
		{"qualification backwards", func(r *Region) { r.Qualifications[0].ValidTo = day("2024-12-31") }, "is before valid_from"},
		{"duplicate reason", func(r *Region) { r.Reasons[1].Code = 1 }, "duplicate reason code"},
		{"MRN system of two", func(r *Region) { r.Institutions[1].MRNSystems[0] = "urn:oid:1.2.156.1" }, `is also institution`},
		{"MRN system twice", func(r *Region) { r.Institutions[1].MRNSystems = []string{"urn:x:1", "urn:x:1"} }, "twice"},
		{"MRN system not a URI", func(r *Region) { r.Institutions[1].MRNSystems[0] = "his mrn" }, "absolute URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := smallRegion()
			tt.mutate(r)
			err := r.Validate()
			if !errors.Is(err, ErrInvalidRegion) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v\nwant ErrInvalidRegion mentioning %q", err, tt.want)
			}
		})
	}
}

func TestQualificationJSON(t *testing.T) {
	q := Qualification{Institution: hospA, Item: "JY001", Scope: ScopeRegion, ValidFrom: day("2025-01-01"), ValidTo: day("2027-12-31")}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"valid_from":"2025-01-01","valid_to":"2027-12-31"`) {
		t.Errorf("marshalled %s", b)
	}
	var back Qualification
	if err := json.Unmarshal(b, &back); err != nil || !back.ValidFrom.Equal(q.ValidFrom) || !back.ValidTo.Equal(q.ValidTo) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"valid_from":"2025-13-01","valid_to":"2025-01-01"}`), &back); err == nil {
		t.Error("bad date accepted")
	}
}

func TestMRNSystem(t *testing.T) {
	r := smallRegion()
	c := NewCatalog(r)
	r.Institutions[1].MRNSystems[0] = "http://changed.example/mrn" // the snapshot is a copy
	for sys, want := range map[string]string{"http://his.t001.example/sid/mrn": hospA, "urn:oid:1.2.156.1": hospA,
		"http://his.t101.example/sid/mrn": townA, "http://changed.example/mrn": "", "http://his.t002.example/sid/mrn": ""} {
		in, ok := c.MRNSystem(sys)
		if got := ""; ok {
			got = in.Code
			if got != want {
				t.Errorf("MRNSystem(%s) = %s, want %q", sys, got, want)
			}
		} else if want != "" {
			t.Errorf("MRNSystem(%s) not found, want %s", sys, want)
		}
	}
}

func TestCatalogLookups(t *testing.T) {
	r := smallRegion()
	c := NewCatalog(r)
	r.Institutions[0].Name = "changed after NewCatalog"

	if in, ok := c.Institution("T001"); !ok || in.Code != hospA || in.Name != "甲医院" {
		t.Errorf("Institution(T001) = %+v, %v", in, ok)
	}
	if in, ok := c.Institution(hospA); !ok || in.RegionCode != "T001" {
		t.Errorf("Institution(USCC) = %+v, %v", in, ok)
	}
	if _, ok := c.Institution("nope"); ok {
		t.Error("Institution(nope) found")
	}
	if it, ok := c.Item("JC030"); !ok || it.ValidityDays != 30 {
		t.Errorf("Item(JC030) = %+v, %v", it, ok)
	}

	maps := []struct {
		inst, sys, code string
		want            string // item, "" = unmapped
	}{
		{hospA, "http://his.t001.example/lab-codes", "1001", "JY001"},
		{"T001", "http://his.t001.example/lab-codes", "1001", "JY001"},   // by region code
		{hospA, "http://his.t001.example/lab-codes", "58410-2", "JC030"}, // local map wins
		{hospA, "http://loinc.org", "58410-2", "JY001"},                  // standard code
		{townA, "http://loinc.org", "24627-2", "JC011"},                  // standard from anyone
		{"unknown", "http://loinc.org", "24627-2", "JC011"},
		{"unknown", "urn:mrhub:item", "JC030", "JC030"},
		{townA, "", "XCG", "JY001"},                              // code without system, mapped
		{hospA, "", "XCG", ""},                                   // not in hospA's map
		{townA, "", "58410-2", ""},                               // bare code is never standard
		{hospB, "http://his.t001.example/lab-codes", "1001", ""}, // another hospital's map
		{hospB, "http://his.t002.example/exam-codes", "CT-YZ", ""},
	}
	for _, m := range maps {
		it, ok := c.MapCode(m.inst, m.sys, m.code)
		got := ""
		if ok {
			got = it.Code
		}
		if got != m.want {
			t.Errorf("MapCode(%s, %s, %s) = %q, want %q", m.inst, m.sys, m.code, got, m.want)
		}
	}

	cst := time.FixedZone("CST", 8*3600)
	quals := []struct {
		inst, item string
		at         time.Time
		want       string // scope, "" = not qualified
	}{
		{hospA, "JY001", time.Date(2024, 12, 31, 23, 59, 0, 0, cst), ""},
		{hospA, "JY001", time.Date(2025, 1, 1, 0, 0, 0, 0, cst), ScopeProvince},
		{hospA, "JY001", time.Date(2024, 12, 31, 16, 30, 0, 0, time.UTC), ScopeProvince}, // 00:30 CST on 1 Jan
		{hospA, "JY001", time.Date(2025, 8, 1, 9, 0, 0, 0, cst), ScopeNational},          // overlap: widest wins
		{"T001", "JY001", time.Date(2026, 6, 30, 23, 59, 0, 0, cst), ScopeNational},      // inclusive end
		{hospA, "JY001", time.Date(2026, 6, 30, 16, 1, 0, 0, time.UTC), ""},              // 00:01 CST on 1 Jul
		{townA, "JY001", time.Date(2027, 12, 31, 12, 0, 0, 0, cst), ScopeRegion},
		{townA, "JC030", time.Date(2026, 1, 1, 12, 0, 0, 0, cst), ""},
		{"nope", "JY001", time.Date(2026, 1, 1, 12, 0, 0, 0, cst), ""},
	}
	for _, q := range quals {
		got := ""
		if ql, ok := c.Qualified(q.inst, q.item, q.at); ok {
			got = ql.Scope
		}
		if got != q.want {
			t.Errorf("Qualified(%s, %s, %s) = %q, want %q", q.inst, q.item, q.at, got, q.want)
		}
	}

	if !c.SameCommunity(hospA, "T101") || c.SameCommunity(hospA, hospB) || c.SameCommunity(hospA, "nope") {
		t.Error("SameCommunity wrong")
	}
	if rs, ok := c.Reason(6); !ok || !rs.NoteRequired {
		t.Errorf("Reason(6) = %+v, %v", rs, ok)
	}
	if rs, ok := c.Reason(98); !ok || rs.CountsInRate {
		t.Errorf("Reason(98) = %+v, %v", rs, ok)
	}
	if _, ok := c.Reason(7); ok {
		t.Error("Reason(7) found")
	}
	if n := len(c.Region().Items); n != 3 {
		t.Errorf("Region().Items has %d", n)
	}
}
