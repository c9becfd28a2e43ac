package api

import (
	"context"
	"crypto/x509"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"onestop/gateway"
)

type callerKey struct{}

// authenticate finds the terminal a call comes from: by its client certificate when the
// connection carries a verified one, otherwise by "authorization: Bearer <token>". A
// certificate wins over a token sent alongside it, so a terminal that has moved to
// certificates cannot be impersonated with an old token over its own connection.
func authenticate(dir gateway.Directory) auth.AuthFunc {
	return func(ctx context.Context) (context.Context, error) {
		c, how, err := identify(ctx, dir)
		if err != nil {
			return nil, err
		}
		if a := accessOf(ctx); a != nil {
			a.caller, a.auth = c, how
		}
		return context.WithValue(ctx, callerKey{}, c), nil
	}
}

func identify(ctx context.Context, dir gateway.Directory) (gateway.Caller, string, error) {
	if cert, presented := clientCert(ctx); presented {
		// With VerifyClientCertIfGiven the handshake already refused a certificate that
		// does not chain to the client CA; this guards against a server configured without it.
		if cert == nil {
			return gateway.Caller{}, "", unauthenticated("the client certificate was not verified")
		}
		if len(cert.Subject.Organization) != 1 || cert.Subject.CommonName == "" {
			return gateway.Caller{}, "", unauthenticated("the client certificate must name one institution (O) and the terminal (CN)")
		}
		inst, term, ok := dir.Terminal(cert.Subject.Organization[0], cert.Subject.CommonName)
		if !ok || !term.MTLS {
			return gateway.Caller{}, "", unauthenticated("the client certificate names no terminal allowed to use certificates")
		}
		return gateway.Caller{Institution: inst, TerminalID: term.ID}, "mtls", nil
	}
	token, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return gateway.Caller{}, "", unauthenticated("send the terminal token as 'authorization: Bearer <token>' or connect with a terminal certificate")
	}
	inst, terminal, ok := dir.Authenticate(token)
	if !ok {
		return gateway.Caller{}, "", unauthenticated("unknown terminal token")
	}
	return gateway.Caller{Institution: inst, TerminalID: terminal}, "token", nil
}

// clientCert returns the leaf of the connection's verified client chain; presented is
// false when the peer sent no certificate (plaintext, or TLS without one).
func clientCert(ctx context.Context) (verified *x509.Certificate, presented bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil, false
	}
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, true
	}
	return info.State.VerifiedChains[0][0], true
}

func unauthenticated(msg string) error {
	return &gateway.Error{Kind: gateway.KindUnauthenticated, Reason: gateway.ReasonUnauthenticated, Message: msg}
}

func caller(ctx context.Context) gateway.Caller {
	c, _ := ctx.Value(callerKey{}).(gateway.Caller)
	return c
}
