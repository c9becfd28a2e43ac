package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report prints the closing table: one row per result, and when there are two, the ratio
// of the first to the second (gateway / floor).
func Report(w io.Writer, results ...*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tsent\tok\terrors\tok/s\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, r.Sent, r.OK, r.Sent-r.OK, r.Throughput(),
			ms(r.Quantile(50)), ms(r.Quantile(90)), ms(r.Quantile(99)), ms(r.Quantile(99.9)), ms(time.Duration(r.Latency.Max())*time.Microsecond))
	}
	if len(results) == 2 && results[1].OK > 0 {
		a, b := results[0], results[1]
		ratio := func(x, y time.Duration) string { return fmt.Sprintf("%.2f×", float64(x)/float64(max(y, 1))) }
		fmt.Fprintf(tw, "%s/%s\t\t\t\t%.2f×\t%s\t%s\t%s\t%s\t\t\n", a.Target, b.Target, a.Throughput()/b.Throughput(),
			ratio(a.Quantile(50), b.Quantile(50)), ratio(a.Quantile(90), b.Quantile(90)), ratio(a.Quantile(99), b.Quantile(99)),
			ratio(a.Quantile(99.9), b.Quantile(99.9)))
	}
	tw.Flush()
	for _, r := range results {
		if len(r.Errors) == 0 && r.Replayed == 0 {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.Errors {
				if !yield(k) {
					return
				}
			}
		}) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
		}
		if r.Replayed > 0 {
			parts = append(parts, fmt.Sprintf("unexpectedly replayed %d", r.Replayed))
		}
		fmt.Fprintf(w, "%s errors: %s\n", r.Target, strings.Join(parts, ", "))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
