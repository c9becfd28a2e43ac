package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"onestop/gateway"
	"onestop/gateway/ledger"
)

func outboxCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Inspect the agencies' outbox on Postgres and retry dead letters (onestop dev: see /metrics)",
	}
	cmd.PersistentFlags().StringVar(&url, "postgres-url", "", "Postgres URL of the ledger")
	open := func(cmd *cobra.Command) (*ledger.Postgres, func(), error) {
		if err := fromEnv(cmd.Flags()); err != nil {
			return nil, nil, err
		}
		if url == "" {
			return nil, nil, errors.New("--postgres-url (or ONESTOP_POSTGRES_URL) is required")
		}
		pool, err := ledger.Connect(cmd.Context(), url, nil)
		if err != nil {
			return nil, nil, err
		}
		return ledger.NewPostgres(pool), pool.Close, nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Pending messages by agency, the oldest one's age, dead letters, delivered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, err := l.OutboxStats(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			age := "-"
			if !st.OldestPending.IsZero() {
				age = time.Since(st.OldestPending).Round(time.Second).String()
			}
			fmt.Fprintf(w, "pending    %d (oldest %s)\n", st.Pending, age)
			agencies := slices.Sorted(func(yield func(string) bool) {
				for a := range st.PendingByAgency {
					if !yield(a) {
						return
					}
				}
			})
			for _, a := range agencies {
				fmt.Fprintf(w, "  %-20s %d\n", a, st.PendingByAgency[a])
			}
			fmt.Fprintf(w, "dead       %d%s\ndelivered  ~%d (Postgres's estimate)\n", st.Dead, deadHint(st), st.Delivered)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "retry-dead",
		Short: "Make every dead-lettered message due again (after fixing what the agency objected to)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			n, err := l.RetryDead(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d dead messages are due again\n", n)
			return nil
		},
	})
	return cmd
}

func deadHint(st gateway.OutboxStats) string {
	if st.Dead == 0 {
		return ""
	}
	return " (their last_error column says why; `onestop outbox retry-dead` sends them again)"
}
