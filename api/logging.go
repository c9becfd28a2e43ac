package api

import (
	"context"
	"fmt"
	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"onestop/gateway"
)

// access is filled in by authentication for the access log, which runs outside it and so
// cannot see the context authentication returns.
type access struct {
	caller gateway.Caller
	auth   string // "token" or "mtls"
}

type accessKey struct{}

func accessOf(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey{}).(*access)
	return a
}

// accessLog logs one line per finished call: method, institution, terminal, how it
// authenticated, code, reason and duration. Deliberately not logged: request and response
// bodies (ID numbers, names), metadata (the authorization header) and the token itself.
func accessLog(log *slog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	opts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithDisableLoggingFields(logging.SystemTag[0], logging.ComponentFieldKey, logging.MethodTypeFieldKey),
		logging.WithTimestampFormat(time.RFC3339Nano),
		logging.WithDurationField(func(d time.Duration) logging.Fields {
			return logging.Fields{"grpc.time_ms", float64(d.Microseconds()) / 1000}
		}),
		logging.WithLevels(accessLevel),
		logging.WithErrorFields(func(err error) logging.Fields {
			for _, d := range status.Convert(err).Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					return logging.Fields{"reason", info.Reason}
				}
			}
			return nil
		}),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			a := accessOf(ctx)
			if a == nil || a.caller.Institution == nil {
				return nil
			}
			return logging.Fields{"institution", a.caller.Institution.ID, "terminal", a.caller.TerminalID, "auth", a.auth}
		}),
	}
	unary, stream := logging.UnaryServerInterceptor(logger, opts...), logging.StreamServerInterceptor(logger, opts...)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return unary(context.WithValue(ctx, accessKey{}, &access{}), req, info, handler)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			ws := middleware.WrapServerStream(ss)
			ws.WrappedContext = context.WithValue(ss.Context(), accessKey{}, &access{})
			return stream(srv, ws, info, handler)
		}
}

// accessLevel: a call that succeeded is Debug — the ledger and the metrics already hold it,
// and at thousands of calls a second the line (masked, formatted, written) cost a tenth of
// the gateway's CPU; a terminal's mistakes are its own business (Info); the gateway's
// failures and refused credentials are worth a look (Warn, Error).
func accessLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK:
		return logging.LevelDebug
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.FailedPrecondition, codes.OutOfRange, codes.DeadlineExceeded:
		return logging.LevelInfo
	case codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted, codes.Unavailable, codes.Aborted:
		return logging.LevelWarn
	default:
		return logging.LevelError
	}
}

// idNumberShaped matches what could be a resident ID number: 17 digits and a digit or X.
// Longer digit runs are masked too (their first 18 characters): a card number or a
// concatenation with an ID number inside is no safer to print.
var idNumberShaped = regexp.MustCompile(`[0-9]{17}[0-9Xx]`)

// MaskIDNumbers keeps the first 4 and last 4 characters of every ID-number-shaped substring:
// 320402198001011234 → 3204**********1234.
func MaskIDNumbers(s string) string {
	if len(s) < 18 {
		return s
	}
	return idNumberShaped.ReplaceAllStringFunc(s, func(id string) string {
		return id[:4] + "**********" + id[14:]
	})
}

// secretKey: attributes named like this are credentials whatever their value looks like.
func secretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"token", "authorization", "password", "secret", "cookie"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

const redacted = "[REDACTED]"

// MaskingHandler wraps a handler so that no record it passes on carries a full ID number
// (in the message, string attributes, errors and other values as they would print) or the
// value of an attribute named like a credential. It is the last line of defense: code
// should not log such things in the first place.
func MaskingHandler(next slog.Handler) slog.Handler { return maskingHandler{next} }

type maskingHandler struct{ next slog.Handler }

func (h maskingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h maskingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, MaskIDNumbers(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h maskingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = maskAttr(a)
	}
	return maskingHandler{h.next.WithAttrs(masked)}
}

func (h maskingHandler) WithGroup(name string) slog.Handler {
	return maskingHandler{h.next.WithGroup(name)}
}

func maskAttr(a slog.Attr) slog.Attr {
	if secretKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, MaskIDNumbers(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]any, len(group))
		for i, g := range group {
			masked[i] = maskAttr(g)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprintf("%+v", x)
			if !idNumberShaped.MatchString(s) {
				return slog.Attr{Key: a.Key, Value: v} // keep its structure for JSON handlers
			}
		}
		return slog.String(a.Key, MaskIDNumbers(s))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
