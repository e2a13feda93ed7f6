package httpapi

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"
)

// writeJSON encodes with github.com/segmentio/encoding/json (several times cheaper than
// encoding/json on the recognizable answer); clients must see the bytes encoding/json would
// write: the same number formats, escaping and key order.
func TestWriteJSONMatchesEncodingJSON(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	txt := "<b>&\u2028\u2029 \xff 肝功能 \"q\" \\ \t"
	when := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	values := []any{
		&RecognizableResponse{At: when, Requester: InstJSON{Code: "12330299473079193Y", Name: txt}, Patient: &PatientJSON{ID: "p1", Identifiers: []string{"3302**********1234"}},
			Items: []ItemJSON{{History: []ResultJSON{}, ItemVerdict: ItemVerdict{Item: "JY001", Name: txt, Result: &ResultJSON{ReportID: "r", Date: when, ExpiresAt: &when,
				Observations: []Interpretation{{ID: "r-1", Value: f(1e-7), ValueText: &txt, ReferenceRange: &RangeJSON{Low: f(0.1), High: f(123456789012345678901)},
					Trend: &TrendJSON{Previous: []PrevJSON{}}}, {ID: "r-2", Value: f(math.Copysign(0, -1))}, {ID: "r-3", Value: f(1e21)}, {ID: "r-4", Value: f(3.0)}}}}}}},
		summary(&RecognizableResponse{At: when, Items: []ItemJSON{{ItemVerdict: ItemVerdict{Item: "JY002", Name: txt, Reason: ReasonExpired,
			Latest: &ResultJSON{ReportID: "r", Date: when, Observations: []Interpretation{{ID: "r-1", Value: f(0.1)}}}}}}}, []int{3}),
		map[string]any{"resourceType": "Bundle", "z": []any{1.5, "x", nil, true, map[string]any{"b": 1, "a": json.RawMessage(`{"k": [1, 2]}`)}}, "a": txt},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, 200, "application/json", v)
		if got := rec.Body.String(); got != string(want) {
			t.Errorf("writeJSON wrote\n%s\nencoding/json writes\n%s", got, want)
		}
	}
}
