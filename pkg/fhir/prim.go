package fhir

import "unicode/utf8"

// primKind selects the lexical rules of a FHIR string-based primitive.
type primKind uint8

const (
	kString primKind = iota // string, markdown
	kCode
	kID
	kURI // uri, url, canonical
	kOID
	kUUID
	kBase64
	kDate
	kDateTime
	kInstant
	kTime
	kXHTML
	kInteger
	kPositiveInt
	kUnsignedInt
)

// checkPrim validates b (non-empty, unescaped) against the R4 regex of kind
// and returns a message, or "" when valid.
func checkPrim(kind primKind, b []byte) string {
	switch kind {
	case kString, kXHTML:
		return ""
	case kCode:
		if !validCode(b) {
			return "invalid code " + quoteShort(b) + " (no leading, trailing or repeated whitespace)"
		}
	case kID:
		if !ValidID(string(b)) {
			return "invalid id " + quoteShort(b) + " (want [A-Za-z0-9-.]{1,64})"
		}
	case kURI:
		for _, c := range b {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				return "invalid uri " + quoteShort(b) + " (contains whitespace)"
			}
		}
	case kOID:
		if !validOID(b) {
			return "invalid oid " + quoteShort(b)
		}
	case kUUID:
		if !validUUID(b) {
			return "invalid uuid " + quoteShort(b)
		}
	case kBase64:
		for _, c := range b {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
				return "invalid base64Binary"
			}
		}
	case kDate:
		if _, ok := lexDate(b, false, false); !ok {
			return "invalid date " + quoteShort(b) + " (want YYYY, YYYY-MM or YYYY-MM-DD)"
		}
	case kDateTime:
		if _, ok := lexDate(b, true, false); !ok {
			return "invalid dateTime " + quoteShort(b) + " (want YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.f](Z|+hh:mm))"
		}
	case kInstant:
		if _, ok := lexDate(b, true, true); !ok {
			return "invalid instant " + quoteShort(b) + " (want YYYY-MM-DDThh:mm:ss[.f](Z|+hh:mm))"
		}
	case kTime:
		if !lexTime(b) {
			return "invalid time " + quoteShort(b) + " (want hh:mm:ss[.f])"
		}
	}
	return ""
}

func quoteShort(b []byte) string {
	s := string(b)
	if len(s) > 64 {
		s = s[:64] + "…"
		for !utf8.ValidString(s) {
			s = s[:len(s)-4] + "…"
		}
	}
	return "\"" + s + "\""
}

// ValidID reports whether s is a valid FHIR id: [A-Za-z0-9\-\.]{1,64}.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isWS(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// validCode: ^[^\s]+(\s[^\s]+)*$
func validCode(b []byte) bool {
	if isWS(b[0]) || isWS(b[len(b)-1]) {
		return false
	}
	for i := 1; i < len(b); i++ {
		if isWS(b[i]) && isWS(b[i-1]) {
			return false
		}
	}
	return true
}

// validOID: ^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$
func validOID(b []byte) bool {
	s := string(b)
	const p = "urn:oid:"
	if len(s) < len(p)+3 || s[:len(p)] != p {
		return false
	}
	s = s[len(p):]
	if s[0] < '0' || s[0] > '2' {
		return false
	}
	s = s[1:]
	if s == "" {
		return false
	}
	for s != "" {
		if s[0] != '.' || len(s) < 2 {
			return false
		}
		s = s[1:]
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 || (s[0] == '0' && j > 1) {
			return false
		}
		s = s[j:]
	}
	return true
}

// validUUID: ^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$
func validUUID(b []byte) bool {
	const p = "urn:uuid:"
	if len(b) != len(p)+36 || string(b[:len(p)]) != p {
		return false
	}
	for i, c := range b[len(p):] {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
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
	hasZone              bool
	zoneSec              int
}

// lexDate parses YYYY[-MM[-DD[Thh:mm:ss[.f](Z|±hh:mm)]]] per the R4 regexes.
// withTime allows the time part; needTime (instant) requires it.
func lexDate(b []byte, withTime, needTime bool) (l lexed, ok bool) {
	return lexDateLenient(b, withTime, needTime, false)
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
		l.hasZone = true
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

// lexTime: ^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$
func lexTime(b []byte) bool {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return false
	}
	h, ok1 := digits(b, 2)
	m, ok2 := digits(b[3:], 2)
	s, ok3 := digits(b[6:], 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 60 {
		return false
	}
	b = b[8:]
	if len(b) == 0 {
		return true
	}
	if b[0] != '.' || len(b) == 1 {
		return false
	}
	for _, c := range b[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
