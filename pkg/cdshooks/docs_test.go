package cdshooks_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/auth"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// The worked example of docs/integration.md (and its translation) is what the service answers:
// its request, sent as 清溪区人民医院's HIS the day after the blood routine of
// docs/examples/lab-collection-bundle.json, gives exactly the documented response (the uuids
// aside), and its feedback is accepted.
func TestIntegrationDocExample(t *testing.T) {
	_, pool := testenv.DB(t)
	asked := time.Date(2026, 11, 21, 9, 10, 0, 0, cst)
	e := newEnvAt(t, pool, newHasher(t), func() time.Time { return asked }, nil)
	report, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "lab-collection-bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids := e.indexRaw(testenv.HospitalB, report)
	if len(ids) != 1 || ids[0] != "add705d18ba06ff16a57e6efc7afccbe" {
		t.Fatalf("the example report is %v", ids)
	}
	his := e.token(auth.RoleHIS, testenv.HospitalA)
	for _, doc := range []string{"integration.md", "integration.zh-CN.md"} {
		blocks := docBlocks(t, doc)
		code, got := e.do(http.MethodPost, "/cds-services/mrhub-recognition-select", his, blocks[0], "Host", "hub.example", "X-Forwarded-Proto", "https")
		if code != http.StatusOK {
			t.Fatalf("%s: the documented request is answered %d %s", doc, code, got)
		}
		resp := checkCards(t, got)
		checkCards(t, blocks[1])
		if a, w := normalize(t, got), normalize(t, blocks[1]); a != w {
			var ind bytes.Buffer
			_ = json.Indent(&ind, got, "", "  ")
			t.Errorf("%s: the service answers (uuids aside)\n%s\nthe document shows\n%s", doc, ind.String(), w)
		}
		fb := strings.ReplaceAll(strings.ReplaceAll(string(blocks[2]), uuidOf(t, blocks[1], 0), resp.Cards[0].UUID), uuidOf(t, blocks[1], 1), resp.Cards[0].Suggestions[0].UUID)
		if code, got := e.do(http.MethodPost, "/cds-services/mrhub-recognition-select/feedback", his, fb); code != http.StatusOK || !strings.Contains(string(got), `"result":"created"`) {
			t.Errorf("%s: the documented feedback is answered %d %s", doc, code, got)
		}
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// uuidOf is the i-th uuid in b.
func uuidOf(t *testing.T, b []byte, i int) string {
	all := uuidRE.FindAllString(string(b), -1)
	if len(all) <= i {
		t.Fatalf("no uuid %d in %s", i, b)
	}
	return all[i]
}

// normalize is b re-indented with its uuids replaced by UUID.
func normalize(t *testing.T, b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return uuidRE.ReplaceAllString(string(out), "UUID")
}

// docBlocks returns the JSON blocks of the CDS Hooks section of docs/<name>: the request, the
// response, the feedback.
func docBlocks(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n## CDS Hooks")
	if i < 0 {
		t.Fatalf("docs/%s has no section \"## CDS Hooks…\"", name)
	}
	text = text[i+1:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var out [][]byte
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(text, -1) {
		out = append(out, []byte(m[1]))
	}
	if len(out) != 3 {
		t.Fatalf("docs/%s's CDS Hooks section has %d JSON blocks, want 3 (request, response, feedback)", name, len(out))
	}
	return out
}
