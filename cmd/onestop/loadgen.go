package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"onestop/loadtest/loadgen"
)

// loadgenCmd is the open-model load generator; `loadgen data` makes what it sends.
func loadgenCmd() *cobra.Command {
	var addr, data, compare, method string
	var opt loadgen.Options
	var rounds, saturate int
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Send bills at a constant arrival rate and report latency from the intended send time",
		Long: "An open-model load generator: calls leave at their scheduled times whatever the server does,\n" +
			"and latency is measured from the scheduled time, so queueing in the server or in the generator\n" +
			"is not hidden. With --compare, the same load alternates between the gateway and the floor\n" +
			"(loadtest/floor), and the closing table shows the ratio. With --saturate N, N callers send\n" +
			"back to back instead (a closed model): the throughput column is then each target's saturation.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bills, err := loadgen.LoadBills(filepath.Join(data, "bills.json"))
			if err != nil {
				return fmt.Errorf("%w (make them with `onestop loadgen data --out %s`)", err, data)
			}
			opt.Method = method
			w := cmd.OutOrStdout()
			run := func(target, addr string, o loadgen.Options) (*loadgen.Result, error) {
				if saturate > 0 {
					return loadgen.Saturate(cmd.Context(), target, addr, bills, saturate, o)
				}
				return loadgen.Run(cmd.Context(), target, addr, bills, o)
			}
			if saturate > 0 {
				fmt.Fprintf(w, "%s by %d callers back to back for %v (warm-up %v), %d bills, %d connections\n",
					opt.Method, saturate, opt.Duration, opt.Warmup, len(bills), max(opt.Conns, 1))
			} else {
				fmt.Fprintf(w, "%s, %d bills, %d connections\n", opt, len(bills), max(opt.Conns, 1))
			}
			if compare == "" {
				res, err := run("gateway", addr, opt)
				if err != nil {
					return err
				}
				loadgen.Report(w, res)
				return nil
			}
			// Alternating rounds put both targets through the same minutes of a shared
			// machine's weather.
			var gw, fl *loadgen.Result
			for i := range max(rounds, 1) {
				for _, t := range []struct {
					name, addr string
					into       **loadgen.Result
				}{{"gateway", addr, &gw}, {"floor", compare, &fl}} {
					o := opt
					o.RunID = fmt.Sprintf("%s%d-%d", t.name[:1], time.Now().UnixMilli(), i)
					res, err := run(t.name, t.addr, o)
					if err != nil {
						return fmt.Errorf("%s, round %d: %w", t.name, i+1, err)
					}
					fmt.Fprintf(w, "round %d %-8s %.0f ok/s, p99 %v\n", i+1, t.name, res.Throughput(), res.Quantile(99))
					if *t.into == nil {
						*t.into = res
					} else {
						(*t.into).Merge(res)
					}
				}
			}
			loadgen.Report(w, gw, fl)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:9090", "the gateway's gRPC address (plaintext)")
	f.StringVar(&data, "data", "loadgen-data", "folder made by `onestop loadgen data` (bills.json)")
	f.StringVar(&compare, "compare", "", "the floor's gRPC address: run the same load against both, alternating")
	f.IntVar(&rounds, "rounds", 2, "with --compare, rounds of gateway then floor")
	f.IntVar(&saturate, "saturate", 0, "N callers sending back to back (closed model, ignores --rate): throughput at saturation")
	f.StringVar(&method, "method", "settle", "settle or presettle")
	f.Float64Var(&opt.Rate, "rate", 500, "calls a second")
	f.DurationVar(&opt.Duration, "duration", 30*time.Second, "measured time (per round with --compare)")
	f.DurationVar(&opt.Warmup, "warmup", 5*time.Second, "time sent but not measured, first")
	f.IntVar(&opt.Conns, "conns", 4, "gRPC connections")
	f.IntVar(&opt.MaxInFlight, "max-in-flight", 4096, "calls outstanding at once; beyond it sends wait (and the wait is counted)")
	cmd.AddCommand(loadgenDataCmd())
	return cmd
}
