package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy allows scripts, styles and fetches from the gateway's own origin
// only: no inline script or style, nothing from a CDN. The receipt is shown in an srcdoc
// frame, which inherits this policy; the page applies the receipt's styles through the
// CSSOM (which a policy does not restrict) rather than loosening style-src for it.
// img-src admits data: for images a receipt may embed (a QR code).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	name, contentType string
	body              []byte
	etag              string
}

// assets maps each URL path to its file. Only these paths are served: the lead mounts the
// handler at "/", so anything else (a typo, /favicon.ico, a probe) must be a 404 rather
// than the page.
var assets = map[string]*asset{
	"/":             load("index.html", "text/html; charset=utf-8"),
	"/web/app.js":   load("app.js", "text/javascript; charset=utf-8"),
	"/web/app.css":  load("app.css", "text/css; charset=utf-8"),
	"/web/icon.svg": load("icon.svg", "image/svg+xml"),
}

func load(name, contentType string) *asset {
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		panic(err) // a file named here is missing from the embed: a build mistake
	}
	sum := sha256.Sum256(b)
	return &asset{name: name, contentType: contentType, body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Handler serves the web cashier: GET / and its assets, 404 for every other path.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", a.contentType)
		// no-cache, not a max-age: a new binary must reach every counter at its next load;
		// the ETag makes that revalidation a 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}
