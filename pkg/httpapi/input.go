package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/mrhub/mrhub/pkg/auth"
)

// checkInput refuses, before any handler or the database sees them, requests whose path, query
// or body hold what PostgreSQL cannot store as text: NUL characters (raw, percent-encoded, or a
// \u0000 escape in a JSON body), bytes that are not UTF-8, and \uXXXX escapes of lone UTF-16
// surrogates in a JSON body. The answer is a 400 that says what and where (an
// OperationOutcome under /fhir).
func (s *Server) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := badText("the path", r.URL.Path); msg != "" {
			auth.WriteError(w, r, http.StatusBadRequest, "bad_request", msg)
			return
		}
		q, err := parseQuery(r.URL.RawQuery)
		if err != nil {
			auth.WriteError(w, r, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		for k, vs := range q {
			if msg := badText("query parameter name", k); msg != "" {
				auth.WriteError(w, r, http.StatusBadRequest, "bad_request", msg)
				return
			}
			for _, v := range vs {
				if msg := badText("query parameter "+quoteShort(k), v); msg != "" {
					auth.WriteError(w, r, http.StatusBadRequest, "bad_request", msg)
					return
				}
			}
		}
		if r.Body != nil && r.Body != http.NoBody && r.Method != http.MethodGet && r.Method != http.MethodHead {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				var mb *http.MaxBytesError
				if errors.As(err, &mb) {
					auth.WriteError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", mb.Limit))
					return
				}
				auth.WriteError(w, r, http.StatusBadRequest, "bad_request", "reading the request body: "+err.Error())
				return
			}
			if msg := badBody(b); msg != "" {
				auth.WriteError(w, r, http.StatusBadRequest, "bad_request", msg)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
	})
}

// parseQuery is url.ParseQuery that also refuses a malformed query (a bad percent escape) as a
// whole instead of dropping the pair, so that a handler never sees less than was sent.
func parseQuery(raw string) (map[string][]string, error) {
	out := map[string][]string{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k2, err1 := unescapeQuery(k)
		v2, err2 := unescapeQuery(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("the query string has a malformed percent escape in %s: write %% as %%25", quoteShort(k))
		}
		out[k2] = append(out[k2], v2)
	}
	return out, nil
}

func unescapeQuery(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", errors.New("bad escape")
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// badText says what is wrong with a decoded path or parameter, or "".
func badText(what, s string) string {
	if !utf8.ValidString(s) {
		return what + " is not valid UTF-8: percent-encode the UTF-8 bytes of the text"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return what + " holds a NUL character (%00), which no id, code or value may contain"
	}
	return ""
}

// badBody says what is wrong with a request body, or "".
func badBody(b []byte) string {
	if !utf8.Valid(b) {
		return "the request body is not valid UTF-8"
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "the request body holds a NUL byte"
	}
	// \u escapes inside JSON strings: no NUL, no lone surrogate (PostgreSQL stores neither).
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // \\, \", \n …: skip the escaped character
			continue
		}
		v, ok := hex4(b, i+2)
		if !ok {
			i++
			continue
		}
		switch {
		case v == 0:
			return `the request body holds a \u0000 escape (NUL), which no value may contain`
		case v >= 0xDC00 && v <= 0xDFFF:
			return fmt.Sprintf(`the request body holds \u%04x, a lone UTF-16 low surrogate: escape characters outside the BMP as a surrogate pair`, v)
		case v >= 0xD800 && v <= 0xDBFF:
			lo, ok := -1, false
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				var x int
				x, ok = hex4(b, i+8)
				lo = x
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return fmt.Sprintf(`the request body holds \u%04x, a UTF-16 high surrogate not followed by a low one`, v)
			}
			i += 11
			continue
		}
		i += 5
	}
	return ""
}

func hex4(b []byte, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[at : at+4] {
		if !isHex(c) {
			return 0, false
		}
		v = v<<4 | int(unhex(c))
	}
	return v, true
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", strings.ToValidUTF8(s, "\uFFFD"))
}
