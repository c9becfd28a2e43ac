package identity

import (
	"context"

	"onestop/gateway"
)

// Resolver is the gateway's Identity port: ID numbers are checked, e-vouchers verified
// into the ID number they carry, social-security cards passed on to the eligibility
// lookup (their keyed hash finds the person, or not).
type Resolver struct {
	// Vouchers verifies e-vouchers; nil means this gateway accepts none.
	Vouchers *Verifier
}

var _ gateway.Identity = Resolver{}

func (r Resolver) Resolve(ctx context.Context, c gateway.Credential) (gateway.Credential, error) {
	switch c.Type {
	case gateway.CredentialIDCard:
		return c, CheckIDNumber(c.Value)
	case gateway.CredentialEVoucher:
		if r.Vouchers == nil {
			return c, &gateway.Error{Kind: gateway.KindInvalidArgument, Reason: gateway.ReasonInvalidCredential, Field: "credential.type",
				Message: "this gateway accepts no e-vouchers (no issuers are configured); use the ID card or social-security card"}
		}
		id, err := r.Vouchers.Verify(ctx, c.Value)
		if err != nil {
			return c, err
		}
		return gateway.Credential{Type: gateway.CredentialIDCard, Value: id}, nil
	}
	return c, nil
}
