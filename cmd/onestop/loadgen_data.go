package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"onestop/loadtest/loadgen"
)

// loadgenDataCmd is `onestop loadgen data`: the world a load test runs on, and bills that
// all settle against it. loadgen.go registers it under `onestop loadgen`.
func loadgenDataCmd() *cobra.Command {
	var out string
	var persons, bills int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Write load-test data: a snapshot, institutions, catalog, policies and bills.json",
		Long: "Writes a region-320400 snapshot, three institutions (LC1 village clinic, LH2, LH3) with\n" +
			"plain terminal tokens, a catalog, the demo policies, and bills.json: bill templates, about\n" +
			"70% outpatient, 10% chronic and 20% inpatient, every one of which settles on this data.\n" +
			"The k6 scripts (loadtest/k6) and `onestop loadgen` send them. The same --seed on the same\n" +
			"day writes the same files.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadgen.Generate(out, persons, bills, seed); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: snapshot.jsonl (%d persons), institutions.yaml, catalog.csv, policies/, bills.json (%d bills)\n",
				out, persons, bills)
			// --rate-limit 0: four tokens an institution stand for all its cashiers, so the
			// per-terminal limit would measure itself instead of the gateway.
			fmt.Fprintf(w, "start a gateway on it:\n  onestop dev --snapshot %[1]s --institutions %[2]s --catalog %[3]s --policies %[4]s --data-dir %[5]s --rate-limit 0\n",
				filepath.Join(out, "snapshot.jsonl"), filepath.Join(out, "institutions.yaml"), filepath.Join(out, "catalog.csv"),
				filepath.Join(out, "policies"), filepath.Join(out, "ledger"))
			fmt.Fprintf(w, "then load it:\n  onestop loadgen --data %[1]s\n  ONESTOP_DATA=%[1]s k6 run loadtest/k6/cashier-peak.js\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "loadgen-data", "folder to write (created if needed; files in it are replaced)")
	f.IntVar(&persons, "persons", 100_000, "persons in the snapshot")
	f.IntVar(&bills, "bills", 20_000, "bill templates in bills.json")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	return cmd
}
