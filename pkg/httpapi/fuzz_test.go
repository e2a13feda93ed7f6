package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/identity"
	"github.com/mrhub/mrhub/seeds"
)

// The search-parameter parser (parseSearch: FHIR search parameters, date prefixes, token
// system|code, OR lists with \, escapes, _count/_sort/_include/_summary/_format, _page cursors)
// must never panic, must answer what it refuses with a *badRequest (a 400 with a message), and
// must never put a parameter's text into the SQL it builds (only $n placeholders).
//
// Run: go test -run='^$' -fuzz=FuzzParseSearch -fuzztime=30s ./pkg/httpapi
// The committed corpus is in testdata/fuzz/FuzzParseSearch.

var (
	fuzzOnce   sync.Once
	fuzzSrv    *Server
	fuzzSrvErr error
)

// fuzzServer is a Server over the seeded catalogue whose pool never connects: parameters that
// need the database (patient references and identifiers) reach it with a cancelled context and
// get context.Canceled back, so the fuzzer needs no PostgreSQL.
func fuzzServer(tb testing.TB) *Server {
	tb.Helper()
	fuzzOnce.Do(func() {
		r, err := seeds.Region()
		if err != nil {
			fuzzSrvErr = err
			return
		}
		h, err := identity.NewHasher([]byte("fuzz-key-0123456789abcdef"))
		if err != nil {
			fuzzSrvErr = err
			return
		}
		cfg, err := pgxpool.ParseConfig("postgres://fuzz@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
		if err != nil {
			fuzzSrvErr = err
			return
		}
		cfg.MinConns = 0
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			fuzzSrvErr = err
			return
		}
		fuzzSrv = &Server{opt: Options{Location: time.FixedZone("CST", 8*3600), Now: time.Now}, pool: pool,
			cat: catalog.NewCatalog(r), hasher: h, log: zap.NewNop()}
	})
	if fuzzSrvErr != nil {
		tb.Fatal(fuzzSrvErr)
	}
	return fuzzSrv
}

var searchTypes = []string{"DiagnosticReport", "Observation", "ImagingStudy", "Patient"}

// dbParams are the parameters whose values are looked up in the database.
func dbParam(rt, k string) bool {
	switch k {
	case "patient", "subject", "patient.identifier", "subject:Patient.identifier":
		return true
	case "identifier":
		return rt == "Patient"
	}
	return false
}

var (
	placeholder = regexp.MustCompile(`\$([0-9]+)`)
	constList   = regexp.MustCompile(`'[A-Za-z-]*'`) // the fixed status lists (sqlList) and category codes
)

