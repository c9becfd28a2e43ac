package loadgen

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	onestopv1 "onestop/api/onestop/v1"
)

// slowServer answers Settle after delay; every fifth call is refused with a reason.
type slowServer struct {
	onestopv1.UnimplementedSettlementServiceServer
	delay time.Duration
	calls atomic.Int64
}

func (s *slowServer) Settle(ctx context.Context, req *onestopv1.SettleRequest) (*onestopv1.SettleResponse, error) {
	n := s.calls.Add(1)
	time.Sleep(s.delay)
	if n%5 == 0 {
		st, _ := status.New(codes.NotFound, "no such person").WithDetails(&errdetails.ErrorInfo{Reason: "PERSON_NOT_FOUND", Domain: "onestop"})
		return nil, st.Err()
	}
	return &onestopv1.SettleResponse{RequestId: req.RequestId}, nil
}

func serve(t *testing.T, s *slowServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	onestopv1.RegisterSettlementServiceServer(srv, s)
	go srv.Serve(lis) //nolint:errcheck
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

var oneBill = []Bill{{Token: "t", InstitutionID: "H1", Credential: Credential{Type: "ID_CARD", Value: "x"}, MedType: "OUTPATIENT"}}

// TestRunSendsOnScheduleAndCountsReasons: the number of calls follows the rate and the
// duration, refusals are counted by their reason, and latency includes the server's time.
func TestRunSendsOnScheduleAndCountsReasons(t *testing.T) {
	s := &slowServer{delay: 10 * time.Millisecond}
	res, err := Run(context.Background(), "t", serve(t, s), oneBill, Options{Rate: 200, Duration: time.Second, Warmup: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 200 || s.calls.Load() != 240 {
		t.Errorf("sent %d measured, %d in all; want 200 and 240", res.Sent, s.calls.Load())
	}
	if got := res.Errors["PERSON_NOT_FOUND"]; got < 35 || got > 45 || res.OK+got != res.Sent {
		t.Errorf("errors %v, ok %d", res.Errors, res.OK)
	}
	if res.Quantile(50) < 10*time.Millisecond {
		t.Errorf("p50 %v is less than the server's own 10 ms", res.Quantile(50))
	}
}

// TestLatencyCountsTheQueue: with one call in flight at a time, a 40 ms server and 100
// calls a second, calls leave late; measured from their intended time, the queue shows —
// a closed-loop generator would report 40 ms for every call.
func TestLatencyCountsTheQueue(t *testing.T) {
	s := &slowServer{delay: 40 * time.Millisecond}
	res, err := Run(context.Background(), "t", serve(t, s), oneBill, Options{Rate: 100, Duration: time.Second, MaxInFlight: 1, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p99 := res.Quantile(99); p99 < 500*time.Millisecond {
		t.Errorf("p99 %v: the generator hid its own queue", p99)
	}
}

// TestSaturateKeepsWorkersBusy: a closed model with 4 callers and a 20 ms server answers
// about 4 / 20 ms = 200 calls a second, and its latency is the server's own time.
func TestSaturateKeepsWorkersBusy(t *testing.T) {
	s := &slowServer{delay: 20 * time.Millisecond}
	res, err := Saturate(context.Background(), "t", serve(t, s), oneBill, 4, Options{Duration: time.Second, Warmup: 100 * time.Millisecond, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Refusals (every fifth) are not throughput; the calls sent are.
	if sent := float64(res.Sent) / res.Elapsed.Seconds(); sent < 100 || sent > 210 {
		t.Errorf("%.0f calls/s sent by 4 callers of a 20 ms server; want about 200", sent)
	}
	if p50 := res.Quantile(50); p50 < 20*time.Millisecond || p50 > 200*time.Millisecond {
		t.Errorf("p50 %v; want the server's 20 ms and a little", p50)
	}
	if res.OK+res.Errors["PERSON_NOT_FOUND"] != res.Sent {
		t.Errorf("ok %d + refused %v != sent %d", res.OK, res.Errors, res.Sent)
	}
}
