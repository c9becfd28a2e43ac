package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"onestop/gateway"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every onestop error.
const ErrorDomain = "onestop"

var kindCodes = map[gateway.Kind]codes.Code{
	gateway.KindInternal:           codes.Internal,
	gateway.KindInvalidArgument:    codes.InvalidArgument,
	gateway.KindNotFound:           codes.NotFound,
	gateway.KindAlreadyExists:      codes.AlreadyExists,
	gateway.KindFailedPrecondition: codes.FailedPrecondition,
	gateway.KindPermissionDenied:   codes.PermissionDenied,
	gateway.KindUnauthenticated:    codes.Unauthenticated,
	gateway.KindUnavailable:        codes.Unavailable,
	gateway.KindResourceExhausted:  codes.ResourceExhausted,
}

// Status converts an error to the status a terminal sees. Internal failures are logged with
// their cause and shown only as INTERNAL.
func Status(ctx context.Context, log *slog.Logger, err error) *status.Status {
	if s, ok := status.FromError(err); ok {
		return s
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "the deadline passed; retry with the same request_id")
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		ge = gateway.Internal(err)
	}
	msg := ge.Message
	if ge.Kind == gateway.KindInternal {
		log.ErrorContext(ctx, "internal error", "err", err)
		msg = "internal error"
	} else if ge.Err != nil {
		log.WarnContext(ctx, "call failed", "reason", ge.Reason, "err", ge.Err)
	}
	if msg == "" {
		msg = ge.Reason
	}
	if ge.Field != "" {
		msg = ge.Field + ": " + msg
	}
	st := status.New(kindCodes[ge.Kind], msg)
	info := &errdetails.ErrorInfo{Reason: ge.Reason, Domain: ErrorDomain}
	if ge.Field != "" {
		info.Metadata = map[string]string{"field": ge.Field}
	}
	details := []protoadapt.MessageV1{info}
	if ge.Kind == gateway.KindInvalidArgument && ge.Field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: ge.Field, Description: ge.Message, Reason: ge.Reason},
		}})
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	return st
}

// errorInterceptor converts handler errors into statuses in one place.
func errorInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, Status(ctx, log, err).Err()
		}
		return resp, nil
	}
}

// errorStreamInterceptor is errorInterceptor for server streams (ListSettlements).
func errorStreamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return Status(ss.Context(), log, err).Err()
		}
		return nil
	}
}
