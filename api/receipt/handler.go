package receipt

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	onestopv1 "onestop/api/onestop/v1"
)

// Lookup finds the settlement a request names, having authenticated the caller: it answers
// as GetSettlement does, and refuses with a gRPC status error (carrying a
// google.rpc.ErrorInfo) as the gateway does.
type Lookup func(r *http.Request, settlementID string) (*onestopv1.SettleResponse, error)

// contentSecurityPolicy allows the page its own stylesheet and nothing else: a receipt
// runs no script, loads nothing, submits nothing and is framed by no one, so a line name
// that slipped past escaping could still do nothing.
var contentSecurityPolicy = "default-src 'none'; style-src " + styleHash +
	"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves GET (and HEAD) /receipts/{settlement_id} as the printable receipt, in
// English with ?lang=en, times in loc. Mount it at "/receipts/" without stripping the
// prefix.
func Handler(lookup Lookup, loc *time.Location) http.Handler {
	h := &handler{lookup: lookup, loc: loc}
	mux := http.NewServeMux()
	mux.HandleFunc("/receipts/{id}", h.receipt)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusNotFound, "", "")
	})
	return mux
}

type handler struct {
	lookup Lookup
	loc    *time.Location
}

func (h *handler) receipt(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "", "")
		return
	}
	resp, err := h.lookup(r, r.PathValue("id"))
	if err != nil {
		h.lookupError(w, r, err)
		return
	}
	if resp == nil {
		h.errorPage(w, r, http.StatusNotFound, "", "")
		return
	}
	var b bytes.Buffer
	if err := HTML(&b, resp, h.loc, r.URL.Query().Get("lang")); err != nil {
		h.errorPage(w, r, http.StatusInternalServerError, "", "")
		return
	}
	write(w, r, http.StatusOK, b.Bytes())
}

// lookupError shows the gateway's refusal as the gateway put it: its message and its
// stable reason are what a cashier reads out when calling support. An error that is not a
// status is not the gateway's answer and may say anything about the server, so it is not
// shown.
func (h *handler) lookupError(w http.ResponseWriter, r *http.Request, err error) {
	st, ok := status.FromError(err)
	if !ok {
		h.errorPage(w, r, http.StatusInternalServerError, "", "")
		return
	}
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
			break
		}
	}
	code := httpStatus(st.Code())
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="onestop"`)
	}
	h.errorPage(w, r, code, st.Message(), reason)
}

func httpStatus(c codes.Code) int {
	switch c {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests // the terminal's rate limit: it should wait
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

type errorView struct {
	L          *labels
	CSS        template.CSS
	Status     int
	StatusText string
	Message    string
	Reason     string
}

func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, code int, message, reason string) {
	var b bytes.Buffer
	err := pages.ExecuteTemplate(&b, "error.html", errorView{
		L: labelsFor(r.URL.Query().Get("lang")), CSS: template.CSS(css),
		Status: code, StatusText: http.StatusText(code), Message: message, Reason: reason,
	})
	if err != nil {
		// The embedded error page cannot fail on these fields; if it ever does, the status
		// line still tells the truth.
		b.Reset()
		b.WriteString(template.HTMLEscapeString(http.StatusText(code)))
	}
	write(w, r, code, b.Bytes())
}

func write(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	// The page names a patient and what they paid: no cache, shared or private, keeps it,
	// and the settlement id in the URL is not sent on to anyone.
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
