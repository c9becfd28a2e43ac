package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
	"onestop/cache"
	"onestop/gateway"
	"onestop/gateway/identity"
	"onestop/gateway/ledger"
	"onestop/gateway/policy"
	"onestop/gateway/refdata"
)

// gatewayOn serves dir's data over loopback gRPC the way onestop dev does: the in-process
// snapshot, the journal ledger, the files Generate wrote.
func gatewayOn(t *testing.T, dir string) onestopv1.SettlementServiceClient {
	t.Helper()
	elig, err := cache.LoadSnapshotFile(filepath.Join(dir, "snapshot.jsonl"), cache.NewKeyer("loadgen-test"))
	if err != nil {
		t.Fatal(err)
	}
	insts, err := refdata.LoadInstitutions(filepath.Join(dir, "institutions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := refdata.LoadCatalog(filepath.Join(dir, "catalog.csv"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.LoadDir(filepath.Join(dir, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := ledger.OpenJournal(filepath.Join(t.TempDir(), "ledger.journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	svc := &gateway.Service{
		Directory: insts, Identity: identity.Resolver{}, Eligibility: elig, Catalog: cat, Location: time.Local,
		Policies: func() *policy.Set { return set }, Ledger: j,
	}
	srv, _ := api.NewServer(svc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis) //nolint:errcheck
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return onestopv1.NewSettlementServiceClient(conn)
}

// asK6Sends builds the request from the bill's JSON as the k6 scripts do — drop kind and
// token, add request_id — and parses it strictly, so a field name that is not the proto's
// fails here rather than as a silently empty field under load.
func asK6Sends(t *testing.T, b Bill, requestID string) *onestopv1.SettleRequest {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "kind")
	delete(m, "token")
	m["request_id"] = requestID
	data, _ = json.Marshal(m)
	req := &onestopv1.SettleRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		t.Fatalf("the bill's JSON is not a SettleRequest: %v\n%s", err, data)
	}
	return req
}

// TestEveryBillSettles: load data is only useful if all of it settles, so every generated
// bill is sent once, through gRPC with its terminal's token, and must succeed; one is then
// retried with its request id and must come back replayed, as cashier-peak.js checks.
func TestEveryBillSettles(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, 200, 300, 7); err != nil {
		t.Fatal(err)
	}
	bills, err := LoadBills(filepath.Join(dir, "bills.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(bills) != 300 {
		t.Fatalf("%d bills, want 300", len(bills))
	}
	client := gatewayOn(t, dir)
	kinds := map[string]int{}
	for i, b := range bills {
		kinds[b.Kind]++
		req := asK6Sends(t, b, fmt.Sprintf("test-%d", i))
		want := b.Request()
		want.RequestId = req.RequestId
		if !proto.Equal(req, want) {
			t.Fatalf("bill %d: Request() and the JSON disagree:\n%v\n%v", i, want, req)
		}
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+b.Token)
		resp, err := client.Settle(ctx, req)
		if err != nil {
			t.Errorf("bill %d (%s at %s): %v", i, b.Kind, b.InstitutionID, err)
			continue
		}
		total := decimal.Zero
		for _, l := range b.Lines {
			total = total.Add(decimal.RequireFromString(l.Amount))
		}
		if resp.State != onestopv1.SettlementState_SETTLED || resp.Total != total.StringFixed(2) || resp.Replayed {
			t.Errorf("bill %d: state %v, total %s (want %s), replayed %v", i, resp.State, resp.Total, total.StringFixed(2), resp.Replayed)
		}
		if i == 0 {
			again, err := client.Settle(ctx, req)
			if err != nil || !again.Replayed || again.SettlementId != resp.SettlementId {
				t.Errorf("the retry of bill 0: %v, %v", again, err)
			}
		}
	}
	t.Logf("kinds: %v", kinds)
	// The mix is drawn, so only roughly: 70/10/20 out of 300.
	for kind, lo := range map[string]int{KindOutpatient: 180, KindChronic: 15, KindInpatient: 35} {
		if kinds[kind] < lo {
			t.Errorf("%d %s bills, want at least %d", kinds[kind], kind, lo)
		}
	}
}

func TestBillShape(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, 500, 2000, 3); err != nil {
		t.Fatal(err)
	}
	bills, err := LoadBills(filepath.Join(dir, "bills.json"))
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().Format(time.DateOnly)
	for i, b := range bills {
		n := len(b.Lines)
		switch b.Kind {
		case KindOutpatient:
			if n < 1 || n > 5 || b.MedType != "OUTPATIENT" || b.AdmissionDate != "" {
				t.Errorf("bill %d: outpatient with %d lines, %s, admission %q", i, n, b.MedType, b.AdmissionDate)
			}
		case KindChronic:
			if b.MedType != "CHRONIC" {
				t.Errorf("bill %d: chronic as %s", i, b.MedType)
			}
		case KindInpatient:
			if n < 10 || n > 25 || b.MedType != "INPATIENT" || b.InstitutionID == "LC1" || b.AdmissionDate == "" || b.AdmissionDate > today {
				t.Errorf("bill %d: inpatient with %d lines at %s, admitted %q", i, n, b.InstitutionID, b.AdmissionDate)
			}
		default:
			t.Errorf("bill %d: kind %q", i, b.Kind)
		}
		if !strings.HasPrefix(b.Token, "load-"+b.InstitutionID+"-") {
			t.Errorf("bill %d: token %q is not a terminal of %s", i, b.Token, b.InstitutionID)
		}
	}
}

// TestGenerateIsDeterministic: a seed names a data set, so two runs compare like with like.
func TestGenerateIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for _, dir := range []string{a, b} {
		if err := generate(dir, 300, 100, 42, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"snapshot.jsonl", "bills.json", "institutions.yaml", "catalog.csv", "policies/changzhou-resident-2026.yaml"} {
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with one seed", name)
		}
	}
}

// TestPoliciesFollowTheYear: in another year the copies are moved to it, so the data
// still settles rather than failing NO_POLICY on every bill.
func TestPoliciesFollowTheYear(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir, 10, 10, 1, time.Date(2031, 1, 3, 9, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	set, err := policy.LoadDir(filepath.Join(dir, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Select(Region, policy.Date{Year: 2031, Month: 1, Day: 3}); err != nil {
		t.Error(err)
	}
	bills, err := LoadBills(filepath.Join(dir, "bills.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bills {
		if b.AdmissionDate != "" && !strings.HasPrefix(b.AdmissionDate, "2031-") {
			t.Errorf("admission %s: a stay across New Year", b.AdmissionDate)
		}
	}
}

func TestLoadBillsRefusesUnknownEnums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bills.json")
	os.WriteFile(path, []byte(`[{"kind":"outpatient","token":"t","institution_id":"LC1","credential":{"type":"ID","value":"x"},"med_type":"OUTPATIENT","lines":[{"code":"A"}]}]`), 0o600)
	if _, err := LoadBills(path); err == nil || !strings.Contains(err.Error(), `"ID"`) {
		t.Errorf("got %v, want the credential type named", err)
	}
}
