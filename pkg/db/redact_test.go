package db

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db?password=s3cret&sslmode=require", "postgres://u@h/db?password=xxxxx&sslmode=require"},
		{"host=h user=u password=s3cret dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"postgres://postgres@127.0.0.1:5432/mrhub", "postgres://postgres@127.0.0.1:5432/mrhub"},
	} {
		got := Redact(tc.in)
		if got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
