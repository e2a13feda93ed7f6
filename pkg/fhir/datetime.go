package fhir

import (
	"fmt"
	"sync"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
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

func digits(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for _, c := range b[:n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// lexed holds the fields of a FHIR date/dateTime/instant.
type lexed struct {
	prec                 Precision
	year, month, day     int
	hour, min, sec, nsec int
	fracDigits           int  // digits of the fraction of a second as written
	hasZone              bool // a zone was given: "Z" (utc) or an offset
	utc                  bool // the zone was written "Z"
	zoneSec              int
}

func lexDateLenient(b []byte, withTime, needTime, zoneOptional bool) (l lexed, ok bool) {
	if l.year, ok = digits(b, 4); !ok || l.year == 0 {
		return l, false
	}
	l.prec = PrecisionYear
	b = b[4:]
	if len(b) == 0 {
		return l, !needTime
	}
	if b[0] != '-' {
		return l, false
	}
	if l.month, ok = digits(b[1:], 2); !ok || l.month < 1 || l.month > 12 || (len(b) > 3 && b[3] != '-') {
		return l, false
	}
	l.prec = PrecisionMonth
	b = b[3:]
	if len(b) == 0 {
		return l, !needTime
	}
	if l.day, ok = digits(b[1:], 2); !ok || l.day < 1 || l.day > daysIn(l.year, l.month) {
		return l, false
	}
	l.prec = PrecisionDay
	b = b[3:]
	if len(b) == 0 {
		return l, !needTime
	}
	if !withTime || b[0] != 'T' {
		return l, false
	}
	b = b[1:]
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return l, false
	}
	var ok1, ok2, ok3 bool
	l.hour, ok1 = digits(b, 2)
	l.min, ok2 = digits(b[3:], 2)
	l.sec, ok3 = digits(b[6:], 2)
	if !ok1 || !ok2 || !ok3 || l.hour > 23 || l.min > 59 || l.sec > 60 {
		return l, false
	}
	l.prec = PrecisionSecond
	b = b[8:]
	if len(b) > 0 && b[0] == '.' {
		j := 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == 1 {
			return l, false
		}
		l.fracDigits = j - 1
		frac := b[1:j]
		scale := 100000000
		for i, c := range frac {
			if i >= 9 {
				break
			}
			l.nsec += int(c-'0') * scale
			scale /= 10
		}
		b = b[j:]
	}
	switch {
	case len(b) == 0:
		return l, zoneOptional
	case len(b) == 1 && b[0] == 'Z':
		l.hasZone, l.utc = true, true
		return l, true
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		h, ok1 := digits(b[1:], 2)
		m, ok2 := digits(b[4:], 2)
		if !ok1 || !ok2 || m > 59 || h > 14 || (h == 14 && m != 0) {
			return l, false
		}
		l.hasZone = true
		l.zoneSec = h*3600 + m*60
		if b[0] == '-' {
			l.zoneSec = -l.zoneSec
		}
		return l, true
	}
	return l, false
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Instant returns the instant a dateTime, instant or date proto denotes: its
// lowest instant, partial dates read in the zone the decoder recorded.
func Instant(v interface{ GetValueUs() int64 }) time.Time {
	return time.UnixMicro(v.GetValueUs())
}

// CalendarDate returns the calendar day of a date proto as midnight UTC
// (partial dates give their first day).
func CalendarDate(d *dtpb.Date) time.Time {
	t := time.UnixMicro(d.GetValueUs()).In(zoneOf(d.GetTimezone()))
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

var zones sync.Map // zone name → *time.Location

// zoneOf returns the zone the library recorded: "Z", an offset "+08:00", or
// an IANA name (the decoder's zone, for values sent without one).
func zoneOf(tz string) *time.Location {
	switch tz {
	case "", "Z", "UTC", "+00:00", "-00:00":
		return time.UTC
	}
	if l, ok := zones.Load(tz); ok {
		return l.(*time.Location)
	}
	var loc *time.Location
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		h, ok1 := digits([]byte(tz[1:]), 2)
		m, ok2 := digits([]byte(tz[4:]), 2)
		if ok1 && ok2 {
			sec := h*3600 + m*60
			if tz[0] == '-' {
				sec = -sec
			}
			loc = time.FixedZone(tz, sec)
		}
	}
	if loc == nil {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		} else {
			loc = time.UTC
		}
	}
	zones.Store(tz, loc)
	return loc
}
