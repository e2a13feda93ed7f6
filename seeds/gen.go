//go:build ignore

// gen writes region.json, the synthetic reference data of the 清溪区 demo region.
// Run from the seeds directory: go run gen.go (or go generate ./seeds).
// Everything here is invented; codes are shaped like real ones and carry valid check digits.
package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log"
	"os"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
)

const district = "330299"

type inst struct {
	region, name, nameEn, kind, community string
	profile                               string // which items it performs
	coding                                string // local code style, or "loinc" for a LOINC sender
}

var insts = []inst{
	{"QX001", "清溪区人民医院", "Qingxi District People's Hospital", "hospital", "QXYG01", "general", "num"},
	{"QX002", "清溪区第二人民医院", "Qingxi District Second People's Hospital", "hospital", "QXYG02", "general", "pinyin"},
	{"QX003", "清溪区第三人民医院", "Qingxi District Third People's Hospital", "hospital", "QXYG03", "general", "loinc"},
	{"QX004", "清溪区中医医院", "Qingxi District Hospital of Traditional Chinese Medicine", "hospital", "QXYG01", "tcm", "lis"},
	{"QX005", "清溪区妇幼保健院", "Qingxi District Maternal and Child Health Hospital", "hospital", "QXYG02", "mch", "num"},
	{"QX006", "清溪区骨伤科医院", "Qingxi District Orthopaedic and Traumatology Hospital", "hospital", "QXYG03", "ortho", "lis"},

	{"QX101", "清溪区青山镇卫生院", "Qingshan Town Health Centre", "township", "QXYG01", "township", "num"},
	{"QX102", "清溪区梅溪镇卫生院", "Meixi Town Health Centre", "township", "QXYG01", "township-us", "pinyin"},
	{"QX103", "清溪区东湖街道社区卫生服务中心", "Donghu Subdistrict Community Health Service Centre", "community", "QXYG01", "township-us", "lis"},
	{"QX104", "清溪区西门街道社区卫生服务中心", "Ximen Subdistrict Community Health Service Centre", "community", "QXYG01", "township", "num"},
	{"QX105", "清溪区白石镇卫生院", "Baishi Town Health Centre", "township", "QXYG02", "township-dr", "pinyin"},
	{"QX106", "清溪区龙潭镇卫生院", "Longtan Town Health Centre", "township", "QXYG02", "township", "num"},
	{"QX107", "清溪区南浦街道社区卫生服务中心", "Nanpu Subdistrict Community Health Service Centre", "community", "QXYG02", "township-us", "loinc"},
	{"QX108", "清溪区桃源镇卫生院", "Taoyuan Town Health Centre", "township", "QXYG02", "township", "lis"},
	{"QX109", "清溪区石门镇卫生院", "Shimen Town Health Centre", "township", "QXYG03", "township-dr", "num"},
	{"QX110", "清溪区云岭镇卫生院", "Yunling Town Health Centre", "township", "QXYG03", "township", "pinyin"},
	{"QX111", "清溪区北岸街道社区卫生服务中心", "Bei'an Subdistrict Community Health Service Centre", "community", "QXYG03", "township-us", "lis"},
	{"QX112", "清溪区溪口镇卫生院", "Xikou Town Health Centre", "township", "QXYG03", "township", "num"},
}

var communities = []catalog.Community{
	{Code: "QXYG01", Name: "清溪区人民医院医共体", NameEn: "Qingxi People's Hospital Medical Community", District: district},
	{Code: "QXYG02", Name: "清溪区第二人民医院医共体", NameEn: "Qingxi Second People's Hospital Medical Community", District: district},
	{Code: "QXYG03", Name: "清溪区第三人民医院医共体", NameEn: "Qingxi Third People's Hospital Medical Community", District: district},
}

var leads = map[string]string{"QXYG01": "QX001", "QXYG02": "QX002", "QXYG03": "QX003"}

const (
	loinc = "http://loinc.org"
	urn   = "urn:mrhub:item"
	lab   = "检验科"
	rad   = "放射科"
	us    = "超声科"
)

// item: code, zh, en, kind, system, std code, validity days, price yuan, scope, department, tags.
// Tags say who performs it: b basic (township centres), u ultrasound at centres, d DR at centres,
// g general hospitals, t TCM, m maternal-child, o orthopaedic.
type item struct {
	catalog.Item
	tags string
}

