// Command onestop is the one binary of the onestop settlement gateway. Every flag and
// environment variable is parsed here and nowhere deeper (DESIGN.md, convention 8).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit status without printing anything more: the command has
// already said what went wrong (for example "3 passed, 1 failed").
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "onestop",
		Short:         "Real-time point-of-care settlement gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(policyCmd(), serveCmd(), devCmd(), settleCmd(false), settleCmd(true), cancelCmd(), eligibilityCmd(), voucherCmd(), snapshotCmd(), migrateCmd(), agencySimCmd(), outboxCmd(), loadgenCmd(), receiptCmd(), reconcileCmd(), auditCmd(), healthcheckCmd(), adminCmd())
	return root
}

func main() {
	if err := newRoot().Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "onestop:", err)
		os.Exit(2)
	}
}
