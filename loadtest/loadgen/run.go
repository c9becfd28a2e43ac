package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	onestopv1 "onestop/api/onestop/v1"
)

// Options is one load: an open model, so the generator sends at the intended times whatever
// the server does, and a slow answer cannot slow the load down and hide itself.
type Options struct {
	Method   string        // "settle" (default) or "presettle"
	Rate     float64       // calls a second
	Duration time.Duration // measured part
	Warmup   time.Duration // sent but not measured, before Duration
	// MaxInFlight bounds the calls outstanding at once (default 4,096): past it the
	// scheduler waits, and the wait counts in the latency of the calls it delays.
	MaxInFlight int
	Conns       int    // gRPC connections to spread calls over (default 4)
	RunID       string // prefix of request ids; default: the start time
	Timeout     time.Duration
}

// Result is what one target did under one load.
type Result struct {
	Target   string
	Sent     int64 // measured calls sent
	OK       int64
	Errors   map[string]int64 // by reason (ErrorInfo) or gRPC code
	Elapsed  time.Duration    // of the measured part
	Latency  *hdrhistogram.Histogram
	Replayed int64 // answers marked replayed (should be 0: every request id is fresh)
}

// Throughput is successful calls a second over the measured part.
func (r *Result) Throughput() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// Quantile is a latency quantile (0–100).
func (r *Result) Quantile(q float64) time.Duration {
	return time.Duration(r.Latency.ValueAtQuantile(q)) * time.Microsecond
}

// Merge adds another run's figures (the same target, alternating runs).
func (r *Result) Merge(o *Result) {
	r.Sent += o.Sent
	r.OK += o.OK
	r.Replayed += o.Replayed
	r.Elapsed += o.Elapsed
	for k, v := range o.Errors {
		r.Errors[k] += v
	}
	r.Latency.Merge(o.Latency)
}

func newResult(target string) *Result {
	return &Result{Target: target, Errors: map[string]int64{}, Latency: hdrhistogram.New(1, 60_000_000, 3)}
}

// Run sends bills to addr (plaintext gRPC) at opt.Rate for opt.Warmup + opt.Duration.
func Run(ctx context.Context, target, addr string, bills []Bill, opt Options) (*Result, error) {
	if len(bills) == 0 {
		return nil, errors.New("no bills to send")
	}
	if opt.Rate <= 0 || opt.Duration <= 0 {
		return nil, errors.New("a rate and a duration are required")
	}
	if opt.MaxInFlight <= 0 {
		opt.MaxInFlight = 4096
	}
	if opt.Conns <= 0 {
		opt.Conns = 4
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.RunID == "" {
		opt.RunID = strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
	clients := make([]onestopv1.SettlementServiceClient, opt.Conns)
	for i := range clients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		clients[i] = onestopv1.NewSettlementServiceClient(conn)
	}
	reqs := make([]*onestopv1.SettleRequest, len(bills))
	for i, b := range bills {
		reqs[i] = b.Request()
	}

	res := newResult(target)
	var mu sync.Mutex
	interval := time.Duration(float64(time.Second) / opt.Rate)
	total := int64((opt.Warmup + opt.Duration) / interval)
	warm := int64(opt.Warmup / interval)
	sem := make(chan struct{}, opt.MaxInFlight)
	var wg sync.WaitGroup
	var seq atomic.Int64
	start := time.Now()
	var measuredStart time.Time
	for i := range total {
		intended := start.Add(time.Duration(i) * interval)
		if d := time.Until(intended); d > 0 {
			select {
			case <-ctx.Done():
				i = total
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		if i == warm {
			measuredStart = intended
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			n := seq.Add(1)
			tmpl := reqs[int(n)%len(reqs)]
			req := proto.Clone(tmpl).(*onestopv1.SettleRequest)
			req.RequestId = opt.RunID + "-" + strconv.FormatInt(n, 36)
			b := bills[int(n)%len(bills)]
			cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.Token), opt.Timeout)
			defer cancel()
			c := clients[int(n)%len(clients)]
			var resp *onestopv1.SettleResponse
			var err error
			if opt.Method == "presettle" {
				req.RequestId = ""
				resp, err = c.PreSettle(cctx, req)
			} else {
				resp, err = c.Settle(cctx, req)
			}
			lat := time.Since(intended)
			if i < warm {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			res.Sent++
			if err != nil {
				res.Errors[reason(err)]++
				return
			}
			res.OK++
			if resp.Replayed {
				res.Replayed++
			}
			_ = res.Latency.RecordValue(max(1, lat.Microseconds()))
		}()
	}
	wg.Wait()
	if measuredStart.IsZero() {
		return nil, errors.New("the run ended before its measured part began")
	}
	res.Elapsed = time.Since(measuredStart)
	return res, ctx.Err()
}

func reason(err error) string {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return st.Code().String()
}

// String names the run for logs.
func (o Options) String() string {
	return fmt.Sprintf("%s at %.0f/s for %v (warm-up %v)", o.Method, o.Rate, o.Duration, o.Warmup)
}
