package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"onestop/api"
	adminv1 "onestop/api/onestop/admin/v1"
)

// adminCmd holds the operators' calls to a running gateway (onestop.admin.v1).
func adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Operator calls to a running gateway (admin token)"}
	var addr, token, tlsCA string
	var useTLS bool
	reload := &cobra.Command{
		Use:   "reload-policies",
		Short: "Reload the gateway's policy directory; a bad file is refused and the policies in use stay (SIGHUP does the same)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromEnv(cmd.Flags()); err != nil {
				return err
			}
			if token == "" {
				return fmt.Errorf("--admin-token (or ONESTOP_ADMIN_TOKEN) is required")
			}
			creds := insecure.NewCredentials()
			if useTLS || tlsCA != "" {
				cfg, err := api.ClientTLS(tlsCA, "", "")
				if err != nil {
					return err
				}
				creds = credentials.NewTLS(cfg)
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(cmd.Context(), "authorization", "Bearer "+token), 30*time.Second)
			defer cancel()
			resp, err := adminv1.NewAdminServiceClient(conn).ReloadPolicies(ctx, &adminv1.ReloadPoliciesRequest{})
			if err != nil {
				return callError(err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "reloaded (changed: %v)\n", resp.Changed)
			fmt.Fprintln(w, "policy\tfile\tversion\tregion\tyear")
			for _, p := range resp.Policies {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", p.Id, p.File, p.Version, p.Region, p.Year)
			}
			return w.Flush()
		},
	}
	f := reload.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:9090", "gateway gRPC address")
	f.StringVar(&token, "admin-token", "", "the admin token whose sha256 the gateway was given (or ONESTOP_ADMIN_TOKEN)")
	f.BoolVar(&useTLS, "tls", false, "connect with TLS (implied by --tls-ca)")
	f.StringVar(&tlsCA, "tls-ca", "", "CA of the gateway's certificate, PEM")
	cmd.AddCommand(reload)
	return cmd
}
