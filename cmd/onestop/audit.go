package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"onestop/gateway/ledger"
	"onestop/gateway/policy"
)

// auditCmd checks a ledger's invariants (ledger.Audit) and exits 1 when any is broken.
func auditCmd() *cobra.Command {
	var url, dataDir, policies string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check a ledger: sums, no negative amounts, accumulators, caps, the agencies' outbox; exit 1 on any violation",
		Long: `Check a ledger against its invariants, on Postgres (--postgres-url, with --policies) or the
journal of onestop dev (--data-dir; the policies default to the demo ones dev unpacks there):

  sum                  Σ fund payments = fund_total; fund_total + hospital + account + cash = total
  negative             no amount below zero (settlement parts, payments, deltas, accumulators)
  delta                a settlement's <fund>.<pool>.paid deltas equal its payments to that pool,
                       its personal.out_of_pocket delta its cash + account
  cancellation         cancelled settlements and cancellation records agree
  accumulator          each accumulator = Σ deltas of the person-year's live settlements
  cap                  no <fund>.<pool>.paid accumulator above the pool's cap (the most generous
                       cap the live settlements' policy and rules could have given)
  outbox_missing       a settlement, cancellation or high-cost alert without an agency's message
  outbox_unexpected    a message nothing in the ledger calls for
  outbox_mismatch      a message (delivered or not) that differs from what was settled

Postgres is read in one read-only snapshot while gateways keep settling; the journal is read
from a copy of its whole records, so a running onestop dev is not disturbed. Each violation
is one line (check, subject, detail; --json: JSON lines), then a summary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromEnv(cmd.Flags()); err != nil {
				return err
			}
			flags := cmd.Flags()
			if url != "" && dataDir != "" {
				// One may come from the environment: the command line chooses.
				switch {
				case flags.Changed("postgres-url") && !flags.Changed("data-dir"):
					dataDir = ""
				case flags.Changed("data-dir") && !flags.Changed("postgres-url"):
					url = ""
				default:
					return errors.New("give --postgres-url or --data-dir, not both")
				}
			}
			if url == "" && dataDir == "" {
				return errors.New("--postgres-url (a Postgres ledger) or --data-dir (the journal of onestop dev) is required")
			}
			if policies == "" {
				if url != "" {
					return errors.New("--policies (or ONESTOP_POLICIES) is required: the caps are the policies'")
				}
				policies = filepath.Join(dataDir, "demo", "policies")
			}
			set, err := policy.LoadDir(policies)
			if err != nil {
				return fmt.Errorf("--policies: %w", err)
			}

			var audit func(func(ledger.Violation) error) (ledger.AuditStats, error)
			if url != "" {
				pool, err := ledger.Connect(cmd.Context(), url, nil)
				if err != nil {
					return err
				}
				defer pool.Close()
				l := ledger.NewPostgres(pool)
				audit = func(fn func(ledger.Violation) error) (ledger.AuditStats, error) {
					return l.Audit(cmd.Context(), set, fn)
				}
			} else {
				j, done, err := journalSnapshot(filepath.Join(dataDir, "ledger.journal"))
				if err != nil {
					return err
				}
				defer done()
				audit = func(fn func(ledger.Violation) error) (ledger.AuditStats, error) {
					return j.Audit(cmd.Context(), set, fn)
				}
			}

			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			stats, err := audit(func(v ledger.Violation) error {
				if asJSON {
					return enc.Encode(v)
				}
				_, err := fmt.Fprintf(w, "%-17s  %s  %s\n", v.Check, v.Subject, v.Detail)
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				if err := enc.Encode(struct {
					Summary ledger.AuditStats `json:"summary"`
				}{stats}); err != nil {
					return err
				}
			} else {
				writeAuditSummary(w, stats)
			}
			if len(stats.Violations) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "postgres-url", "", "Postgres URL of the ledger")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "folder of onestop dev's embedded ledger (ledger.journal)")
	cmd.Flags().StringVar(&policies, "policies", "", "directory of the policy YAML files the ledger was settled with (default with --data-dir: DIR/demo/policies)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON lines: one per violation, then {\"summary\": …}")
	return cmd
}

func writeAuditSummary(w io.Writer, s ledger.AuditStats) {
	fmt.Fprintf(w, "\nsettlements     %d (%d cancelled)\n", s.Settlements, s.Cancellations)
	fmt.Fprintf(w, "person-years    %d\naccumulators    %d\noutbox rows     %d\n", s.PersonYears, s.Accumulators, s.OutboxRows)
	if s.CapsUnchecked > 0 {
		fmt.Fprintf(w, "caps unchecked  %d (settled under a policy --policies does not hold)\n", s.CapsUnchecked)
	}
	if len(s.Violations) == 0 {
		fmt.Fprintln(w, "violations      none")
		return
	}
	total := 0
	var by []string
	for _, check := range slices.Sorted(maps.Keys(s.Violations)) {
		total += s.Violations[check]
		by = append(by, fmt.Sprintf("%s %d", check, s.Violations[check]))
	}
	fmt.Fprintf(w, "violations      %d: %s\n", total, strings.Join(by, ", "))
}

// journalSnapshot opens a copy of the journal's whole records. Opening the file itself
// would open it for writing, and cut off a record onestop dev is half-way through writing
// as if a crash had torn it; the copy also holds the audit to one moment of the ledger.
func journalSnapshot(path string) (*ledger.Journal, func(), error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	dir, err := os.MkdirTemp("", "onestop-audit-")
	if err != nil {
		return nil, nil, err
	}
	copyPath := filepath.Join(dir, "ledger.journal")
	if err := os.WriteFile(copyPath, data, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	j, err := ledger.OpenJournal(copyPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("reading a copy of %s: %w", path, err)
	}
	return j, func() { j.Close(); os.RemoveAll(dir) }, nil
}
