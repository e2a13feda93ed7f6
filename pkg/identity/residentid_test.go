package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestResidentIDCheckDigit(t *testing.T) {
	tests := []struct {
		first17 string
		want    byte
	}{
		{"11010519491231002", 'X'}, // the widely published example 11010519491231002X
		{"44052418800101001", '4'},
		{"33029919900307123", '5'},
		{"00000000000000000", '1'},
	}
	for _, tt := range tests {
		got, err := ResidentIDCheckDigit(tt.first17)
		if err != nil {
			t.Fatalf("ResidentIDCheckDigit(%q): %v", tt.first17, err)
		}
		if got != tt.want {
			t.Errorf("ResidentIDCheckDigit(%q) = %c, want %c", tt.first17, got, tt.want)
		}
	}
	for _, bad := range []string{"", "1101051949123100", "110105194912310021", "1101051949123100A"} {
		if _, err := ResidentIDCheckDigit(bad); !errors.Is(err, ErrResidentID) {
			t.Errorf("ResidentIDCheckDigit(%q) err = %v, want ErrResidentID", bad, err)
		}
	}
}

// checkByHand recomputes the check character straight from the GB 11643 definition
// (weights 2^(17-i) mod 11) so the table above is not the only oracle.
func checkByHand(first17 string) byte {
	sum, w := 0, 1
	for i := 16; i >= 0; i-- {
		w = w * 2 % 11
		sum += int(first17[i]-'0') * w
	}
	return "10X98765432"[sum%11]
}

func TestResidentIDCheckDigitMatchesDefinition(t *testing.T) {
	for i := 0; i < 2000; i++ {
		first17 := fmt.Sprintf("3302991990%07d", i*7919%10000000)
		got, _ := ResidentIDCheckDigit(first17)
		if want := checkByHand(first17); got != want {
			t.Fatalf("ResidentIDCheckDigit(%q) = %c, definition gives %c", first17, got, want)
		}
	}
}

func TestValidateResidentID(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, chinaTime)
	tests := []struct {
		name, id string
		reason   string // substring of the error; "" = valid
	}{
		{"published example", "11010519491231002X", ""},
		{"lower-case x", "11010519491231002x", ""},
		{"surrounding space", " 11010519491231002X\n", ""},
		{"digit check", "330299199003071235", ""},
		{"born 1900-01-01", NewResidentID("330299", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 1), ""},
		{"born today", NewResidentID("330299", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), 2), ""},
		{"empty", "", "length 0"},
		{"17 chars", "11010519491231002", "length 17"},
		{"19 chars", "11010519491231002X1", "length 19"},
		{"15-digit old form", "110105491231002", "length 15"},
		{"letter inside", "1101051949123100AX", "character 17 is not a digit"},
		{"bad check char", "11010519491231002Y", "not 0-9 or X"},
		{"wrong check digit", "110105194912310021", "expected X, got 1"},
		{"wrong check X", "33029919900307123X", "expected 5, got X"},
		{"born 1880", "440524188001010014", "bad birth date"},
		{"month 13", withCheck("11010519491331002"), "bad birth date"},
		{"feb 30", withCheck("11010520000230002"), "bad birth date"},
		{"feb 29 non-leap", withCheck("11010519010229002"), "bad birth date"},
		{"before 1900", withCheck("11010518991231002"), "bad birth date"},
		{"tomorrow", withCheck("11010520261124002"), "bad birth date"},
		{"full-width digit", "１1010519491231002X", "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateResidentIDAt(tt.id, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("validate(%q) = %v, want valid", tt.id, err)
				}
				return
			}
			if !errors.Is(err, ErrResidentID) {
				t.Fatalf("validate(%q) = %v, want ErrResidentID", tt.id, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("validate(%q) = %q, want it to mention %q", tt.id, err, tt.reason)
			}
		})
	}
	if err := ValidateResidentID("11010519491231002X"); err != nil {
		t.Errorf("ValidateResidentID: %v", err)
	}
}

func withCheck(first17 string) string { return first17 + string(checkByHand(first17)) }

func TestNormalizeResidentID(t *testing.T) {
	if got := NormalizeResidentID("  11010519491231002x\t"); got != "11010519491231002X" {
		t.Errorf("NormalizeResidentID = %q", got)
	}
}

func TestNewResidentID(t *testing.T) {
	birth := time.Date(1987, 6, 5, 0, 0, 0, 0, time.UTC)
	for seq := 0; seq < 1000; seq++ {
		id := NewResidentID("330299", birth, seq)
		if err := ValidateResidentID(id); err != nil {
			t.Fatalf("NewResidentID(seq %d) = %s: %v", seq, id, err)
		}
		if !strings.HasPrefix(id, "33029919870605") {
			t.Fatalf("NewResidentID(seq %d) = %s: wrong area/birth", seq, id)
		}
		male := (id[16]-'0')%2 == 1
		if male != (seq%2 == 1) {
			t.Fatalf("NewResidentID(seq %d) = %s: sex digit disagrees with seq parity", seq, id)
		}
	}
	if got := NewResidentID("110105", time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC), 2); got != "11010519491231002X" {
		t.Errorf("NewResidentID rebuilt the published example as %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewResidentID with a 5-digit area did not panic")
		}
	}()
	NewResidentID("33029", birth, 1)
}