func it(code, zh, en, kind, sys, std string, days int, yuan float64, scope, dept, tags string) item {
	if sys == urn {
		std = code
	}
	return item{catalog.Item{Code: code, Name: zh, NameEn: en, Kind: kind, CodeSystem: sys, StdCode: std,
		ValidityDays: days, PriceCents: int64(yuan * 100), Scope: scope, Department: dept}, tags}
}

var items = []item{
	// routine blood/urine/stool: 7 days
	it("JY001", "血常规", "Complete blood count (CBC) panel", "lab", loinc, "58410-2", 7, 20, "national", lab, "bgtmo"),
	it("JY002", "尿常规", "Urinalysis panel", "lab", loinc, "24357-6", 7, 10, "national", lab, "bgtmo"),
	it("JY003", "粪便隐血试验", "Faecal occult blood test", "lab", loinc, "2335-8", 7, 10, "province", lab, "bgt"),
	it("JY004", "红细胞沉降率", "Erythrocyte sedimentation rate", "lab", loinc, "4537-7", 7, 6, "province", lab, "bgto"),
	// biochemistry: 14 days
	it("JY010", "肝功能", "Hepatic function panel", "lab", loinc, "24325-3", 14, 60, "national", lab, "bgtmo"),
	it("JY011", "丙氨酸氨基转移酶", "Alanine aminotransferase (ALT)", "lab", loinc, "1742-6", 14, 5, "national", lab, "bgtmo"),
	it("JY012", "天门冬氨酸氨基转移酶", "Aspartate aminotransferase (AST)", "lab", loinc, "1920-8", 14, 5, "national", lab, "bgtmo"),
	it("JY013", "肾功能", "Renal function panel", "lab", loinc, "24362-6", 14, 30, "national", lab, "bgtmo"),
	it("JY014", "肌酐", "Creatinine", "lab", loinc, "2160-0", 14, 5, "national", lab, "bgtmo"),
	it("JY015", "尿素氮", "Urea nitrogen", "lab", loinc, "3094-0", 14, 5, "national", lab, "bgtm"),
	it("JY016", "尿酸", "Uric acid", "lab", loinc, "3084-1", 14, 5, "province", lab, "bgto"),
	it("JY017", "空腹血糖", "Glucose", "lab", loinc, "2345-7", 14, 5, "national", lab, "bgtmo"),
	it("JY018", "血脂四项", "Lipid panel", "lab", loinc, "24331-1", 14, 40, "national", lab, "bgto"),
	it("JY019", "电解质", "Electrolytes panel", "lab", loinc, "24326-1", 14, 20, "national", lab, "bgtmo"),
	it("JY020", "综合代谢组合", "Comprehensive metabolic panel", "lab", loinc, "24323-8", 14, 120, "province", lab, "gt"),
	it("JY021", "糖化血红蛋白", "Haemoglobin A1c", "lab", loinc, "4548-4", 30, 60, "province", lab, "bgt"),
	// coagulation: 7 days
	it("JY030", "凝血四项", "Coagulation panel (PT, APTT, TT, fibrinogen)", "lab", urn, "", 7, 60, "province", lab, "gtmo"),
	it("JY031", "凝血酶原时间", "Prothrombin time (PT)", "lab", loinc, "5902-2", 7, 10, "national", lab, "gtmo"),
	it("JY032", "活化部分凝血活酶时间", "Activated partial thromboplastin time (APTT)", "lab", loinc, "3173-2", 7, 10, "national", lab, "gtmo"),
	it("JY033", "D-二聚体", "D-dimer", "lab", loinc, "48065-7", 7, 60, "province", lab, "go"),
	// endocrine, tumour markers, serology: 30 days
	it("JY040", "甲状腺功能三项", "Thyroid function panel (TSH, FT3, FT4)", "lab", urn, "", 30, 75, "province", lab, "gtm"),
	it("JY041", "促甲状腺激素", "Thyrotropin (TSH)", "lab", loinc, "3016-3", 30, 25, "national", lab, "gtm"),
	it("JY042", "游离甲状腺素", "Free thyroxine (FT4)", "lab", loinc, "3024-7", 30, 25, "province", lab, "gtm"),
	it("JY043", "甲胎蛋白", "Alpha-fetoprotein (AFP)", "lab", loinc, "1834-1", 30, 30, "province", lab, "gt"),
	it("JY044", "癌胚抗原", "Carcinoembryonic antigen (CEA)", "lab", loinc, "2039-6", 30, 30, "province", lab, "gt"),
	it("JY045", "前列腺特异性抗原", "Prostate-specific antigen (PSA)", "lab", loinc, "2857-1", 30, 40, "province", lab, "g"),
	it("JY046", "糖类抗原125", "Cancer antigen 125 (CA 125)", "lab", loinc, "10334-1", 30, 45, "province", lab, "gm"),
	it("JY047", "乙型肝炎表面抗原", "Hepatitis B surface antigen (HBsAg)", "lab", loinc, "5196-1", 30, 15, "national", lab, "bgtmo"),
	it("JY048", "丙型肝炎抗体", "Hepatitis C virus antibody", "lab", loinc, "16128-1", 30, 30, "province", lab, "gtmo"),
	it("JY049", "铁蛋白", "Ferritin", "lab", loinc, "2276-4", 30, 30, "region", lab, "gm"),
	// inflammation and cardiac markers: short windows
	it("JY050", "C反应蛋白", "C-reactive protein (CRP)", "lab", loinc, "1988-5", 7, 20, "national", lab, "bgtmo"),
	it("JY051", "超敏C反应蛋白", "High-sensitivity CRP", "lab", loinc, "30522-7", 7, 30, "province", lab, "gt"),
	it("JY052", "降钙素原", "Procalcitonin", "lab", loinc, "33959-8", 3, 90, "province", lab, "g"),
	it("JY053", "心肌肌钙蛋白I", "Cardiac troponin I", "lab", loinc, "10839-9", 1, 60, "province", lab, "g"),
	it("JY054", "N端脑钠肽前体", "NT-proBNP", "lab", loinc, "33762-6", 7, 120, "province", lab, "g"),

	// imaging: X-ray/CT/MRI 90 days, ultrasound 30 days
	it("JC001", "胸部X线摄影（正侧位）", "Chest X-ray, 2 views", "imaging", loinc, "36643-5", 90, 80, "national", rad, "dgto"),
	it("JC002", "腰椎X线摄影", "Lumbar spine X-ray", "imaging", urn, "", 90, 90, "province", rad, "dgto"),
	it("JC003", "膝关节X线摄影", "Knee X-ray", "imaging", urn, "", 90, 70, "province", rad, "dgto"),
	it("JC004", "乳腺钼靶摄影", "Mammography", "imaging", urn, "", 90, 180, "province", rad, "gm"),
	it("JC010", "头颅CT平扫", "CT head without contrast", "imaging", loinc, "24725-4", 90, 200, "national", rad, "gto"),
	it("JC011", "胸部CT平扫", "CT chest without contrast", "imaging", loinc, "24627-2", 90, 250, "national", rad, "gto"),
	it("JC012", "上腹部CT平扫", "CT upper abdomen without contrast", "imaging", urn, "", 90, 380, "province", rad, "g"),
	it("JC013", "腰椎CT平扫", "CT lumbar spine without contrast", "imaging", urn, "", 90, 300, "province", rad, "go"),
	it("JC020", "头颅MRI平扫", "MRI brain without contrast", "imaging", loinc, "24590-2", 90, 600, "national", rad, "g"),
	it("JC021", "腰椎MRI平扫", "MRI lumbar spine without contrast", "imaging", urn, "", 90, 600, "province", rad, "go"),
	it("JC022", "膝关节MRI平扫", "MRI knee without contrast", "imaging", urn, "", 90, 650, "province", rad, "o"),
	it("JC030", "腹部超声（肝胆胰脾）", "Abdominal ultrasound (liver, gallbladder, pancreas, spleen)", "imaging", urn, "", 30, 120, "province", us, "ugtm"),
	it("JC031", "甲状腺超声", "Thyroid ultrasound", "imaging", urn, "", 30, 80, "province", us, "ugtm"),
	it("JC032", "泌尿系超声", "Urinary tract ultrasound", "imaging", urn, "", 30, 90, "province", us, "ugt"),
	it("JC033", "乳腺超声", "Breast ultrasound", "imaging", urn, "", 30, 80, "province", us, "ugm"),
	it("JC034", "经胸超声心动图", "Transthoracic echocardiography", "imaging", urn, "", 30, 200, "province", us, "g"),
}

