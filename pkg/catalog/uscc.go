package catalog

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUSCC is wrapped by every error of ValidateUSCC.
var ErrUSCC = errors.New("invalid unified social credit code")

// usccChars is the GB 32100-2015 code alphabet: digits and upper-case letters without I, O, Z,
// S, V. A character's value is its index.
const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^i mod 31 for positions 1..17.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// USCCCheckChar computes the 18th character of a unified social credit code (统一社会信用代码,
// GB 32100-2015) from its first 17.
func USCCCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("%w: check character needs 17 characters, got %d", ErrUSCC, len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccChars, first17[i])
		if v < 0 {
			return 0, fmt.Errorf("%w: character %d %q is not in the GB 32100 alphabet (0-9, A-Y without I O S V Z)", ErrUSCC, i+1, first17[i])
		}
		sum += v * usccWeights[i]
	}
	return usccChars[(31-sum%31)%31], nil
}

// ValidateUSCC checks a unified social credit code: 18 characters of the GB 32100 alphabet, a
// registration-authority code (position 1) and an organisation-type code (position 2) that are
// not 0, a 6-digit administrative division code (positions 3-8), and the check character
// (position 18). Public institutions (事业单位) begin with "12". It does not check the
// GB 11714 check character of the embedded organisation code.
func ValidateUSCC(code string) error {
	if len(code) != 18 {
		return fmt.Errorf("%w: length %d, want 18", ErrUSCC, len(code))
	}
	want, err := USCCCheckChar(code[:17])
	if err != nil {
		return err
	}
	if strings.IndexByte(usccChars, code[17]) < 0 {
		return fmt.Errorf("%w: check character %q is not in the GB 32100 alphabet", ErrUSCC, code[17])
	}
	if code[0] == '0' || code[1] == '0' {
		return fmt.Errorf("%w: registration authority and organisation type (positions 1-2) must not be 0", ErrUSCC)
	}
	if strings.Trim(code[2:8], "0123456789") != "" {
		return fmt.Errorf("%w: administrative division code (positions 3-8) must be 6 digits", ErrUSCC)
	}
	if got := code[17]; got != want {
		return fmt.Errorf("%w: bad check character: expected %c, got %c", ErrUSCC, want, got)
	}
	return nil
}
