package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestServesThePageAndItsAssets(t *testing.T) {
	for path, ctype := range map[string]string{
		"/":             "text/html; charset=utf-8",
		"/web/app.js":   "text/javascript; charset=utf-8",
		"/web/app.css":  "text/css; charset=utf-8",
		"/web/icon.svg": "image/svg+xml",
	} {
		rec := get(t, http.MethodGet, path, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
		if got := rec.Header().Get("Content-Type"); got != ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, ctype)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", path, got)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		if again := get(t, http.MethodGet, path, http.Header{"If-None-Match": {etag}}); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Code)
		}
	}
}

// The lead mounts the handler at "/": only the page's own paths may answer, so a mistyped
// API path is a 404 and not the page.
func TestOtherPathsAreNotFound(t *testing.T) {
	for _, path := range []string{"/index.html", "/favicon.ico", "/web/", "/web/nope.js", "/v2/settlements", "/app.js", "/static/app.js", "//web/app.js"} {
		rec := get(t, http.MethodGet, path, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: the 404 lacks the security headers", path)
		}
	}
	if rec := get(t, http.MethodPost, "/", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if rec := get(t, http.MethodHead, "/", nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestSecurityHeaders(t *testing.T) {
	rec := get(t, http.MethodGet, "/", nil)
	for k, want := range map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	// Only the page's own origin: no inline script or style, no other host.
	for _, directive := range strings.Split(ContentSecurityPolicy, ";") {
		if strings.Contains(directive, "unsafe") || strings.Contains(directive, "http") || strings.Contains(directive, "*") {
			t.Errorf("the policy admits more than 'self': %q", directive)
		}
	}
}

// The policy refuses inline script and style, so the markup must have none: no <script>
// without src, no <style>, no style or on… attributes. Every asset it names must be served.
func TestPageNeedsNothingThePolicyRefuses(t *testing.T) {
	html := get(t, http.MethodGet, "/", nil).Body.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`),
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("index.html has %q, which the policy refuses or which leaves the origin", m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("index.html has an inline script: %s", tag)
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(html, -1) {
		if rec := get(t, http.MethodGet, m[1], nil); rec.Code != http.StatusOK {
			t.Errorf("index.html names %s, which answers %d", m[1], rec.Code)
		}
	}
	js := get(t, http.MethodGet, "/web/app.js", nil).Body.String()
	for _, bad := range []string{"innerHTML", "outerHTML =", "eval(", "new Function", "document.write", "http://", "https://"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %q: text from the gateway must go in as text, and nothing may come from elsewhere", bad)
		}
	}
}
