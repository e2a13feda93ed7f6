package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/httpapi"
)

func TestOverloadAnswers429WithRetryAfter(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) {
		o.MaxInFlight = 2
		o.MaxQueueWait = 20 * time.Millisecond
		o.RequestTimeout = 200 * time.Millisecond
	})
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	var deadline time.Time
	var mu sync.Mutex
	var calls atomic.Int32
	h := e.api.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := r.Context().Deadline()
		mu.Lock()
		deadline = d
		mu.Unlock()
		if n := calls.Add(1); n <= 2 {
			entered.Done()
			<-release
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(srv.URL + "/api/v1/x")
			if err == nil {
				res.Body.Close()
			}
		}()
	}
	entered.Wait()
	res, err := http.Get(srv.URL + "/api/v1/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("third concurrent request: %d Retry-After %q, want 429 with Retry-After 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	fres, err := http.Get(srv.URL + "/fhir/Patient")
	if err != nil {
		t.Fatal(err)
	}
	fres.Body.Close()
	if fres.StatusCode != 429 || fres.Header.Get("Content-Type") != "application/fhir+json; charset=utf-8" {
		t.Fatalf("FHIR overload: %d %q", fres.StatusCode, fres.Header.Get("Content-Type"))
	}
	mu.Lock()
	if time.Until(deadline) > 250*time.Millisecond || deadline.IsZero() {
		t.Errorf("request context deadline %v, want within the 200ms request timeout", deadline)
	}
	mu.Unlock()
	close(release)
	wg.Wait()
	// Slots are released: a request passes again.
	res, err = http.Get(srv.URL + "/api/v1/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("after release: %d", res.StatusCode)
	}
}

func TestOversizeBodyIs413(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", e.srv.URL+"/fhir/DiagnosticReport", bytes.NewReader(make([]byte, 2<<20)))
	req.Header.Set("Authorization", "Bearer "+e.clin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("2 MiB body: %d, want 413", res.StatusCode)
	}
}
