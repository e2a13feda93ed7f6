package identity

import "testing"

func TestMask(t *testing.T) {
	tests := []struct{ kind, value, want string }{
		{"nid", "330299199003071235", "3302**********1235"},
		{"nid", "11010519491231002x", "1101**********002X"},
		{"nid", "12345678901", "***********"},
		{"nid", "", ""},
		{"ins", "330299123456", "********3456"},
		{"ins", "YB12", "****"},
		{"mrn", "M0012345", "****2345"},
		{"mrn", "M12345", "******"},
		{"phone", "13800138000", "*******8000"},
		{"phone", "+86 138-0013-8000", "*******8000"},
		{"other", "ABCDEFGHIJ", "******GHIJ"},
	}
	for _, tt := range tests {
		if got := Mask(tt.kind, tt.value); got != tt.want {
			t.Errorf("Mask(%s, %q) = %q, want %q", tt.kind, tt.value, got, tt.want)
		}
	}
}
