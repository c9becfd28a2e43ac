package api

import (
	"context"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"log/slog"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	adminv1 "onestop/api/onestop/admin/v1"
	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
)

// MaxRequestBytes bounds one request: 1,000 lines of generous length fit in well under it.
const MaxRequestBytes = 1 << 20

// NewServer returns a gRPC server with the onestop.v1 services on svc, the standard health
// service (reported SERVING) and server reflection. Interceptors, outermost first: the
// access log (outermost so it sees every call's final code, panics included), the
// metrics (WithMetrics in opts), panic recovery, status conversion, terminal
// authentication (onestop.v1 services only), then the rate limit (RateLimit in opts): it
// sees the authenticated caller. Streams (ListSettlements) pass the same chain.
func NewServer(svc *gateway.Service, log *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	authn := auth.UnaryServerInterceptor(authenticate(svc.Directory))
	onlyOnestop := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return strings.HasPrefix(c.FullMethod(), "/onestop.v1.")
	})
	streamAuthn := auth.StreamServerInterceptor(authenticate(svc.Directory))
	opts, admin := takeOption[adminOption](opts)
	adminToken := ""
	if admin != nil {
		adminToken = admin.a.TokenSHA256
	}
	onlyAdmin := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return strings.HasPrefix(c.FullMethod(), "/onestop.admin.v1.")
	})
	opts, metricsOpt := takeOption[metricsOption](opts)
	opts, limiterOpt := takeOption[rateLimitOption](opts)
	var metrics *grpcprom.ServerMetrics
	if metricsOpt != nil {
		metrics = metricsOpt.m
	}
	var limit *limiter
	if limiterOpt != nil {
		limit = limiterOpt.l
	}
	logUnary, logStream := accessLog(log)
	chain := []grpc.UnaryServerInterceptor{logUnary}
	streams := []grpc.StreamServerInterceptor{logStream}
	if metrics != nil {
		chain = append(chain, metrics.UnaryServerInterceptor())
		streams = append(streams, metrics.StreamServerInterceptor())
	}
	recovered := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	chain = append(chain, recovery.UnaryServerInterceptor(recovered), errorInterceptor(log), selector.UnaryServerInterceptor(authn, onlyOnestop),
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(adminAuth(adminToken)), onlyAdmin))
	streams = append(streams, recovery.StreamServerInterceptor(recovered), errorStreamInterceptor(log), selector.StreamServerInterceptor(streamAuthn, onlyOnestop))
	if limit != nil {
		chain = append(chain, limit.intercept)
		streams = append(streams, limit.stream)
	}
	own := []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxRequestBytes), grpc.ChainUnaryInterceptor(chain...), grpc.ChainStreamInterceptor(streams...)}
	srv := grpc.NewServer(append(own, opts...)...)
	h := &handlers{svc: svc}
	onestopv1.RegisterSettlementServiceServer(srv, h)
	onestopv1.RegisterEligibilityServiceServer(srv, h)
	onestopv1.RegisterCatalogServiceServer(srv, h)
	onestopv1.RegisterReconciliationServiceServer(srv, h)
	if admin != nil {
		adminv1.RegisterAdminServiceServer(srv, &adminServer{a: admin.a})
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	if metrics != nil {
		// Every method's series from the start, so that rates and ratios on the dashboard
		// read 0, not "no data", until the first call of a kind.
		metrics.InitializeMetrics(srv)
	}
	return srv, hs
}

// handlers implement the onestop.v1 services by converting and delegating to the gateway.
type handlers struct {
	onestopv1.UnimplementedSettlementServiceServer
	onestopv1.UnimplementedEligibilityServiceServer
	onestopv1.UnimplementedCatalogServiceServer
	onestopv1.UnimplementedReconciliationServiceServer
	svc *gateway.Service
}

func (h *handlers) PreSettle(ctx context.Context, req *onestopv1.SettleRequest) (*onestopv1.SettleResponse, error) {
	st, err := h.svc.PreSettle(ctx, caller(ctx), settleRequest(req))
	if err != nil {
		return nil, err
	}
	resp := settleResponse(st, false, caller(ctx).Institution)
	resp.RequestId = req.GetRequestId()
	return resp, nil
}

func (h *handlers) Settle(ctx context.Context, req *onestopv1.SettleRequest) (*onestopv1.SettleResponse, error) {
	st, replayed, err := h.svc.Settle(ctx, caller(ctx), settleRequest(req))
	if err != nil {
		return nil, err
	}
	return settleResponse(st, replayed, caller(ctx).Institution), nil
}

func (h *handlers) CancelSettlement(ctx context.Context, req *onestopv1.CancelSettlementRequest) (*onestopv1.CancelSettlementResponse, error) {
	st, replayed, err := h.svc.Cancel(ctx, caller(ctx), gateway.CancelKey{
		InstitutionID: req.GetInstitutionId(), RequestID: req.GetRequestId(), SettlementID: req.GetSettlementId(), Reason: req.GetReason(),
	})
	if err != nil {
		return nil, err
	}
	return cancelResponse(st, req.GetRequestId(), replayed), nil
}

func (h *handlers) GetSettlement(ctx context.Context, req *onestopv1.GetSettlementRequest) (*onestopv1.SettleResponse, error) {
	st, err := h.svc.GetSettlement(ctx, caller(ctx), req.GetInstitutionId(), req.GetSettlementId())
	if err != nil {
		return nil, err
	}
	return settleResponse(st, false, caller(ctx).Institution), nil
}

func (h *handlers) GetEligibility(ctx context.Context, req *onestopv1.GetEligibilityRequest) (*onestopv1.GetEligibilityResponse, error) {
	v, err := h.svc.GetEligibility(ctx, caller(ctx), &gateway.EligibilityRequest{
		InstitutionID: req.GetInstitutionId(), Credential: credential(req.GetCredential()), Date: req.GetDate(),
	})
	if err != nil {
		return nil, err
	}
	return eligibilityResponse(v), nil
}

// takeOption takes the option of type T out of opts: the options that carry interceptors
// NewServer must place in its own chain (WithMetrics, RateLimit, WithAdmin) rather than
// hand to grpc.NewServer. nil when opts has none.
func takeOption[T grpc.ServerOption](opts []grpc.ServerOption) ([]grpc.ServerOption, *T) {
	var found *T
	rest := opts[:0:0]
	for _, o := range opts {
		if t, ok := o.(T); ok {
			found = &t
			continue
		}
		rest = append(rest, o)
	}
	return rest, found
}
