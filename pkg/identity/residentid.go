package identity

// Resident identity card numbers (居民身份证号码), GB 11643-1999:
//
//	positions 1-6   address code (行政区划代码)
//	positions 7-14  birth date YYYYMMDD
//	positions 15-17 sequence code; the 17th digit is odd for men, even for women
//	position  18    check character, ISO 7064 MOD 11-2: 0-9 or X

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrResidentID is wrapped by every error of ValidateResidentID and ResidentIDCheckDigit;
// the wrapping error says what exactly is wrong.
var ErrResidentID = errors.New("invalid resident ID")

// residentIDWeights are the GB 11643 weights 2^(17-i) mod 11 for positions 1..17.
var residentIDWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentIDCheckChars maps (weighted sum mod 11) to the check character.
const residentIDCheckChars = "10X98765432"

// chinaTime is UTC+8, the zone birth dates and "today" are judged in.
var chinaTime = time.FixedZone("CST", 8*3600)

// NormalizeResidentID trims surrounding white space and upper-cases a trailing x. It does not
// validate.
func NormalizeResidentID(id string) string {
	return strings.ToUpper(strings.TrimSpace(id))
}

// ResidentIDCheckDigit computes the check character (0-9 or 'X') for the first 17 digits of a
// resident ID.
func ResidentIDCheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("%w: check digit needs 17 digits, got %d characters", ErrResidentID, len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: character %d is %q, want a digit", ErrResidentID, i+1, c)
		}
		sum += int(c-'0') * residentIDWeights[i]
	}
	return residentIDCheckChars[sum%11], nil
}

// ValidateResidentID checks a resident ID per GB 11643-1999: 18 characters after
// NormalizeResidentID, 17 digits and a check character (0-9 or X, lower-case x accepted), a real
// birth date between 1900-01-01 and today (China time), and the ISO 7064 MOD 11-2 check
// character. Every error wraps ErrResidentID and names the reason; none repeats the ID itself,
// so errors can be logged.
func ValidateResidentID(id string) error {
	return validateResidentIDAt(id, time.Now())
}

func validateResidentIDAt(id string, now time.Time) error {
	id = NormalizeResidentID(id)
	if len(id) != 18 {
		return fmt.Errorf("%w: length %d, want 18", ErrResidentID, len(id))
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return fmt.Errorf("%w: character %d is not a digit", ErrResidentID, i+1)
		}
	}
	if c := id[17]; (c < '0' || c > '9') && c != 'X' {
		return fmt.Errorf("%w: check character is not 0-9 or X", ErrResidentID)
	}
	birth, err := time.ParseInLocation("20060102", id[6:14], chinaTime)
	if err != nil {
		return fmt.Errorf("%w: bad birth date (positions 7-14 are not a real YYYYMMDD date)", ErrResidentID)
	}
	y, m, d := now.In(chinaTime).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, chinaTime)
	if birth.Year() < 1900 || birth.After(today) {
		return fmt.Errorf("%w: bad birth date (year %d outside 1900..today)", ErrResidentID, birth.Year())
	}
	want, _ := ResidentIDCheckDigit(id[:17]) // digits already checked
	if got := id[17]; got != want {
		return fmt.Errorf("%w: bad check digit: expected %c, got %c", ErrResidentID, want, got)
	}
	return nil
}

// NewResidentID builds a synthetic resident ID with a valid check character: area is the 6-digit
// address code, birth the birth date (its calendar date as given), seq the 3-digit sequence code
// 0..999 (taken modulo 1000). Odd seq means male, even female, as in GB 11643. It panics if area
// is not 6 digits: it is meant for generators and tests, never for input.
func NewResidentID(area string, birth time.Time, seq int) string {
	if len(area) != 6 || strings.Trim(area, "0123456789") != "" {
		panic(fmt.Sprintf("identity.NewResidentID: area code %q is not 6 digits", area))
	}
	if seq < 0 {
		seq = -seq
	}
	first17 := fmt.Sprintf("%s%s%03d", area, birth.Format("20060102"), seq%1000)
	c, err := ResidentIDCheckDigit(first17)
	if err != nil {
		panic("identity.NewResidentID: " + err.Error())
	}
	return first17 + string(c)
}
