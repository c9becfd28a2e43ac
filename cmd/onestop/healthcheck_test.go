package main

import (
	"bytes"
	"crypto/x509/pkix"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"onestop/api"
)

// healthServer serves only the standard health service, as the gateway does beside its own.
func healthServer(t *testing.T, opts ...grpc.ServerOption) (string, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), hs
}

// runHealthcheck returns the exit status main would give and what was printed.
func runHealthcheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := healthcheckCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		t.Fatalf("healthcheck %v: %v, not an exit status", args, err)
	}
	return code, out.String(), errOut.String()
}

func TestHealthcheck(t *testing.T) {
	addr, hs := healthServer(t)
	hs.SetServingStatus("onestop.v1.SettlementService", healthpb.HealthCheckResponse_SERVING)
	closed := freeAddr(t)

	for _, tc := range []struct {
		name   string
		before func()
		args   []string
		code   int
		want   string // on stdout when 0, on stderr otherwise
	}{
		{"serving", nil, []string{"--addr", addr}, 0, "SERVING"},
		{"one service serving", nil, []string{"--addr", addr, "--service", "onestop.v1.SettlementService"}, 0, "SERVING"},
		{"unknown service", nil, []string{"--addr", addr, "--service", "nope"}, 1, "NotFound"},
		{"nothing listening", nil, []string{"--addr", closed, "--timeout", "500ms"}, 1, "Unavailable"},
		{"bad flag", nil, []string{"--addr", addr, "--timeout", "soon"}, 1, "invalid argument"},
		// Shutdown is what the gateway calls on SIGTERM: NOT_SERVING while it drains.
		{"draining", hs.Shutdown, []string{"--addr", addr}, 1, "NOT_SERVING"},
		{"plaintext to a plaintext server with --tls", nil, []string{"--addr", addr, "--tls", "--timeout", "500ms"}, 1, "Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			code, stdout, stderr := runHealthcheck(t, tc.args...)
			t.Logf("exit %d: %s%s", code, stdout, stderr)
			got := stdout
			if tc.code != 0 {
				got = stderr
				if stdout != "" {
					t.Errorf("stdout %q, want nothing", stdout)
				}
				if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "unhealthy: ") {
					t.Errorf("stderr %q: want one line starting 'unhealthy: '", stderr)
				}
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, got, tc.code, tc.want)
			}
		})
	}
}

func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	ca, issue := testCA(t, dir)
	cert, key := issue("gateway", pkix.Name{CommonName: "gateway"}, true)
	cfg, err := api.ServerTLS(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := healthServer(t, grpc.Creds(credentials.NewTLS(cfg)))

	if code, _, stderr := runHealthcheck(t, "--addr", addr, "--tls-ca", ca); code != 0 {
		t.Errorf("--tls-ca: exit %d, %s", code, stderr)
	}
	// The certificate names 127.0.0.1 only: another name must fail verification.
	if code, _, stderr := runHealthcheck(t, "--addr", addr, "--tls-ca", ca, "--server-name", "gateway.example"); code != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("--server-name gateway.example: exit %d, %q; want 1 and a certificate error", code, stderr)
	}
	if code, _, _ := runHealthcheck(t, "--addr", addr, "--timeout", "500ms"); code != 1 {
		t.Errorf("plaintext to a TLS gateway: exit %d, want 1", code)
	}
	// The image's HEALTHCHECK gives --addr only: a TLS gateway's container sets the rest in
	// its environment (Dockerfile).
	t.Setenv("ONESTOP_TLS_CA", ca)
	if code, _, stderr := runHealthcheck(t, "--addr", addr); code != 0 {
		t.Errorf("ONESTOP_TLS_CA: exit %d, %s", code, stderr)
	}
}
