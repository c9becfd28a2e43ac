package floor

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/cache/cachetest"
	"onestop/gateway/ledger/ledgertest"
	"onestop/loadtest/benchdrive"
)

// rig is a floor on a schema and a Redis prefix of the test's own, served over loopback
// TCP as the gateway bench serves the gateway.
type rig struct {
	client onestopv1.SettlementServiceClient
	pool   *pgxpool.Pool // the floor's schema, for counting what it wrote
	rdb    *redis.Client
	prefix string
	seq    atomic.Int64
}

func newRig(tb testing.TB, maxConns int32) *rig {
	tb.Helper()
	pool := ledgertest.Pool(tb, 4)
	rdb, prefix := cachetest.Redis(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := New(ctx, Config{PostgresURL: ledgertest.SchemaURL(tb, pool.Config().ConnConfig.RuntimeParams["search_path"]), RedisURL: cachetest.URL(tb), RedisPrefix: prefix, MaxConns: maxConns})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	srv := grpc.NewServer()
	f.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(lis) //nolint:errcheck
	tb.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &rig{client: onestopv1.NewSettlementServiceClient(conn), pool: pool, rdb: rdb, prefix: prefix}
}

// bill is the gateway bench's request: 4 lines, a fresh request id, persons in turn.
func (r *rig) bill() *onestopv1.SettleRequest {
	n := r.seq.Add(1)
	return &onestopv1.SettleRequest{
		RequestId: fmt.Sprintf("f%d-%d", time.Now().UnixNano(), n), InstitutionId: "H1",
		Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: fmt.Sprintf("3204001990%08d", n%DefaultPersons)},
		MedType:    onestopv1.MedType_OUTPATIENT, SettleDate: "2022-06-15", ReferralNo: "R1",
		Lines: []*onestopv1.BillLine{
			{Code: "SVC-1", Quantity: "1", UnitPrice: "25.00", Amount: "25.00"},
			{Code: "DRUG-1", Quantity: "2", UnitPrice: "38.50", Amount: "77.00"},
			{Code: "MAT-1", Quantity: "1", UnitPrice: "19.90", Amount: "19.90"},
			{Code: "MAT-2", Quantity: "3", UnitPrice: "15.00", Amount: "45.00"},
		},
	}
}

// rows counts what is stored for one settlement, table by table.
func (r *rig) rows(t *testing.T, settlementID string) (settlements, payments, deltas, outbox int) {
	t.Helper()
	err := r.pool.QueryRow(context.Background(), `select
		(select count(*) from settlements where id = $1),
		(select count(*) from fund_payments where settlement_id = $1),
		(select count(*) from settlement_deltas where settlement_id = $1),
		(select count(*) from outbox where settlement_id = $1)`, settlementID).Scan(&settlements, &payments, &deltas, &outbox)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func (r *rig) total(t *testing.T) int {
	t.Helper()
	var n int
	err := r.pool.QueryRow(context.Background(), `select (select count(*) from settlements) + (select count(*) from fund_payments)
		+ (select count(*) from settlement_deltas) + (select count(*) from accumulators) + (select count(*) from outbox)`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSettleWritesOneSettlement(t *testing.T) {
	r := newRig(t, 8)
	ctx := context.Background()
	const calls = 8
	resps := make([]*onestopv1.SettleResponse, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { resps[i], errs[i] = r.client.Settle(ctx, r.bill()) })
	}
	wg.Wait()
	for i, resp := range resps {
		if errs[i] != nil {
			t.Fatalf("Settle %d: %v", i, errs[i])
		}
		if resp.GetSettlementId() == "" || resp.GetState() != onestopv1.SettlementState_SETTLED || len(resp.GetFundPayments()) != 2 {
			t.Errorf("Settle %d answered %v", i, resp)
		}
		s, p, d, o := r.rows(t, resp.GetSettlementId())
		// The bench bill as the gateway stores it: 2 fund payments (basic, aid), 3 deltas (their
		// pools and the out-of-pocket total), one outbox row for each of the 2 agencies.
		if s != 1 || p != 2 || d != 3 || o != 2 {
			t.Errorf("settlement %s: %d settlements, %d fund_payments, %d deltas, %d outbox rows; want 1, 2, 3, 2",
				resp.GetSettlementId(), s, p, d, o)
		}
	}

	// A floor lighter than the gateway's settlement would flatter the gateway: the sizes are
	// held near the bench bill's as the gateway stores it (as jsonb text: a ~1.9 KB receipt,
	// ~640-byte payloads).
	var receipt, payload int
	err := r.pool.QueryRow(ctx, `select (select max(length(receipt::text)) from settlements),
		(select min(length(payload::text)) from outbox)`).Scan(&receipt, &payload)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("receipt %d bytes, smallest outbox payload %d bytes (jsonb text)", receipt, payload)
	if receipt < 1500 || payload < 550 {
		t.Errorf("receipt %d bytes, outbox payload %d bytes: smaller than the gateway's", receipt, payload)
	}

	// The unique (institution_id, request_id) constraint still holds: a repeat is refused,
	// not replayed, and leaves nothing behind.
	again := r.bill()
	again.RequestId = resps[0].GetRequestId()
	before := r.total(t)
	if _, err := r.client.Settle(ctx, again); status.Code(err) != codes.AlreadyExists {
		t.Errorf("Settle with a used request_id: %v, want AlreadyExists", err)
	}
	if after := r.total(t); after != before {
		t.Errorf("a refused Settle changed the row count from %d to %d", before, after)
	}
}

func TestPreSettleOnlyReads(t *testing.T) {
	r := newRig(t, 4)
	ctx := context.Background()
	before := r.total(t)
	resp, err := r.client.PreSettle(ctx, r.bill())
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSettlementId() != "" || resp.GetState() != onestopv1.SettlementState_PRESETTLED || resp.GetCash() == "" {
		t.Errorf("PreSettle answered %v", resp)
	}
	if after := r.total(t); after != before {
		t.Errorf("PreSettle changed the row count from %d to %d", before, after)
	}

	// It does read Redis: with the person's value gone, the person is not found.
	cachetest.DeletePrefix(r.rdb, r.prefix)
	if _, err := r.client.PreSettle(ctx, r.bill()); status.Code(err) != codes.NotFound {
		t.Errorf("PreSettle without the person in Redis: %v, want NotFound", err)
	}
	if _, err := r.client.Settle(ctx, r.bill()); status.Code(err) != codes.NotFound {
		t.Errorf("Settle without the person in Redis: %v, want NotFound", err)
	}
	if _, err := r.client.CancelSettlement(ctx, &onestopv1.CancelSettlementRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("CancelSettlement: %v, want Unimplemented", err)
	}
}

// BenchmarkFloor: Settle throughput and latency at concurrency 1, 16 and 64, to read
// loadtest.BenchmarkSettle against. Same pool size as the gateway bench (32).
// go test ./loadtest/floor -run '^$' -bench . -benchtime 5000x -count 3
func BenchmarkFloor(b *testing.B) {
	r := newRig(b, 32)
	ctx := context.Background()
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchdrive.Drive(b, c, func() error {
				_, err := r.client.Settle(ctx, r.bill())
				return err
			})
		})
	}
}

// BenchmarkFloorPreSettle: the gRPC round trip and the Redis GET alone, so the commit's
// share of BenchmarkFloor can be told from theirs.
func BenchmarkFloorPreSettle(b *testing.B) {
	r := newRig(b, 32)
	ctx := context.Background()
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchdrive.Drive(b, c, func() error {
				_, err := r.client.PreSettle(ctx, r.bill())
				return err
			})
		})
	}
}