// profileTags: which item tags an institution profile performs.
var profileTags = map[string]string{
	"general":     "bgud",
	"tcm":         "bt",
	"mch":         "m",
	"ortho":       "o",
	"township":    "b",
	"township-us": "bu",
	"township-dr": "bd",
}

var reasons = []catalog.Reason{
	{Code: 1, Name: "病情变化", NameEn: "The patient's condition has changed", CountsInRate: true},
	{Code: 2, Name: "检查检验结果随疾病进展变化较快", NameEn: "The result changes quickly as the disease progresses", CountsInRate: true},
	{Code: 3, Name: "重大医疗措施前（手术、输血等）", NameEn: "Before major treatment (surgery, transfusion)", CountsInRate: true},
	{Code: 4, Name: "急诊、急救", NameEn: "Emergency or resuscitation", CountsInRate: true},
	{Code: 5, Name: "司法鉴定、伤残鉴定、病退鉴定等", NameEn: "Forensic, disability or sick-retirement assessment", CountsInRate: true},
	{Code: 6, Name: "其他（需注明原因）", NameEn: "Other (note required)", CountsInRate: true, NoteRequired: true},
	{Code: 98, Name: "无法调阅既往报告", NameEn: "Prior report could not be obtained", CountsInRate: false},
	{Code: 99, Name: "需连续监测", NameEn: "Continuous monitoring needed", CountsInRate: false},
}

