// Command stallprobe tells whether this machine can be measured: it spins on one goroutine
// for a while and reports every gap of more than 5 ms between two readings of the clock.
// On a quiet machine there are none; on a shared VM the gaps are time the whole process was
// not running, and they land in every latency percentile a load test reports.
//
//	go run ./loadtest/stallprobe -for 10s
package main

import (
	"flag"
	"fmt"
	"slices"
	"time"
)

func main() {
	span := flag.Duration("for", 10*time.Second, "how long to spin")
	flag.Parse()
	var gaps []time.Duration
	var stalled time.Duration
	last := time.Now()
	end := last.Add(*span)
	for last.Before(end) {
		now := time.Now()
		if d := now.Sub(last); d > 5*time.Millisecond {
			gaps = append(gaps, d)
			stalled += d
		}
		last = now
	}
	slices.Sort(gaps)
	fmt.Printf("%d stalls over 5ms in %v, %v in all (%.1f%%)", len(gaps), *span, stalled.Round(time.Millisecond), 100*stalled.Seconds()/span.Seconds())
	if len(gaps) > 0 {
		fmt.Printf("; median %v, longest %v", gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
	}
	fmt.Println()
}
