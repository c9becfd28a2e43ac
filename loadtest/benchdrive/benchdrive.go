// Package benchdrive runs a benchmark's calls from a number of concurrent callers and
// reports throughput and latency quantiles as benchmark metrics, so every benchmark of
// loadtest (the gateway's, the floor's, eligibility's) measures the same way.
package benchdrive

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Drive sends b.N calls from c callers and reports calls/s, p50-ms and p99-ms. A failed call
// fails the benchmark: a figure that includes errors is not a figure.
func Drive(b *testing.B, c int, call func() error) {
	b.Helper()
	lat := make([]time.Duration, b.N)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := call(); err != nil {
					failed.Add(1)
					b.Error(err)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e6, "p99-ms")
	if failed.Load() > 0 {
		b.Fatalf("%d calls failed", failed.Load())
	}
}
