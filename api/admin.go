package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"path/filepath"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"

	adminv1 "onestop/api/onestop/admin/v1"
	"onestop/gateway"
	"onestop/gateway/policy"
)

// Admin configures the operator service (onestop.admin.v1). Pass WithAdmin to NewServer.
type Admin struct {
	// TokenSHA256 is the hex sha256 of the admin bearer token; empty: every admin call is
	// refused (PERMISSION_DENIED, ADMIN_DISABLED).
	TokenSHA256 string
	// Reload loads and switches the policy set (policy.Current.Reload).
	Reload func() (set *policy.Set, changed bool, err error)
}

type adminOption struct {
	grpc.EmptyServerOption
	a Admin
}

// WithAdmin serves AdminService with a: its calls authenticate with the admin token only,
// never a terminal's, and a terminal token is refused there.
func WithAdmin(a Admin) grpc.ServerOption { return adminOption{a: a} }

// adminAuth checks the admin bearer token in constant time.
func adminAuth(tokenSHA256 string) auth.AuthFunc {
	want, _ := hex.DecodeString(tokenSHA256)
	return func(ctx context.Context) (context.Context, error) {
		if len(want) != sha256.Size {
			return nil, &gateway.Error{Kind: gateway.KindPermissionDenied, Reason: gateway.ReasonAdminDisabled,
				Message: "admin calls are disabled on this gateway (serve --admin-token-sha256)"}
		}
		token, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, unauthenticated("send the admin token as 'authorization: Bearer <token>'")
		}
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return nil, unauthenticated("not the admin token")
		}
		return ctx, nil
	}
}

type adminServer struct {
	adminv1.UnimplementedAdminServiceServer
	a Admin
}

func (s *adminServer) ReloadPolicies(context.Context, *adminv1.ReloadPoliciesRequest) (*adminv1.ReloadPoliciesResponse, error) {
	if s.a.Reload == nil {
		return nil, gateway.Internal(errNoReload)
	}
	set, changed, err := s.a.Reload()
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindFailedPrecondition, Reason: gateway.ReasonPolicyInvalid,
			Message: "the policies were not reloaded; the set in use is unchanged: " + err.Error()}
	}
	resp := &adminv1.ReloadPoliciesResponse{Changed: changed}
	for _, p := range set.All() {
		resp.Policies = append(resp.Policies, &adminv1.LoadedPolicy{Id: p.ID, File: filepath.Base(p.File), Version: p.Version, Region: p.Region, Year: int32(p.Year)})
	}
	return resp, nil
}

var errNoReload = errors.New("the gateway was built without a policy reloader")
