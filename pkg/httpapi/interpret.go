package httpapi

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// obsRow is one observation of the patient, as the interpretation needs it.
type obsRow struct {
	ID, ReportID                  string
	Ordinal                       int
	CodeSystem, Code, CodeDisplay string
	Status                        string
	Effective                     time.Time
	ValueNum                      *float64
	ValueText                     *string
	Unit                          string
	RefLow, RefHigh               *float64
	Interpretation                string
	Performer                     string
}

// Interpretation is the cross-hospital reading of one result value.
type Interpretation struct {
	ID             string     `json:"id"`
	Code           CodeJSON   `json:"code"`
	Status         string     `json:"status"`
	Value          *float64   `json:"value,omitempty"`
	ValueText      *string    `json:"value_text,omitempty"`
	Unit           string     `json:"unit,omitempty"`
	ReferenceRange *RangeJSON `json:"reference_range,omitempty"`
	Flag           string     `json:"flag"`        // N, H, L, HH, LL, A, AA, or the sender's code; "" when unknown
	FlagSource     string     `json:"flag_source"` // interpretation | reference_range | none
	Critical       bool       `json:"critical"`
	Trend          *TrendJSON `json:"trend,omitempty"`
}

// CodeJSON is a coding.
type CodeJSON struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// RangeJSON is a reference range.
type RangeJSON struct {
	Low  *float64 `json:"low,omitempty"`
	High *float64 `json:"high,omitempty"`
}

// TrendJSON compares a value with the same patient's earlier values of the same code.
type TrendJSON struct {
	Direction    string     `json:"direction,omitempty"` // up | down | same (vs the latest earlier value with the same unit)
	UnitMismatch bool       `json:"unit_mismatch"`
	Note         string     `json:"note,omitempty"`
	Previous     []PrevJSON `json:"previous"`
}

// PrevJSON is one earlier value.
type PrevJSON struct {
	ReportID     string    `json:"report_id"`
	Date         time.Time `json:"date"`
	Institution  InstJSON  `json:"institution"`
	Value        *float64  `json:"value,omitempty"`
	ValueText    *string   `json:"value_text,omitempty"`
	Unit         string    `json:"unit,omitempty"`
	Change       *float64  `json:"change,omitempty"`     // this value − earlier value, only when units agree
	ChangePct    *float64  `json:"change_pct,omitempty"` // relative to the earlier value
	UnitMismatch bool      `json:"unit_mismatch,omitempty"`
}

// InstJSON names an institution.
type InstJSON struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

const maxTrend = 5

// abnormalFlag derives the abnormal flag of an observation.
//
// Rule: the sender's interpretation wins when present (H/HU → H, L/LU → L, HH, LL, AA are
// critical, A abnormal, N normal, other codes passed through). Otherwise, for a numeric value
// with a reference range: above high → H, below low → L, else N; critical (HH / LL) when the value
// is at least twice the upper limit, or at most half the lower limit (lower limit > 0).
func abnormalFlag(o *obsRow) (f, source string, critical bool) {
	switch code := strings.ToUpper(strings.TrimSpace(o.Interpretation)); code {
	case "":
	case "H", "HU", ">":
		return "H", "interpretation", false
	case "L", "LU", "<":
		return "L", "interpretation", false
	case "HH", "LL", "AA":
		return code, "interpretation", true
	default:
		return code, "interpretation", false
	}
	if o.ValueNum == nil || (o.RefLow == nil && o.RefHigh == nil) {
		return "", "none", false
	}
	v := *o.ValueNum
	switch {
	case o.RefHigh != nil && v > *o.RefHigh:
		if *o.RefHigh > 0 && v >= 2**o.RefHigh {
			return "HH", "reference_range", true
		}
		return "H", "reference_range", false
	case o.RefLow != nil && v < *o.RefLow:
		if *o.RefLow > 0 && v <= *o.RefLow/2 {
			return "LL", "reference_range", true
		}
		return "L", "reference_range", false
	}
	return "N", "reference_range", false
}

func sameUnit(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// interpret reads o against the patient's earlier observations of the same code (byCode holds
// the patient's observations of every code, newest first; nil: no trend).
func (s *Server) interpret(o *obsRow, byCode map[[2]string][]*obsRow) Interpretation {
	in := Interpretation{ID: o.ID, Code: CodeJSON{o.CodeSystem, o.Code, o.CodeDisplay}, Status: o.Status,
		Value: o.ValueNum, ValueText: o.ValueText, Unit: o.Unit}
	if o.RefLow != nil || o.RefHigh != nil {
		in.ReferenceRange = &RangeJSON{o.RefLow, o.RefHigh}
	}
	in.Flag, in.FlagSource, in.Critical = abnormalFlag(o)
	if byCode == nil {
		return in
	}
	tr := &TrendJSON{Previous: []PrevJSON{}}
	for _, p := range byCode[[2]string{o.CodeSystem, o.Code}] {
		if p.ID == o.ID || p.ReportID == o.ReportID || !p.Effective.Before(o.Effective) && !(p.Effective.Equal(o.Effective) && p.ID < o.ID) {
			continue
		}
		if len(tr.Previous) == maxTrend {
			break
		}
		pj := PrevJSON{ReportID: p.ReportID, Date: p.Effective, Institution: s.inst(p.Performer), Value: p.ValueNum, ValueText: p.ValueText, Unit: p.Unit}
		switch {
		case !sameUnit(p.Unit, o.Unit):
			pj.UnitMismatch = true
			tr.UnitMismatch = true
			if tr.Note == "" {
				tr.Note = fmt.Sprintf("units differ (%q here, %q on %s at %s): those values are not compared", o.Unit, p.Unit, p.Effective.In(s.opt.Location).Format("2006-01-02"), pj.Institution.Name)
			}
		case o.ValueNum != nil && p.ValueNum != nil:
			c := round(*o.ValueNum-*p.ValueNum, 6)
			pj.Change = &c
			if *p.ValueNum != 0 {
				pct := round(100*c / *p.ValueNum, 1)
				pj.ChangePct = &pct
			}
			if tr.Direction == "" {
				switch {
				case c > 0:
					tr.Direction = "up"
				case c < 0:
					tr.Direction = "down"
				default:
					tr.Direction = "same"
				}
			}
		}
		tr.Previous = append(tr.Previous, pj)
	}
	in.Trend = tr
	return in
}

func (s *Server) inst(code string) InstJSON {
	j := InstJSON{Code: code}
	if in, ok := s.cat.Institution(code); ok {
		j.Name = in.Name
	}
	return j
}
