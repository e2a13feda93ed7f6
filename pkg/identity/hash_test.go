package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"testing"
)

var testKey = []byte("0123456789abcdef-test-key")

func TestNewHasherKeyLength(t *testing.T) {
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Error("NewHasher accepted a 5-byte key")
	}
	if _, err := NewHasher(make([]byte, 16)); err != nil {
		t.Errorf("NewHasher(16 bytes): %v", err)
	}
}

func TestHasherHash(t *testing.T) {
	h, err := NewHasher(testKey)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte("nid||11010519491231002X"))
	want := mac.Sum(nil)
	if got := h.Hash("nid", "", "11010519491231002X"); !bytes.Equal(got, want) {
		t.Fatalf("Hash = %x, want HMAC(kind|issuer|value) %x", got, want)
	}
	if len(want) != 32 {
		t.Fatalf("hash length %d", len(want))
	}
	same := []struct{ kind, issuer, a, b string }{
		{"nid", "", "11010519491231002X", " 11010519491231002x "},
		{"ins", "", "3302 9912 3456", "330299123456"},
		{"ins", "", "yb123", "YB123"},
		{"phone", "", "138-0013-8000", "13800138000"},
		{"phone", "", "+86 138 0013 8000", "13800138000"},
		{"phone", "", "0086 13800138000", "13800138000"},
		{"mrn", "QX001", " M000123 ", "M000123"},
	}
	for _, s := range same {
		if !bytes.Equal(h.Hash(s.kind, s.issuer, s.a), h.Hash(s.kind, s.issuer, s.b)) {
			t.Errorf("Hash(%s, %q) differs from Hash(%s, %q)", s.kind, s.a, s.kind, s.b)
		}
	}
	differ := [][3]string{
		{"mrn", "QX001", "M000123"},
		{"mrn", "QX002", "M000123"}, // another issuer
		{"ins", "", "M000123"},      // another kind
		{"mrn", "QX001", "m000123"}, // MRNs are case-sensitive
	}
	seen := map[string]bool{}
	for _, d := range differ {
		k := string(h.Hash(d[0], d[1], d[2]))
		if seen[k] {
			t.Errorf("Hash%v collides", d)
		}
		seen[k] = true
	}
	other, _ := NewHasher([]byte("another-key-of-16-bytes"))
	if bytes.Equal(h.Hash("nid", "", "11010519491231002X"), other.Hash("nid", "", "11010519491231002X")) {
		t.Error("two keys give the same hash")
	}
}

func TestHasherConcurrent(t *testing.T) {
	h, _ := NewHasher(testKey)
	want := h.Hash("nid", "", "11010519491231002X")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if !bytes.Equal(h.Hash("nid", "", "11010519491231002X"), want) {
					t.Error("concurrent Hash differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}
