package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"onestop/gateway/ledger"
)

// migrateCmd applies the ledger's embedded migrations: the deployment step before a new
// version's gateways start (serve --migrate does the same at start, for single instances).
func migrateCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the ledger's database migrations to Postgres",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromEnv(cmd.Flags()); err != nil {
				return err
			}
			if url == "" {
				return errors.New("--postgres-url (or ONESTOP_POSTGRES_URL) is required")
			}
			pool, err := ledger.Connect(cmd.Context(), url, nil)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := ledger.Migrate(cmd.Context(), pool); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			var version int
			if err := pool.QueryRow(cmd.Context(), "select version from schema_version").Scan(&version); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger schema at version %d\n", version)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "postgres-url", "", "Postgres URL of the ledger")
	return cmd
}
