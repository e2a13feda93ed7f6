package fhir

import (
	"fmt"
	"time"
)

// Precision is the precision of a FHIR date, dateTime or instant.
type Precision int

// Precisions, coarsest first.
const (
	PrecisionYear   Precision = iota + 1 // YYYY
	PrecisionMonth                       // YYYY-MM
	PrecisionDay                         // YYYY-MM-DD
	PrecisionSecond                      // YYYY-MM-DDThh:mm:ss[.fff…]
)

func (p Precision) String() string {
	switch p {
	case PrecisionYear:
		return "year"
	case PrecisionMonth:
		return "month"
	case PrecisionDay:
		return "day"
	case PrecisionSecond:
		return "second"
	}
	return "unknown"
}

// ParseDateTime parses a FHIR date, dateTime or instant string (YYYY,
// YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm)) and returns the
// lowest instant it denotes and its precision. Values without a zone
// (partial dates, and leniently a full time without zone, which R4 forbids)
// are interpreted in loc (UTC if nil); the hub passes UTC+08:00.
func ParseDateTime(s string, loc *time.Location) (time.Time, Precision, error) {
	l, ok := lexDateLenient([]byte(s), true, false, true)
	if !ok {
		return time.Time{}, 0, fmt.Errorf("fhir: invalid date/dateTime %q", s)
	}
	return l.time(loc), l.prec, nil
}

// UpperBound returns the first instant after the period denoted by t at
// precision p (e.g. 2024-03 → 2024-04-01T00:00); for PrecisionSecond it is
// t plus one second.
func UpperBound(t time.Time, p Precision) time.Time {
	switch p {
	case PrecisionYear:
		return t.AddDate(1, 0, 0)
	case PrecisionMonth:
		return t.AddDate(0, 1, 0)
	case PrecisionDay:
		return t.AddDate(0, 0, 1)
	}
	return t.Add(time.Second)
}

func (l lexed) time(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	if l.hasZone {
		loc = time.FixedZone("", l.zoneSec)
	}
	month, day := l.month, l.day
	if month == 0 {
		month = 1
	}
	if day == 0 {
		day = 1
	}
	sec := l.sec
	if sec == 60 { // leap second: clamp
		sec = 59
	}
	return time.Date(l.year, time.Month(month), day, l.hour, l.min, sec, l.nsec, loc)
}