func main() {
	r := build()
	if err := r.Validate(); err != nil {
		log.Fatal(err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("region.json", append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("region.json: %d institutions, %d items, %d code maps, %d qualifications\n",
		len(r.Institutions), len(r.Items), len(r.CodeMaps), len(r.Qualifications))
}

// h is a stable pseudo-random number in [0, n) for a label.
func h(n int, parts ...string) int {
	f := fnv.New64a()
	f.Write([]byte(strings.Join(parts, "\x00")))
	return int(f.Sum64() % uint64(n))
}

// uscc builds a public-institution (12) unified social credit code: division code, a 9-character
// organisation code with a valid GB 11714 check character, and the GB 32100 check character.
func uscc(seq int) string {
	body := fmt.Sprintf("4%07d", 7300000+seq*7919%99991)
	w := []int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(body[i]-'0') * w[i]
	}
	var c9 byte
	switch v := 11 - sum%11; v {
	case 10:
		c9 = 'X'
	case 11:
		c9 = '0'
	default:
		c9 = byte('0' + v)
	}
	first17 := "12" + district + body + string(c9)
	c, err := catalog.USCCCheckChar(first17)
	if err != nil {
		panic(err)
	}
	return first17 + string(c)
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func build() *catalog.Region {
	r := &catalog.Region{
		Name:      "明州市清溪区",
		Districts: []catalog.District{{Code: district, Name: "清溪区", NameEn: "Qingxi District"}},
		Reasons:   reasons,
	}
	codeOf := map[string]string{}
	for i, in := range insts {
		code := uscc(i + 1)
		codeOf[in.region] = code
		r.Institutions = append(r.Institutions, catalog.Institution{
			Code: code, Name: in.name, NameEn: in.nameEn, Kind: in.kind, District: district,
			Community: in.community, RegionCode: in.region,
			// The MRN system its HIS writes (pkg/sim publishes MRNs in it).
			MRNSystems: []string{"http://his." + strings.ToLower(in.region) + ".example/sid/mrn"},
		})
	}
	for _, c := range communities {
		c.LeadCode = codeOf[leads[c.Code]]
		r.Communities = append(r.Communities, c)
	}
	for _, x := range items {
		r.Items = append(r.Items, x.Item)
	}

	for _, in := range insts {
		code := codeOf[in.region]
		host := strings.ToLower(in.region)
		tags := profileTags[in.profile]
		n := 0
		for _, x := range items {
			if !strings.ContainsAny(x.tags, tags) {
				continue
			}
			n++
			// Local code system per institution and kind.
			sys := fmt.Sprintf("http://his.%s.example/lab-codes", host)
			if x.Kind == "imaging" {
				sys = fmt.Sprintf("http://his.%s.example/exam-codes", host)
			}
			var local string
			switch {
			case in.coding == "loinc" && x.CodeSystem == loinc:
				sys, local = loinc, x.StdCode // a LOINC sender: its own "local" codes are LOINC
			case in.coding == "num":
				local = fmt.Sprintf("%d%03d", 1+h(9, in.region), 100+h(800, in.region, x.Code))
			case in.coding == "pinyin":
				local = pinyin[x.Code]
			default: // lis-style and LOINC senders' codes for items without LOINC
				local = fmt.Sprintf("%s-%04d", strings.ToUpper(host[:2]), 10*h(900, in.region, x.Code)+n)
			}
			r.CodeMaps = append(r.CodeMaps, catalog.CodeMap{Institution: code, System: sys, Code: local, Item: x.Code})

			// Qualifications: most performed items are qualified, some lapse, some never were.
			roll := h(100, "qual", in.region, x.Code)
			scope := "province"
			switch {
			case in.kind != "hospital":
				scope = "region"
				if x.Scope == "national" && roll%3 == 0 {
					scope = "province"
				}
			case x.Scope == "national" && roll%2 == 0:
				scope = "national"
			case x.Scope == "region":
				scope = "region"
			}
			missing := 5
			if in.kind != "hospital" {
				missing = 15
			}
			switch {
			case roll < missing: // never qualified
			case roll < missing+4: // lapsed at the end of 2025
				r.Qualifications = append(r.Qualifications, catalog.Qualification{Institution: code, Item: x.Code,
					Scope: scope, ValidFrom: date("2025-01-01"), ValidTo: date("2025-12-31")})
			case roll < missing+8: // lapsed, renewed mid-2026 after a gap
				r.Qualifications = append(r.Qualifications,
					catalog.Qualification{Institution: code, Item: x.Code, Scope: scope,
						ValidFrom: date("2025-01-01"), ValidTo: date("2025-12-31")},
					catalog.Qualification{Institution: code, Item: x.Code, Scope: scope,
						ValidFrom: date("2026-07-01"), ValidTo: date("2027-12-31")})
			case roll < missing+12: // first qualified in 2026
				r.Qualifications = append(r.Qualifications, catalog.Qualification{Institution: code, Item: x.Code,
					Scope: scope, ValidFrom: date("2026-04-01"), ValidTo: date("2027-03-31")})
			default:
				r.Qualifications = append(r.Qualifications, catalog.Qualification{Institution: code, Item: x.Code,
					Scope: scope, ValidFrom: date("2025-01-01"), ValidTo: date("2027-12-31")})
			}
		}
	}
	return r
}

// pinyin-style local codes (首字母缩写) used by some HIS vendors.
var pinyin = map[string]string{
	"JY001": "XCG", "JY002": "NCG", "JY003": "FBQX", "JY004": "XC", "JY010": "GGN", "JY011": "ALT",
	"JY012": "AST", "JY013": "SGN", "JY014": "JG", "JY015": "NSD", "JY016": "NS", "JY017": "KFXT",
	"JY018": "XZ4X", "JY019": "DJZ", "JY020": "ZHDX", "JY021": "THXHDB", "JY030": "NX4X", "JY031": "PT",
	"JY032": "APTT", "JY033": "DEJT", "JY040": "JG3X", "JY041": "TSH", "JY042": "FT4", "JY043": "AFP",
	"JY044": "CEA", "JY045": "PSA", "JY046": "CA125", "JY047": "HBSAG", "JY048": "HCVAB", "JY049": "TDB",
	"JY050": "CRP", "JY051": "HSCRP", "JY052": "PCT", "JY053": "CTNI", "JY054": "NTPROBNP",
	"JC001": "DR-XB", "JC002": "DR-YZ", "JC003": "DR-XGJ", "JC004": "MG-RX", "JC010": "CT-TL",
	"JC011": "CT-XB", "JC012": "CT-SFB", "JC013": "CT-YZ", "JC020": "MR-TL", "JC021": "MR-YZ",
	"JC022": "MR-XGJ", "JC030": "US-FB", "JC031": "US-JZX", "JC032": "US-MNX", "JC033": "US-RX",
	"JC034": "UCG",
}
