package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"onestop/cache"
)

// redisConfig is what the snapshot commands need: where Redis is and how persons are keyed.
type redisConfig struct {
	RedisURL        string
	PersonKeySecret string
	Prefix          string
}

func (c *redisConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.RedisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL of the eligibility cache; a Redis Cluster: redis+cluster://host:port?addr=host2:port")
	fs.StringVar(&c.PersonKeySecret, "person-key-secret", "", "secret keying the hash of ID numbers: the gateway's own")
	fs.StringVar(&c.Prefix, "redis-prefix", "", "key prefix of the eligibility cache (default "+cache.DefaultPrefix+"; in a Redis Cluster "+cache.ClusterDefaultPrefix+", and it needs a {hash tag})")
}

// open completes the flags from ONESTOP_* variables and connects. Loads and status calls
// take longer than a lookup, so the socket deadlines are relaxed; each call still has one.
func (c *redisConfig) open(fs *pflag.FlagSet, needSecret bool) (*cache.Redis, redis.UniversalClient, error) {
	if err := fromEnv(fs); err != nil {
		return nil, nil, err
	}
	if needSecret && len(c.PersonKeySecret) < 16 {
		return nil, nil, errors.New("--person-key-secret (or ONESTOP_PERSON_KEY_SECRET), at least 16 characters, is required: it must be the gateway's")
	}
	rdb, err := cache.OpenRedis(c.RedisURL, 30*time.Second)
	if err != nil {
		return nil, nil, err
	}
	r, err := cache.NewRedisStore(rdb, cache.NewKeyer(c.PersonKeySecret), c.Prefix)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return r, rdb, nil
}

func snapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Load, change and inspect the eligibility snapshot in Redis"}
	cmd.AddCommand(snapshotLoadCmd(), snapshotDeltaCmd(), snapshotStatusCmd())
	return cmd
}

func snapshotLoadCmd() *cobra.Command {
	var c redisConfig
	var strict, quiet bool
	cmd := &cobra.Command{
		Use:   "load FILE",
		Short: "Load a snapshot (JSON Lines, or CSV for a .csv name) as a new version and switch gateways to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, rdb, err := c.open(cmd.Flags(), true)
			if err != nil {
				return err
			}
			defer rdb.Close()
			f, err := cache.OpenSnapshot(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			total, err := f.Lines()
			if err != nil {
				return err
			}
			opt := cache.LoadOptions{Strict: strict}
			var bar *progressbar.ProgressBar
			if !quiet {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
					progressbar.OptionSetDescription("loading"), progressbar.OptionShowCount(),
					progressbar.OptionShowIts(), progressbar.OptionSetItsString("lines"),
					progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
				opt.Progress = func(n int64) { _ = bar.Set64(n) }
			}
			sum, err := r.Load(cmd.Context(), f, opt)
			if bar != nil {
				_ = bar.Finish()
			}
			if sum != nil {
				printBad(cmd.OutOrStdout(), sum.Bad)
			}
			if err != nil {
				return err
			}
			st, _ := r.Status(cmd.Context())
			rate := float64(sum.Lines) / sum.Elapsed.Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "version %s is current (replaced %s): %d persons, %d superseded by deltas or duplicates, %d bad lines skipped\n",
				sum.Version, orNone(sum.Previous), sum.Persons, sum.Superseded, len(sum.Bad))
			fmt.Fprintf(cmd.OutOrStdout(), "%d lines in %s (%.0f lines/s); Redis used_memory %s\n",
				sum.Lines, sum.Elapsed.Round(time.Millisecond), rate, bytesIEC(st.MemoryBytes))
			return nil
		},
	}
	c.flags(cmd.Flags())
	cmd.Flags().BoolVar(&strict, "strict", false, "abort at the first bad line (the current version keeps serving)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

func snapshotDeltaCmd() *cobra.Command {
	var c redisConfig
	var strict bool
	cmd := &cobra.Command{
		Use:   "delta FILE",
		Short: "Apply changes (lines with op upsert or remove) on top of the current version, at once",
		Long: "Each line is a snapshot line, applied as it is read: \"op\": \"upsert\" (the default) adds or\n" +
			"replaces the person; \"op\": \"remove\" with an id_number removes one. Gateways drop their\n" +
			"cached copy when the change is announced.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, rdb, err := c.open(cmd.Flags(), true)
			if err != nil {
				return err
			}
			defer rdb.Close()
			f, err := cache.OpenSnapshot(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			applied := 0
			var stop error
			bad, err := f.Each(func(n int, l *cache.Line) error {
				if stop != nil {
					return nil
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
				defer cancel()
				if err := r.ApplyDelta(ctx, l, time.Now()); err != nil {
					if strict || !errors.Is(err, cache.ErrInvalidLine) {
						stop = fmt.Errorf("line %d: %w", n, err)
					}
					return err
				}
				applied++
				return nil
			})
			printBad(cmd.OutOrStdout(), bad)
			fmt.Fprintf(cmd.OutOrStdout(), "%d changes applied, %d bad lines skipped\n", applied, len(bad)-btoi(stop != nil))
			if err != nil {
				return err
			}
			return stop
		},
	}
	c.flags(cmd.Flags())
	cmd.Flags().BoolVar(&strict, "strict", false, "stop at the first bad line (the lines before it stay applied)")
	return cmd
}

func snapshotStatusCmd() *cobra.Command {
	var c redisConfig
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the current version, its size and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, rdb, err := c.open(cmd.Flags(), false)
			if err != nil {
				return err
			}
			defer rdb.Close()
			st, err := r.Status(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if st.Current == "" {
				fmt.Fprintln(w, "no snapshot is loaded: gateways refuse every person as ELIGIBILITY_UNAVAILABLE")
			} else {
				fmt.Fprintf(w, "current version  %s\npersons          %d (as loaded; deltas since not counted)\nbuckets          %d\nsource           %s\nloaded           %s (%s ago)\n",
					st.Current, st.Persons, st.Buckets, st.Source, st.LoadedAt.Local().Format(time.DateTime), time.Since(st.LoadedAt).Round(time.Second))
			}
			if st.Loading != "" {
				fmt.Fprintf(w, "loading now      version %s\n", st.Loading)
			}
			fmt.Fprintf(w, "redis memory     %s (the whole server; in a Redis Cluster, the node holding the snapshot)\n", bytesIEC(st.MemoryBytes))
			return nil
		},
	}
	c.flags(cmd.Flags())
	return cmd
}

func printBad(w io.Writer, bad []cache.LineError) {
	const show = 20
	for i, b := range bad {
		if i == show {
			fmt.Fprintf(w, "... and %d more bad lines\n", len(bad)-show)
			break
		}
		fmt.Fprintln(w, "bad", b.Error())
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
