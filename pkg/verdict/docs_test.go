package verdict_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/fhir"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/pkg/profile"
	"github.com/mrhub/mrhub/pkg/testenv"
	"github.com/mrhub/mrhub/pkg/verdict"
)

// The worked OperationOutcome of docs/integration.md (and its translation) is what $validate
// answers for that example on the day the document names.
func TestWorkedExampleInDocs(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.DB(t)
	cat, err := catalog.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := identity.NewHasher([]byte("another key: masked forms and ids do not depend on it"))
	loc := time.FixedZone("CST", 8*3600)
	p := &profile.Profiler{Catalog: cat, Hasher: h, Location: loc}
	c := &verdict.Checker{Profile: p.Func(), MaxBytes: 2 << 20, Catalog: cat, DB: pool, Decoder: fhir.NewDecoder(loc),
		Now: func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, loc) }}
	msg, err := os.ReadFile("../../docs/examples/lab-collection-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Check(ctx, msg, testenv.HospitalB)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v.Outcome())
	var gotV any
	_ = json.Unmarshal(got, &gotV)
	for _, doc := range []string{"../../docs/integration.md", "../../docs/integration.zh-CN.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, "```json\n{\n  \"resourceType\": \"OperationOutcome\"")
		if i < 0 {
			t.Fatalf("%s: no worked OperationOutcome", doc)
		}
		s = s[i+len("```json\n"):]
		s = s[:strings.Index(s, "```")]
		var want any
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("%s: the worked OperationOutcome is not JSON: %v", doc, err)
		}
		if !reflect.DeepEqual(gotV, want) {
			t.Errorf("%s: the worked OperationOutcome differs from $validate's answer:\n%s", doc, got)
		}
	}
}
