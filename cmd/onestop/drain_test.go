package main

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
	"onestop/gateway/ledger"
)

// gatedLedger holds every Settle inside the ledger until release is closed, so a test can
// stop the server with a call in flight.
type gatedLedger struct {
	gateway.Ledger
	entered chan struct{}
	release chan struct{}
}

func (g *gatedLedger) Settle(ctx context.Context, key gateway.SettleKey, split func(gateway.Position) (*gateway.Settlement, error)) (*gateway.Settlement, bool, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Ledger.Settle(ctx, key, split)
}

// TestShutdownDrainsInFlightCalls: a settlement under way when SIGTERM arrives is finished
// and answered before the process exits; the health check stops saying SERVING at once, so a
// load balancer sends no new calls.
func TestShutdownDrainsInFlightCalls(t *testing.T) {
	dir := t.TempDir()
	c := &config{DataDir: dir, GRPCAddr: freeAddr(t), HTTPAddr: freeAddr(t), PersonKeySecret: devPersonKeySecret, Timezone: "Asia/Shanghai"}
	if err := c.useDemo(); err != nil {
		t.Fatal(err)
	}
	j, err := ledger.OpenJournal(filepath.Join(dir, "ledger.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	gate := &gatedLedger{Ledger: j, entered: make(chan struct{}, 1), release: make(chan struct{})}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, gate, &out) }()
	waitHealthy(t, c.HTTPAddr, done, &out)

	conn, err := grpc.NewClient(c.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer dev-clinic-token")
	type answer struct {
		resp *onestopv1.SettleResponse
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := onestopv1.NewSettlementServiceClient(conn).Settle(callCtx, &onestopv1.SettleRequest{
			RequestId: "drain-1", InstitutionId: "H320401", SettleDate: "2026-06-15", ReferralNo: "R1",
			Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: "320402198001011234"},
			MedType:    onestopv1.MedType_OUTPATIENT,
			Lines:      []*onestopv1.BillLine{{Code: "SVC-001", Quantity: "1", UnitPrice: "25.00", Amount: "25.00"}},
		})
		answered <- answer{resp, err}
	}()
	<-gate.entered
	stop() // as SIGTERM does

	// While the call is held, the server must neither exit nor report itself healthy.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + c.HTTPAddr + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			if resp != nil {
				resp.Body.Close()
			}
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("/healthz still answers ok after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("run returned (%v) with a settlement in flight", err)
	case a := <-answered:
		t.Fatalf("the held call was answered before release: %v", a.err)
	default:
	}

	close(gate.release)
	a := <-answered
	if a.err != nil || a.resp.GetState() != onestopv1.SettlementState_SETTLED {
		t.Fatalf("in-flight settle: %v, %v", a.resp, a.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after the drain")
	}
	if _, err := j.Find(context.Background(), "H320401", "drain-1"); err != nil {
		t.Errorf("the drained settlement is not in the ledger: %v", err)
	}
}