func FuzzParseSearch(f *testing.F) {
	for _, s := range []struct {
		rt  uint8
		raw string
	}{
		{0, "patient=Patient/p12&code=JY001&date=ge2026-01-01&date=lt2026-07-01T08:00:00%2B08:00&_count=50&_sort=-date"},
		{0, "code=http://loinc.org|718-7,|6690-2,JY001&status=final,amended&_include=DiagnosticReport:result"},
		{0, "identifier=http://his.qx001.example/sid/report|R1,R2\\,x&performer=Organization/12330299473079193Y&category=LAB"},
		{0, "date=eq2026&date=gt2026-11&date=le2026-11-20T08:30:00Z&date=sa2026&date=2026-13-40&date=ge2026-01-01,2026-02-01"},
		{0, "_summary=count&_format=json&_page=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoiYSIsInMiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiJ9"},
		{0, "_count=0&_count=-1&_count=999999999999999999999&_sort=date&_sort=started"},
		{1, "patient.identifier=http://mrhub.example/sid/resident-id|330299199001011234&code=|&status=bogus"},
		{1, "code=\\&date=ge&date=ge2026-02-30&_include=x&subject=p-1"},
		{2, "identifier=urn:dicom:uid|urn:oid:2.25.1&started=lt2026-06-01&_sort=-started"},
		{3, "identifier=urn:mrhub:mrn:12330299473079193Y|M1&_id=p1,p2"},
		{3, "_id=Patient/p9223372036854775808"},
		{0, "%zz=1&a=%&performer=%E4%B8%AD&code=\x00|\xff"},
		{0, "date=ge2026-01-01T25:61:61%2B99:99&date=ge-0001&date=ge99999-01-01&_page=%%%"},
	} {
		f.Add(s.rt, s.raw)
	}
	s := fuzzServer(f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the database is never reached
	f.Fuzz(func(t *testing.T, rtIdx uint8, raw string) {
		rt := searchTypes[int(rtIdx)%len(searchTypes)]
		vals, _ := url.ParseQuery(raw) // what r.URL.Query() gives the handler
		g, rest, err := generalParams(&http.Request{Header: http.Header{}}, rt, vals, true)
		var sr *searchRequest
		if err == nil {
			sr, err = s.parseSearch(ctx, types[rt], rest, g)
		}
		var na *notAcceptable
		if errors.As(err, &na) {
			return
		}
		if err != nil {
			var br *badRequest
			switch {
			case errors.As(err, &br):
				if br.msg == "" {
					t.Fatalf("%s?%s: empty 400 message", rt, raw)
				}
				if !utf8.ValidString(br.msg) && utf8.ValidString(raw) {
					t.Fatalf("%s?%s: 400 message is not UTF-8: %q", rt, raw, br.msg)
				}
			case errors.Is(err, context.Canceled):
				ok := false
				for k := range vals {
					ok = ok || dbParam(rt, k)
				}
				if !ok {
					t.Fatalf("%s?%s: reached the database without a patient parameter: %v", rt, raw, err)
				}
			default:
				t.Fatalf("%s?%s: error %T %v is neither a bad request (400) nor the database", rt, raw, err, err)
			}
			return
		}
		if sr.count < 1 || sr.count > maxCount {
			t.Fatalf("%s?%s: _count became %d", rt, raw, sr.count)
		}
		for _, w := range sr.q.where {
			for _, m := range placeholder.FindAllStringSubmatch(w, -1) {
				n, err := strconv.Atoi(m[1])
				if err != nil || n < 1 || n > len(sr.q.args) {
					t.Fatalf("%s?%s: condition %q names $%s, %d arguments", rt, raw, w, m[1], len(sr.q.args))
				}
			}
			if rest := constList.ReplaceAllString(w, ""); strings.ContainsAny(rest, "'\";\\") || strings.Contains(rest, "--") {
				t.Fatalf("%s?%s: condition %q carries text of its own", rt, raw, w)
			}
		}
		if sr.page != nil {
			back, err := decodeCursor(sr.page.encode())
			if err != nil || !back.T.Equal(sr.page.T) || back.ID != sr.page.ID || !back.Snap.Equal(sr.page.Snap) || back.Prev != sr.page.Prev {
				t.Fatalf("%s?%s: cursor %+v does not survive a round trip: %+v %v", rt, raw, sr.page, back, err)
			}
		}
		if _, ok := sr.params["_page"]; ok {
			t.Fatalf("%s?%s: _page kept in the link parameters", rt, raw)
		}
	})
}

// FuzzSplitOr checks the OR-list splitter against its inverse: values escaped (\ and , with a
// backslash) and joined with commas split back into the same values.
func FuzzSplitOr(f *testing.F) {
	f.Add("a", "b", "c")
	f.Add("a,b", "\\", "")
	f.Add("http://loinc.org|718-7", "x\\,y", ",")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		esc := strings.NewReplacer("\\", "\\\\", ",", "\\,")
		in := []string{a, b, c}
		joined := esc.Replace(a) + "," + esc.Replace(b) + "," + esc.Replace(c)
		got := splitOr(joined)
		if strings.Join(got, "\x00") != strings.Join(in, "\x00") || len(got) != 3 {
			t.Fatalf("splitOr(%q) = %q, want %q", joined, got, in)
		}
		_ = splitOr(a) // never panics, whatever the input
	})
}
