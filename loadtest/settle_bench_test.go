package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
	"onestop/cache"
	"onestop/gateway"
	"onestop/gateway/identity"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
	"onestop/gateway/refdata"
	"onestop/loadtest/benchdrive"
)

const persons = 2000

// rig is a gateway on Postgres serving on a loopback port, with persons dibao recipients
// of the Changzhou-like demo policy and one level-1 clinic.
type rig struct {
	client onestopv1.SettlementServiceClient
	ctx    context.Context
	seq    atomic.Int64
	ledger *ledger.Postgres
}

func newRig(b testing.TB) *rig {
	b.Helper()
	dir := b.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
		return path
	}
	var snap strings.Builder
	asOf := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range persons {
		l := cache.Line{IDNumber: id(i), Name: "患者", Scheme: "resident", Status: "adult", InsuredRegion: "320400", County: "C1",
			Categories: []cache.LineCategory{{Code: "dibao", From: policy.Date{Year: 2022, Month: 1, Day: 1}}}, AsOf: &asOf}
		line, _ := json.Marshal(l)
		snap.Write(append(line, '\n'))
	}
	elig, err := cache.LoadSnapshotFile(write("snapshot.jsonl", snap.String()), cache.NewKeyer("bench"))
	if err != nil {
		b.Fatal(err)
	}
	dirx, err := refdata.LoadInstitutions(write("institutions.yaml",
		"institutions:\n  - {id: H1, name: clinic, region: \"320400\", county: C1, level: 1, aid_designated: true, terminals: [{id: T1, token: bench}]}\n"))
	if err != nil {
		b.Fatal(err)
	}
	cat, err := refdata.LoadCatalog(write("catalog.csv", "region,code,name,class,ceiling_unit_price\n"+
		"320400,SVC-1,consultation,A,\n320400,DRUG-1,cefixime,B,\n320400,MAT-1,nutrition,C,\n320400,MAT-2,infusion set,B,12.50\n"))
	if err != nil {
		b.Fatal(err)
	}
	set, err := policy.LoadDir("../testdata/policy/policies")
	if err != nil {
		b.Fatal(err)
	}
	l := ledger.NewPostgres(ledgertest.Pool(b, poolSize()))
	svc := &gateway.Service{
		Directory: dirx, Identity: identity.Resolver{}, Eligibility: elig, Catalog: cat, Location: time.UTC,
		Policies: func() *policy.Set { return set },
		Ledger:   l,
		Now:      func() time.Time { return time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC) },
	}
	srv, _ := api.NewServer(svc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(lis) //nolint:errcheck
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &rig{
		client: onestopv1.NewSettlementServiceClient(conn),
		ctx:    metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer bench"),
		ledger: l,
	}
}

func id(i int) string {
	return identity.WithCheckDigit(fmt.Sprintf("32040019900%d01%03d", 1+i/1000, i%1000))
}

// bill is a 4-line outpatient bill of person i%persons with a fresh request id.
func (r *rig) bill() *onestopv1.SettleRequest {
	n := r.seq.Add(1)
	return &onestopv1.SettleRequest{
		RequestId: fmt.Sprintf("b%d-%d", time.Now().UnixNano(), n), InstitutionId: "H1",
		Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: id(int(n) % persons)},
		MedType:    onestopv1.MedType_OUTPATIENT, SettleDate: "2022-06-15", ReferralNo: "R1",
		Lines: []*onestopv1.BillLine{
			{Code: "SVC-1", Quantity: "1", UnitPrice: "25.00", Amount: "25.00"},
			{Code: "DRUG-1", Quantity: "2", UnitPrice: "38.50", Amount: "77.00"},
			{Code: "MAT-1", Quantity: "1", UnitPrice: "19.90", Amount: "19.90"},
			{Code: "MAT-2", Quantity: "3", UnitPrice: "15.00", Amount: "45.00"},
		},
	}
}

// BenchmarkSettle: Settle throughput and latency at concurrency 1, 16 and 64.
// go test ./loadtest -run '^$' -bench . -benchtime 3000x -count 3
func BenchmarkSettle(b *testing.B) {
	r := newRig(b)
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchdrive.Drive(b, c, func() error {
				_, err := r.client.Settle(r.ctx, r.bill())
				return err
			})
		})
	}
}

func BenchmarkPreSettle(b *testing.B) {
	r := newRig(b)
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchdrive.Drive(b, c, func() error {
				req := r.bill()
				req.RequestId = ""
				_, err := r.client.PreSettle(r.ctx, req)
				return err
			})
		})
	}
}

func poolSize() int32 {
	n, err := strconv.Atoi(os.Getenv("ONESTOP_BENCH_POOL"))
	if err != nil {
		return 32
	}
	return int32(n)
}
