package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/api/receipt"
)

// receiptCmd reprints a settlement's receipt (一单制结算单) from GetSettlement, as it stands
// now: a receipt printed after a cancellation says so.
func receiptCmd() *cobra.Command {
	var cf clientFlags
	var lang, timezone string
	cmd := &cobra.Command{
		Use:   "receipt SETTLEMENT_ID",
		Short: "Print a settlement's receipt (一单制结算单)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, ctx, cancel, err := cf.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			defer cancel()
			// Checked after dial, which reads ONESTOP_LANG and ONESTOP_TIMEZONE too.
			if lang != "zh" && lang != "en" {
				return fmt.Errorf("--lang must be zh or en")
			}
			loc, err := receipt.LoadLocation(timezone)
			if err != nil {
				return fmt.Errorf("--timezone: %w", err)
			}
			resp, err := onestopv1.NewSettlementServiceClient(conn).GetSettlement(ctx, &onestopv1.GetSettlementRequest{
				InstitutionId: cf.institution, SettlementId: args[0],
			})
			if err != nil {
				return callError(err)
			}
			var printErr error
			if err := printAnswer(cmd.OutOrStdout(), cf.json, resp, func(w io.Writer) {
				printErr = receipt.Text(w, resp, loc, lang)
			}); err != nil {
				return err
			}
			return printErr
		},
	}
	cf.bind(cmd)
	cmd.Flags().StringVar(&lang, "lang", "zh", "language of the receipt: zh or en")
	cmd.Flags().StringVar(&timezone, "timezone", "Asia/Shanghai", "time zone of the printed times (IANA name)")
	return cmd
}
