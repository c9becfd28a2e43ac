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
	if opt.Rate <= 0 || opt.Duration <= 0 {
		return nil, errors.New("a rate and a duration are required")
	}
	if opt.MaxInFlight <= 0 {
		opt.MaxInFlight = 4096
	}
	c, err := newCaller(target, addr, bills, &opt)
	if err != nil {
		return nil, err
	}
	defer c.close()
	interval := time.Duration(float64(time.Second) / opt.Rate)
	total := int64((opt.Warmup + opt.Duration) / interval)
	warm := int64(opt.Warmup / interval)
	sem := make(chan struct{}, opt.MaxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	var measuredStart time.Time
	for i := range total {
		intended := start.Add(time.Duration(i) * interval)
		if d := time.Until(intended); d > 0 {
			select {
			case <-ctx.Done():
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
			c.call(ctx, intended, i >= warm)
		}()
	}
	wg.Wait()
	if measuredStart.IsZero() {
		return nil, errors.New("the run ended before its measured part began")
	}
	c.res.Elapsed = time.Since(measuredStart)
	return c.res, ctx.Err()
}

// Saturate is the closed model, for throughput at saturation: workers callers each send
// their next call as soon as the last is answered, for opt.Warmup + opt.Duration. Latency is
// from each call's send (there is no schedule to fall behind), so read the throughput here
// and latencies from Run.
func Saturate(ctx context.Context, target, addr string, bills []Bill, workers int, opt Options) (*Result, error) {
	if workers <= 0 || opt.Duration <= 0 {
		return nil, errors.New("workers and a duration are required")
	}
	c, err := newCaller(target, addr, bills, &opt)
	if err != nil {
		return nil, err
	}
	defer c.close()
	start := time.Now()
	measuredStart, end := start.Add(opt.Warmup), start.Add(opt.Warmup+opt.Duration)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				// A call counts when it is sent inside the measured part.
				c.call(ctx, now, !now.Before(measuredStart))
			}
		})
	}
	wg.Wait()
	c.res.Elapsed = time.Since(measuredStart)
	return c.res, ctx.Err()
}

// caller holds what every call of one run shares: connections, requests, the result.
type caller struct {
	opt     *Options
	bills   []Bill
	reqs    []*onestopv1.SettleRequest
	conns   []*grpc.ClientConn
	clients []onestopv1.SettlementServiceClient
	seq     atomic.Int64
	mu      sync.Mutex
	res     *Result
}

func newCaller(target, addr string, bills []Bill, opt *Options) (*caller, error) {
	if len(bills) == 0 {
		return nil, errors.New("no bills to send")
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
	c := &caller{opt: opt, bills: bills, res: newResult(target)}
	for range opt.Conns {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			c.close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
		c.clients = append(c.clients, onestopv1.NewSettlementServiceClient(conn))
	}
	c.reqs = make([]*onestopv1.SettleRequest, len(bills))
	for i, b := range bills {
		c.reqs[i] = b.Request()
	}
	return c, nil
}

func (c *caller) close() {
	for _, conn := range c.conns {
		conn.Close()
	}
}

// call sends the next bill and, when measured, records it with its latency from intended.
func (c *caller) call(ctx context.Context, intended time.Time, measured bool) {
	n := c.seq.Add(1)
	req := proto.Clone(c.reqs[int(n)%len(c.reqs)]).(*onestopv1.SettleRequest)
	req.RequestId = c.opt.RunID + "-" + strconv.FormatInt(n, 36)
	// The bills go round, within a run and across runs (--compare's rounds, runs minutes
	// apart): each is the same bill again under a new request id, which the gateway would
	// hold as a possible duplicate. Confirmed as a cashier would; the check itself still runs.
	req.ConfirmDuplicate = true
	b := c.bills[int(n)%len(c.bills)]
	cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.Token), c.opt.Timeout)
	defer cancel()
	client := c.clients[int(n)%len(c.clients)]
	var resp *onestopv1.SettleResponse
	var err error
	if c.opt.Method == "presettle" {
		req.RequestId = ""
		resp, err = client.PreSettle(cctx, req)
	} else {
		resp, err = client.Settle(cctx, req)
	}
	lat := time.Since(intended)
	if !measured {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Sent++
	if err != nil {
		c.res.Errors[reason(err)]++
		return
	}
	c.res.OK++
	if resp.Replayed {
		c.res.Replayed++
	}
	_ = c.res.Latency.RecordValue(max(1, lat.Microseconds()))
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
