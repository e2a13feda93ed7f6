package dashboard_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/dashboard"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesPageAndAssets(t *testing.T) {
	h := dashboard.Handler()
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<html lang="zh-CN">`},
		{"/index.html", "text/html; charset=utf-8", "检查检验结果互认"},
		{"/ui/app.js", "text/javascript; charset=utf-8", "/api/v1/stats/recognition"},
		{"/ui/chart.js", "text/javascript; charset=utf-8", "drawTrend"},
		{"/ui/i18n.js", "text/javascript; charset=utf-8", "Recognition rate"},
		{"/ui/app.css", "text/css; charset=utf-8", "@media print"},
		{"/ui/favicon.svg", "image/svg+xml", "<svg"},
	} {
		r := get(t, h, http.MethodGet, tc.path)
		b := body(t, r)
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", tc.path, r.StatusCode)
			continue
		}
		if got := r.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s Content-Type = %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(b, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("ETag") == "" {
			t.Errorf("GET %s: headers %v", tc.path, r.Header)
		}
	}
	r := get(t, h, http.MethodGet, "/")
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("page CSP = %q", csp)
	}
}

func TestHandlerUnknownAndMethods(t *testing.T) {
	h := dashboard.Handler()
	for _, p := range []string{"/ui/", "/ui/nope.js", "/ui/../index.html", "/static/index.html", "/ui/app.js/", "/favicon.ico", "/dashboard"} {
		if r := get(t, h, http.MethodGet, p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.StatusCode)
		}
	}
	if r := get(t, h, http.MethodPost, "/"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", r.StatusCode)
	}
	r := get(t, h, http.MethodHead, "/ui/app.css")
	if r.StatusCode != http.StatusOK || body(t, r) != "" || r.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD /ui/app.css = %d %v", r.StatusCode, r.Header)
	}
	// Revalidation by ETag.
	etag := get(t, h, http.MethodGet, "/ui/app.js").Header.Get("ETag")
	if r := get(t, h, http.MethodGet, "/ui/app.js", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", r.StatusCode)
	}
}

// The page references only assets the handler serves, nothing from another host, and no inline
// script or style (the CSP forbids them).
func TestPageIsSelfContained(t *testing.T) {
	h := dashboard.Handler()
	page := body(t, get(t, h, http.MethodGet, "/"))
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 5 {
		t.Fatalf("found %d asset references", len(refs))
	}
	for _, m := range refs {
		if r := get(t, h, http.MethodGet, m[1]); r.StatusCode != http.StatusOK {
			t.Errorf("page references %s: %d", m[1], r.StatusCode)
		}
	}
	for _, bad := range []string{"http://", "https://", "//cdn", " style=", "<style", "onclick=", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if bytes.Contains([]byte(page), []byte("<script>")) {
		t.Error("page has an inline script")
	}
	for _, a := range []string{"/ui/app.js", "/ui/chart.js", "/ui/i18n.js", "/ui/app.css"} {
		b := body(t, get(t, h, http.MethodGet, a))
		if strings.Contains(b, "http://") && !strings.Contains(b, "http://www.w3.org/2000/svg") || strings.Contains(b, "https://") {
			t.Errorf("%s refers to another host", a)
		}
	}
}

func TestRoutesMountOnServeMux(t *testing.T) {
	mux := http.NewServeMux()
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.Handle("/api/v1/", api)
	mux.Handle("/fhir/", api)
	for p, h := range dashboard.Routes() {
		mux.Handle(p, h) // panics on a conflicting pattern
	}
	for path, want := range map[string]int{"/": 200, "/ui/app.js": 200, "/api/v1/x": 418, "/fhir/metadata": 418, "/other": 404} {
		if r := get(t, mux, http.MethodGet, path); r.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, r.StatusCode, want)
		}
	}
}
