package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"onestop/api"
)

// healthcheckCmd asks a gateway's gRPC health service whether it serves. It exists for the
// container image's HEALTHCHECK: the distroless image has no shell, curl or
// grpc_health_probe, only this binary. Every failure exits 1, never 2: Docker reserves
// exit status 2 of a health check, and main turns other errors into 2.
func healthcheckCmd() *cobra.Command {
	var addr, service, tlsCA, serverName string
	var useTLS bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a gateway's gRPC health service answers SERVING, 1 otherwise",
		Long: "Calls grpc.health.v1.Health/Check on --addr and prints one line: SERVING, or why not.\n" +
			"The container image's HEALTHCHECK; also usable from a Kubernetes exec probe when the\n" +
			"gateway serves TLS, which the kubelet's own gRPC probe cannot speak.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unhealthy := func(format string, a ...any) error {
				// One line, whatever the error says: Docker keeps the output in its health log.
				msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
				fmt.Fprintln(cmd.ErrOrStderr(), "unhealthy:", msg)
				return exitError{1}
			}
			if err := fromEnv(cmd.Flags()); err != nil {
				return unhealthy("%v", err)
			}
			creds := insecure.NewCredentials()
			if useTLS || tlsCA != "" || serverName != "" {
				cfg, err := api.ClientTLS(tlsCA, "", "")
				if err != nil {
					return unhealthy("%v", err)
				}
				// The check dials 127.0.0.1 inside the container, while the certificate
				// names the gateway's public host.
				cfg.ServerName = serverName
				creds = credentials.NewTLS(cfg)
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				return unhealthy("%s: %v", addr, err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			if err != nil {
				st := status.Convert(err)
				return unhealthy("%s: %s: %s", addr, st.Code(), st.Message())
			}
			if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
				return unhealthy("%s: %s", addr, s)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "SERVING")
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		fmt.Fprintln(cmd.ErrOrStderr(), "unhealthy:", err)
		return exitError{1}
	})
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:9090", "gateway gRPC address")
	cmd.Flags().StringVar(&service, "service", "", "service name to ask about; empty: the server as a whole")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "deadline of the check")
	cmd.Flags().BoolVar(&useTLS, "tls", false, "connect with TLS, the gateway verified against the system roots (implied by --tls-ca, --server-name)")
	cmd.Flags().StringVar(&tlsCA, "tls-ca", "", "CA of the gateway's certificate, PEM (implies --tls)")
	cmd.Flags().StringVar(&serverName, "server-name", "", "name to verify the gateway's certificate against, when --addr is not it (implies --tls)")
	return cmd
}
