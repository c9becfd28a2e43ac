package api

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	"onestop/gateway"
)

// RateLimit limits every terminal to perSecond onestop.v1 calls a second on average, with
// bursts of up to burst calls; a call over it fails RESOURCE_EXHAUSTED (RATE_LIMITED).
// perSecond <= 0 turns the limit off; a burst below 1 counts as 1. Pass it to NewServer: NewServer chains its options'
// interceptors inside its own, so the limit counts authenticated terminals only and one
// terminal's flood cannot spend another's allowance.
func RateLimit(perSecond float64, burst int) grpc.ServerOption {
	if perSecond <= 0 {
		return grpc.EmptyServerOption{}
	}
	l := &limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[terminalKey]*rate.Limiter{}}
	return rateLimitOption{l: l}
}

// rateLimitOption carries the limiter to NewServer, which places it inside authentication
// for unary calls and streams alike (a grpc.ServerOption cannot carry both itself).
type rateLimitOption struct {
	grpc.EmptyServerOption
	l *limiter
}

// stream limits a stream when it opens: one call, however many messages it answers.
func (l *limiter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if _, err := l.intercept(ss.Context(), nil, nil, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		return err
	}
	return handler(srv, ss)
}

// terminalKey: only authenticated terminals get a bucket, so the map is bounded by the
// institutions file, not by what callers send.
type terminalKey struct{ institution, terminal string }

type limiter struct {
	limit   rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[terminalKey]*rate.Limiter
}

func (l *limiter) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c := caller(ctx)
	if c.Institution == nil { // not an onestop.v1 call: health and reflection are not limited
		return handler(ctx, req)
	}
	if !l.bucket(terminalKey{c.Institution.ID, c.TerminalID}).Allow() {
		return nil, &gateway.Error{Kind: gateway.KindResourceExhausted, Reason: gateway.ReasonRateLimited,
			Message: fmt.Sprintf("this terminal is over %g calls a second (bursts of %d); slow down and retry with the same request_id", float64(l.limit), l.burst)}
	}
	return handler(ctx, req)
}

func (l *limiter) bucket(k terminalKey) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[k] = b
	}
	return b
}
