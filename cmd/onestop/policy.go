package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"onestop/gateway/policy"
)

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Check policy files against worked cases, explain a split"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check ROOT",
		Short: "Run every case of a fixture root (policies/ and cases/) and report each figure that differs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reports, err := policy.CheckRoot(args[0])
			if err != nil {
				return err
			}
			if failed := writeCheck(cmd.OutOrStdout(), reports); failed > 0 {
				return exitError{1}
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "explain ROOT CASE.json",
		Short: "Split one case and print every stage's trace as a table",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := policy.LoadDir(filepath.Join(args[0], "policies"))
			if err != nil {
				return err
			}
			c, err := policy.LoadCase(args[1])
			if err != nil {
				return err
			}
			res, err := c.Run(set)
			var ie *policy.InputError
			if errors.As(err, &ie) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\nrejected: %v\n", c.Name, err)
				return nil
			}
			if err != nil {
				return err
			}
			writeExplain(cmd.OutOrStdout(), c, res)
			return nil
		},
	})
	return cmd
}

// writeCheck prints each failing case with every differing figure, then "N passed, M failed".
func writeCheck(w io.Writer, reports []policy.CaseReport) (failed int) {
	for _, r := range reports {
		if r.Passed() {
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s", filepath.Base(r.File))
		if r.Name != "" {
			fmt.Fprintf(w, " — %s", r.Name)
		}
		fmt.Fprintln(w)
		if r.Err != nil {
			fmt.Fprintf(w, "    %v\n", r.Err)
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    figure\twant\tgot")
		for _, m := range r.Mismatches {
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", m.Field, m.Want, m.Got)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(reports)-failed, failed)
	return failed
}

// writeExplain prints the step-1 totals, one row per stage, and the outcome.
func writeExplain(w io.Writer, c *policy.Case, r *policy.Result) {
	fmt.Fprintf(w, "%s\npolicy %s\n\n", c.Name, r.Policy)
	fmt.Fprintf(w, "total %s = policy scope %s + first self-pay %s + over ceiling %s + excluded %s\n\n",
		r.Total.StringFixed(2), r.PolicyScope.StringFixed(2), r.Preselfpay.StringFixed(2),
		r.Overlimit.StringFixed(2), r.Excluded.StringFixed(2))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	// The note is the last cell, after the last tab, so tabwriter leaves it unaligned (left).
	fmt.Fprintln(tw, "#\tfund\tpool\tcategory\tburden\tthreshold\tapplied\tratio\tcap room\tpay\tburden after\t  note")
	for _, t := range r.Trace {
		note := t.Skipped
		if note != "" {
			note = "skipped: " + note
		}
		row := []string{fmt.Sprint(t.Stage + 1), t.Fund, t.Pool, t.Category, t.BurdenBefore.String()}
		switch {
		case t.Skipped != "":
			row = append(row, "", "", "", "", "0.00")
		case t.Kind == policy.KindPool:
			threshold := "-"
			if t.ThresholdKind != "" {
				threshold = fmt.Sprintf("%s %s", t.Threshold.String(), t.ThresholdKind)
			}
			room := "uncapped"
			if t.Capped {
				room = t.CapRoom.String()
			}
			row = append(row, threshold, t.ThresholdApplied.String(), t.Ratio.String(), room, t.Pay.String())
			if len(t.Candidates) > 1 {
				var cs []string
				for _, c := range t.Candidates {
					cs = append(cs, c.Category+" "+c.Pay.String())
				}
				note = "candidates: " + strings.Join(cs, ", ")
			}
			if t.Capped && t.Uncapped > t.Pay {
				note = strings.TrimPrefix(note+"; capped from "+t.Uncapped.String(), "; ")
			}
		case t.Kind == policy.KindHospitalCeiling:
			row = append(row, "", "", "", "", t.Pay.String())
			note = "hospital bears burden above " + t.Limit.String()
		case t.Kind == policy.KindAccount:
			row = append(row, "", "", "", "", t.Pay.String())
			var bs []string
			for _, b := range t.Buckets {
				bs = append(bs, fmt.Sprintf("%s %s", b.Bucket, b.Amount.String()))
			}
			note = "account: " + strings.Join(bs, ", ")
		}
		row = append(row, t.BurdenAfter.String(), "  "+note)
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, fund := range slices.Sorted(maps.Keys(r.Funds)) {
		fmt.Fprintf(w, "%-18s %12s\n", fund, money(r.Funds[fund]))
	}
	fmt.Fprintf(w, "%-18s %12s\n%-18s %12s\n%-18s %12s\n", "hospital", money(r.Hospital), "account", money(r.Account), "cash", money(r.Cash))
}
