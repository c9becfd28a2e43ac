package api

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/api/openapi"
	"onestop/gateway"
)

// REST is the REST/JSON face of the onestop.v1 services (grpc-gateway, routes from the
// protos' google.api.http annotations). It calls a gRPC server of its own through an
// in-memory connection rather than the services directly, so that a REST call passes
// exactly the interceptors a gRPC call does: authentication, rate limit, metrics, access
// log, status conversion. REST and gRPC therefore answer alike, errors included.
type REST struct {
	// Handler serves /v1/…; mount it on the HTTP server.
	Handler http.Handler
	srv     *grpc.Server
	conn    *grpc.ClientConn
	dir     gateway.Directory
}

// NewREST serves srv — from NewServer, without transport credentials: the connection never
// leaves the process — on an in-memory listener, and returns the REST handler calling it.
// dir lets a receipt request name its institution by its token alone.
func NewREST(srv *grpc.Server, dir gateway.Directory) (*REST, error) {
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis) //nolint:errcheck // ends with Close
	conn, err := grpc.NewClient("passthrough:///onestop-rest",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, restMarshaler))
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		onestopv1.RegisterSettlementServiceHandler,
		onestopv1.RegisterEligibilityServiceHandler,
		onestopv1.RegisterCatalogServiceHandler,
		onestopv1.RegisterReconciliationServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			conn.Close()
			srv.Stop()
			return nil, err
		}
	}
	return &REST{Handler: http.MaxBytesHandler(mux, MaxRequestBytes), srv: srv, conn: conn, dir: dir}, nil
}

// Close finishes the calls in flight and stops the in-memory server. Shut the HTTP
// server down first: its handlers are those calls.
func (r *REST) Close() {
	r.conn.Close()
	r.srv.GracefulStop()
}

// Settlement is GetSettlement for an HTTP request carrying a terminal's bearer token: the
// receipt page's lookup. The institution is the request's institution_id parameter or,
// when absent, the token's own.
func (r *REST) Settlement(req *http.Request, settlementID string) (*onestopv1.SettleResponse, error) {
	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, status.Error(codes.Unauthenticated, "a terminal bearer token is required (Authorization: Bearer …)")
	}
	inst := req.URL.Query().Get("institution_id")
	if inst == "" {
		if in, _, ok := r.dir.Authenticate(token); ok {
			inst = in.ID
		}
	}
	ctx := metadata.AppendToOutgoingContext(req.Context(), "authorization", "Bearer "+token)
	return onestopv1.NewSettlementServiceClient(r.conn).GetSettlement(ctx,
		&onestopv1.GetSettlementRequest{InstitutionId: inst, SettlementId: settlementID})
}

// restMarshaler writes the protos' own field names (snake_case), every field, enums by name:
// what the documentation and the gRPC answers show, so terminals need one vocabulary. It
// reads either field name form and refuses unknown fields.
var restMarshaler = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
	UnmarshalOptions: protojson.UnmarshalOptions{},
}

// OpenAPI serves the OpenAPI document generated from the protos.
func OpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi.JSON) //nolint:errcheck
	})
}
