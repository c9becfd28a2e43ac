package receipt

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	onestopv1 "onestop/api/onestop/v1"
)

// refusal is a gateway refusal as api/errors.go makes them: a status with an ErrorInfo.
func refusal(t *testing.T, c codes.Code, reason, msg string) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "onestop"})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

type fakeGateway struct {
	calls []string
	resp  map[string]*onestopv1.SettleResponse
	errs  map[string]error
}

func (g *fakeGateway) lookup(r *http.Request, id string) (*onestopv1.SettleResponse, error) {
	g.calls = append(g.calls, id)
	if err, ok := g.errs[id]; ok {
		return nil, err
	}
	return g.resp[id], nil
}

func serve(t *testing.T, g *fakeGateway, method, target string) (*http.Response, string) {
	t.Helper()
	// Mounted as the lead mounts it: under /receipts/ of a bigger mux.
	mux := http.NewServeMux()
	mux.Handle("/receipts/", Handler(g.lookup, shanghai))
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") ||
		!strings.Contains(csp, "img-src data:") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
}

func TestHandlerServesTheReceipt(t *testing.T) {
	g := &fakeGateway{resp: map[string]*onestopv1.SettleResponse{"S1": cancelled()}}
	resp, body := serve(t, g, http.MethodGet, "/receipts/S1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	checkHeaders(t, resp)
	if len(g.calls) != 1 || g.calls[0] != "S1" {
		t.Errorf("lookup calls %q, want [S1]", g.calls)
	}
	mustContain(t, body, `<html lang="zh-CN">`, "<h1>一单制结算单</h1>", "本结算已于 2026-03-05 11:30:00 CST 撤销",
		`<td class="code">390100</td><td class="num">39.50</td>`, "&lt;script&gt;")

	resp, body = serve(t, g, http.MethodGet, "/receipts/S1?lang=en")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lang=en: status %d", resp.StatusCode)
	}
	mustContain(t, body, `<html lang="en">`, "<h1>One-stop settlement receipt</h1>", "Cancelled at 2026-03-05 11:30:00 CST")
	mustNotContain(t, body, "一单制结算单")
}

func TestHandlerHead(t *testing.T) {
	g := &fakeGateway{resp: map[string]*onestopv1.SettleResponse{"S1": settled()}}
	get, getBody := serve(t, g, http.MethodGet, "/receipts/S1")
	head, headBody := serve(t, g, http.MethodHead, "/receipts/S1")
	if head.StatusCode != http.StatusOK || headBody != "" {
		t.Fatalf("HEAD: status %d, body %q", head.StatusCode, headBody)
	}
	checkHeaders(t, head)
	if cl := head.Header.Get("Content-Length"); cl == "" || cl != get.Header.Get("Content-Length") || len(getBody) == 0 {
		t.Errorf("HEAD Content-Length %q, GET %q (%d bytes)", cl, get.Header.Get("Content-Length"), len(getBody))
	}
}

func TestHandlerRefusesOtherMethods(t *testing.T) {
	g := &fakeGateway{resp: map[string]*onestopv1.SettleResponse{"S1": settled()}}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp, body := serve(t, g, m, "/receipts/S1")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
		checkHeaders(t, resp)
		mustContain(t, body, "405 Method Not Allowed")
	}
	if len(g.calls) != 0 {
		t.Errorf("lookup called for a refused method: %q", g.calls)
	}
}

func TestHandlerMapsRefusals(t *testing.T) {
	g := &fakeGateway{errs: map[string]error{
		"gone":    refusal(t, codes.NotFound, "SETTLEMENT_NOT_FOUND", `settlement_id: no settlement "gone"`),
		"theirs":  refusal(t, codes.PermissionDenied, "WRONG_INSTITUTION", "settlement of another institution"),
		"anon":    refusal(t, codes.Unauthenticated, "UNAUTHENTICATED", "unknown terminal token"),
		"bad":     refusal(t, codes.InvalidArgument, "INVALID_ARGUMENT", "settlement_id: <not an id>"),
		"down":    refusal(t, codes.Unavailable, "LEDGER_UNAVAILABLE", "ledger unavailable"),
		"broken":  status.Error(codes.Internal, "internal error"),
		"private": errors.New("dial tcp 10.0.0.7:5432: connection refused"),
	}}
	for _, tc := range []struct {
		id     string
		code   int
		shows  []string
		hidden []string
	}{
		{"gone", 404, []string{"404 Not Found", "settlement_id: no settlement &#34;gone&#34;", "<code>SETTLEMENT_NOT_FOUND</code>"}, nil},
		{"theirs", 403, []string{"403 Forbidden", "settlement of another institution", "<code>WRONG_INSTITUTION</code>"}, nil},
		{"anon", 401, []string{"401 Unauthorized", "unknown terminal token", "<code>UNAUTHENTICATED</code>"}, nil},
		{"bad", 400, []string{"400 Bad Request", "settlement_id: &lt;not an id&gt;", "<code>INVALID_ARGUMENT</code>"}, []string{"<not an id>"}},
		{"down", 503, []string{"503 Service Unavailable", "<code>LEDGER_UNAVAILABLE</code>"}, nil},
		{"broken", 500, []string{"500 Internal Server Error", "internal error"}, []string{"<code>"}},
		// Not the gateway's answer: whatever it says about the server stays there.
		{"private", 500, []string{"500 Internal Server Error"}, []string{"10.0.0.7", "connection refused"}},
	} {
		resp, body := serve(t, g, http.MethodGet, "/receipts/"+tc.id)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d", tc.id, resp.StatusCode, tc.code)
		}
		checkHeaders(t, resp)
		mustContain(t, body, tc.shows...)
		mustNotContain(t, body, tc.hidden...)
		if got := resp.Header.Get("WWW-Authenticate"); (tc.code == 401) != strings.HasPrefix(got, "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.id, got)
		}
	}
	// The error page follows ?lang= too.
	_, body := serve(t, g, http.MethodGet, "/receipts/gone?lang=en")
	mustContain(t, body, "Receipt unavailable", "Reason: <code>SETTLEMENT_NOT_FOUND</code>")
}

func TestHandlerUnknownPaths(t *testing.T) {
	g := &fakeGateway{resp: map[string]*onestopv1.SettleResponse{"S1": settled()}}
	for _, p := range []string{"/receipts/", "/receipts/S1/extra"} {
		resp, body := serve(t, g, http.MethodGet, p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
		checkHeaders(t, resp)
		mustContain(t, body, "404 Not Found")
	}
	// A lookup that finds nothing and says nothing is a 404, not an empty receipt.
	if resp, _ := serve(t, g, http.MethodGet, "/receipts/S2"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("nil answer: status %d", resp.StatusCode)
	}
	if len(g.calls) != 1 || g.calls[0] != "S2" {
		t.Errorf("lookup calls %q, want [S2]", g.calls)
	}
}
