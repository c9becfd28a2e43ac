package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"onestop/api"
	adminv1 "onestop/api/onestop/admin/v1"
	"onestop/gateway/policy"
)

// TestAdminAuthentication: without a configured admin token every admin call is refused;
// with one, only that token passes (a terminal's is UNAUTHENTICATED there), and a reload
// that fails is FAILED_PRECONDITION / POLICY_INVALID.
func TestAdminAuthentication(t *testing.T) {
	w := newWorld(t, journal(t))
	cl := w.clients[w.cases[0].File]
	disabled := adminv1.NewAdminServiceClient(serve(t, w.svc, api.WithAdmin(api.Admin{})))
	_, err := disabled.ReloadPolicies(bearer("anything"), &adminv1.ReloadPoliciesRequest{})
	wantRefused(t, "admin disabled", err, codes.PermissionDenied, "ADMIN_DISABLED")

	sum := sha256.Sum256([]byte("admin-secret"))
	calls := 0
	conn := serve(t, w.svc, api.WithAdmin(api.Admin{TokenSHA256: hex.EncodeToString(sum[:]),
		Reload: func() (*policy.Set, bool, error) {
			calls++
			return nil, false, errors.New("x.yaml:3: stages: required")
		}}))
	admin := adminv1.NewAdminServiceClient(conn)
	_, err = admin.ReloadPolicies(cl.ctx, &adminv1.ReloadPoliciesRequest{})
	wantRefused(t, "a terminal token", err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = admin.ReloadPolicies(bearer("admin-secret"), &adminv1.ReloadPoliciesRequest{})
	wantRefused(t, "a failing reload", err, codes.FailedPrecondition, "POLICY_INVALID")
	if calls != 1 {
		t.Errorf("Reload ran %d times, want 1 (only for the admin token)", calls)
	}
}
