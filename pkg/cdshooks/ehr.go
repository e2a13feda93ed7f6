package cdshooks

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/pkg/profile"
)

//go:embed ehr
var ehrFiles embed.FS

// ehrCSP allows only the hub itself, as the dashboard's page does.
const ehrCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type ehrAsset struct {
	body        []byte
	ctype, etag string
}

// EHRItem is one orderable item of the EHR page's catalogue (GET /ehr/catalog.json).
type EHRItem struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	NameEn     string `json:"name_en"`
	Kind       string `json:"kind"`
	System     string `json:"system,omitempty"` // the item's standard code, when it has one
	StdCode    string `json:"std_code,omitempty"`
	PriceCents int64  `json:"price_cents"`
}

// EHRPatient is a patient the EHR page offers (synthetic: the demo's simulated patients).
type EHRPatient struct {
	Name       string `json:"name"`
	ResidentID string `json:"nid"`
}

// EHRHandler serves the page that plays a hospital's ordering screen (an EHR calling the CDS
// service) under /ehr/: the page at /ehr/, its script and style, /ehr/catalog.json (the region's
// catalogue items to order from) and /ehr/patients.json (patients, as an EHR knows them, to pick
// from: the demo's simulated ones, else none). The page asks for a hub token and calls
// /cds-services like an EHR would. Only GET and HEAD.
func EHRHandler(cat *catalog.Catalog, patients []EHRPatient) http.Handler {
	assets := map[string]ehrAsset{}
	add := func(url string, b []byte, ctype string) {
		sum := sha256.Sum256(b)
		assets[url] = ehrAsset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	_ = fs.WalkDir(ehrFiles, "ehr", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := ehrFiles.ReadFile(p)
		if err != nil {
			return err
		}
		url := "/" + p
		if strings.HasSuffix(p, "/index.html") {
			url = "/ehr/"
		}
		add(url, b, types[path.Ext(p)])
		return nil
	})
	items := []EHRItem{}
	for _, it := range cat.Region().Items {
		items = append(items, EHRItem{Code: it.Code, Name: it.Name, NameEn: it.NameEn, Kind: it.Kind, System: it.CodeSystem, StdCode: it.StdCode, PriceCents: it.PriceCents})
	}
	b, _ := json.Marshal(map[string]any{"item_system": profile.ItemSystem, "items": items})
	add("/ehr/catalog.json", b, "application/json; charset=utf-8")
	if patients == nil {
		patients = []EHRPatient{}
	}
	b, _ = json.Marshal(patients)
	add("/ehr/patients.json", b, "application/json; charset=utf-8")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(a.ctype, "text/html") {
			h.Set("Content-Security-Policy", ehrCSP)
			h.Set("X-Frame-Options", "DENY")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
