package db

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestParseLSN(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0/0", 0, true}, {"16/B374D848", 0x16B374D848, true}, {"FFFFFFFF/FFFFFFFF", ^uint64(0), true},
		{"", 0, false}, {"16B374D848", 0, false}, {"x/1", 0, false},
	} {
		got, err := ParseLSN(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseLSN(%q) = %x, %v; want %x, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestReplicaNameHasNoCredentials(t *testing.T) {
	for _, u := range []string{
		"postgres://mrhub:s3cret@replica-1.db:5433/mrhub?sslmode=verify-full",
		"postgres://mrhub@replica-1.db:5433/mrhub?password=s3cret",
	} {
		got := ReplicaName(u)
		if got != "replica-1.db:5433" || strings.Contains(got, "s3cret") {
			t.Errorf("ReplicaName(%s) = %q, want replica-1.db:5433", Redact(u), got)
		}
	}
}

func TestReplicaFailure(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},  // admin shutdown
		{&pgconn.PgError{Code: "08006"}, true},  // connection failure
		{&pgconn.PgError{Code: "40001"}, true},  // conflict with recovery
		{&pgconn.PgError{Code: "42P01"}, false}, // undefined table: the query's fault
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{errors.New("patient identifier must be system|value"), false},
		{nil, false},
	} {
		if got := ReplicaFailure(c.err); got != c.want {
			t.Errorf("ReplicaFailure(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
