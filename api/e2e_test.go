package api_test

import (
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
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway"
	"onestop/gateway/identity"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
	"onestop/gateway/refdata"
)

const fixtureRoot = "../testdata/policy"

// world is a gateway built from the fixture cases: each case becomes a person in the
// snapshot, an institution with the case's level and region (terminals: T1 by token
// tok-<institution>, M1 by client certificate), and catalog items with the
// case's classes and ceilings, all written as the files a gateway reads at start-up.
type world struct {
	snapshot string // the persons' snapshot file
	keyer    cache.Keyer
	cases    []*policy.Case
	ledger   gateway.Ledger
	clients  map[string]*client // by case file
	svc      *gateway.Service
}

type client struct {
	settlement  onestopv1.SettlementServiceClient
	eligibility onestopv1.EligibilityServiceClient
	ctx         context.Context // carries the institution's terminal token
	index       int             // the case's place in the fixture root
	inst        string
	idNumber    string
	person      string // person key
	c           *policy.Case
}

func idNumber(i int) string { return identity.WithCheckDigit(fmt.Sprintf("32040019800101%03d", i)) }

// classStub: a catalog file cannot hold class D (LoadCatalog refuses it), so e02's bad class
// reaches the engine through this wrapper.
type classStub struct {
	gateway.Catalog
	code string
}

func (c classStub) Item(region, code string) (gateway.Item, bool) {
	it, ok := c.Catalog.Item(region, code)
	if code == c.code {
		return gateway.Item{Region: region, Code: code, Class: "D"}, true
	}
	return it, ok
}

func newWorld(t *testing.T, l gateway.Ledger) *world {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureRoot, "cases", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	set, err := policy.LoadDir(filepath.Join(fixtureRoot, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var snapshot, catalog strings.Builder
	var institutions strings.Builder
	catalog.WriteString("region,code,name,class,ceiling_unit_price\n")
	institutions.WriteString("institutions:\n")
	w := &world{ledger: l, clients: map[string]*client{}}
	stubCode := ""
	for i, f := range files {
		c, err := policy.LoadCase(f)
		if err != nil {
			t.Fatal(err)
		}
		w.cases = append(w.cases, c)
		p, _ := set.ByID(c.Policy)
		instID := fmt.Sprintf("H%02d", i)
		region := p.Region
		if c.Visit.CrossRegion {
			region = "990000" // treated outside the insured region
		}
		county, personCounty := "C1", "C1"
		if !c.Visit.InCounty {
			county = "C2"
		}
		level := max(c.Visit.Level, 1)
		fmt.Fprintf(&institutions, "  - {id: %s, name: Case %d, region: %q, county: %s, level: %d, aid_designated: true, terminals: [{id: T1, token: tok-%s}, {id: M1, mtls: true}]}\n",
			instID, i, region, county, level, instID)
		line := cache.Line{
			IDNumber: idNumber(i), Name: "病人" + fmt.Sprint(i), Scheme: c.Person.Scheme, Status: c.Person.Status,
			InsuredRegion: p.Region, County: personCounty, Flags: c.Person.Flags, AccountBalance: decimal.Zero,
		}
		for _, cat := range c.Person.Categories {
			line.Categories = append(line.Categories, cache.LineCategory(cat))
		}
		if c.Person.AccountBalance != nil {
			line.AccountBalance = decimal.RequireFromString(string(*c.Person.AccountBalance))
		}
		if c.Visit.MedType == policy.Chronic {
			line.Chronic = []cache.LineChronic{{Disease: "diabetes", Institutions: []string{instID}}}
		}
		if c.Visit.Filed {
			line.Filings = []cache.LineFiling{{Region: region, From: policy.Date{Year: 2000, Month: 1, Day: 1}}}
		}
		asOf := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		line.AsOf = &asOf
		b, _ := json.Marshal(line)
		snapshot.Write(append(b, '\n'))
		for j, l := range c.Lines {
			code := fmt.Sprintf("%s-%d-%d", l.Code, i, j)
			class := l.Class
			if class != policy.ClassA && class != policy.ClassB && class != policy.ClassC {
				stubCode, class = code, policy.ClassA
			}
			ceiling := ""
			if l.Ceiling != nil {
				ceiling = string(*l.Ceiling)
			}
			fmt.Fprintf(&catalog, "%s,%s,item %d,%s,%s\n", region, code, j, class, ceiling)
		}
	}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	directory, err := refdata.LoadInstitutions(write("institutions.yaml", institutions.String()))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := refdata.LoadCatalog(write("catalog.csv", catalog.String()))
	if err != nil {
		t.Fatal(err)
	}
	keyer := cache.NewKeyer("test-secret")
	w.snapshot, w.keyer = write("snapshot.jsonl", snapshot.String()), keyer
	elig, err := cache.LoadSnapshotFile(w.snapshot, keyer)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = &gateway.Service{
		Directory: directory, Identity: identity.Resolver{}, Eligibility: elig, Catalog: classStub{cat, stubCode},
		Policies: func() *policy.Set { return set }, Ledger: l, Location: time.UTC,
		Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	conn := serve(t, w.svc)
	for i, c := range w.cases {
		instID := fmt.Sprintf("H%02d", i)
		w.clients[c.File] = &client{
			settlement:  onestopv1.NewSettlementServiceClient(conn),
			eligibility: onestopv1.NewEligibilityServiceClient(conn),
			ctx:         metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer tok-"+instID),
			inst:        instID, index: i, idNumber: idNumber(i), person: keyer.IDKey(idNumber(i)), c: c,
		}
	}
	return w
}

// serve runs the real gRPC server on an in-memory listener.
func serve(t *testing.T, svc *gateway.Service, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	return serveLog(t, svc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), opts...)
}

func serveLog(t *testing.T, svc *gateway.Service, log *slog.Logger, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv, _ := api.NewServer(svc, log, opts...)
	go srv.Serve(lis) //nolint:errcheck
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// seed stores the case's accumulators as a prior, moneyless settlement of the person.
func (w *world) seed(t *testing.T, cl *client) {
	t.Helper()
	if len(cl.c.Accumulators) == 0 {
		return
	}
	deltas := policy.Accumulators{}
	for k, v := range cl.c.Accumulators {
		deltas[k] = decimal.RequireFromString(string(v))
	}
	year := cl.c.Visit.Date.Year
	_, _, err := w.ledger.Settle(context.Background(), gateway.SettleKey{InstitutionID: "SEED", RequestID: cl.person + fmt.Sprint(year), RequestHash: "seed", PersonKey: cl.person, Year: year},
		func(gateway.Position) (*gateway.Settlement, error) {
			return &gateway.Settlement{InstitutionID: "SEED", RequestID: cl.person, PersonKey: cl.person, Year: year, State: gateway.StateSettled,
				Deltas: deltas, Receipt: gateway.Receipt{SettleDate: cl.c.Visit.Date, MedType: policy.Outpatient}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func (cl *client) request(requestID string) *onestopv1.SettleRequest {
	c := cl.c
	med := map[string]onestopv1.MedType{policy.Outpatient: onestopv1.MedType_OUTPATIENT, policy.Chronic: onestopv1.MedType_CHRONIC, policy.Inpatient: onestopv1.MedType_INPATIENT}[c.Visit.MedType]
	req := &onestopv1.SettleRequest{
		RequestId: requestID, InstitutionId: cl.inst,
		Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: cl.idNumber},
		MedType:    med, SettleDate: c.Visit.Date.String(), AdmissionDate: c.Visit.AdmissionDate.String(),
		UseAccount: c.Person.AccountBalance != nil,
	}
	if c.Visit.Referred == nil || *c.Visit.Referred {
		req.ReferralNo = "REF-1"
	}
	for j, l := range c.Lines {
		req.Lines = append(req.Lines, &onestopv1.BillLine{Code: fmt.Sprintf("%s-%d-%d", l.Code, cl.index, j), Quantity: "1", UnitPrice: string(l.Amount), Amount: string(l.Amount)})
	}
	return req
}

// check compares an answer (or an error) with the case's expectation, figure by figure.
func check(t *testing.T, w *world, cl *client, resp *onestopv1.SettleResponse, err error, stored bool) {
	t.Helper()
	want := cl.c.Expect
	if want.Error != "" || err != nil {
		got := "no error"
		if err != nil {
			got = reason(err)
		}
		if got != strings.ToUpper(want.Error) {
			t.Fatalf("got %s (%v), want %s", got, err, strings.ToUpper(want.Error))
		}
		return
	}
	figures := map[string][2]string{
		"total": {want.Total, resp.Total}, "excluded": {want.Excluded, resp.Excluded}, "overlimit": {want.Overlimit, resp.Overlimit},
		"preselfpay": {want.Preselfpay, resp.Preselfpay}, "policy_scope": {want.PolicyScope, resp.PolicyScope},
		"hospital": {want.Hospital, resp.Hospital}, "account": {want.Account, resp.Account}, "cash": {want.Cash, resp.Cash},
	}
	funds := map[string]decimal.Decimal{}
	for _, fp := range resp.FundPayments {
		funds[fp.Fund] = funds[fp.Fund].Add(decimal.RequireFromString(fp.Amount))
	}
	for f := range funds {
		if _, ok := want.Funds[f]; !ok && !funds[f].IsZero() {
			figures["funds."+f] = [2]string{"0.00", funds[f].StringFixed(2)}
		}
	}
	for f, v := range want.Funds {
		figures["funds."+f] = [2]string{v, funds[f].StringFixed(2)}
	}
	if stored {
		pos, err := w.ledger.Position(context.Background(), cl.person, cl.c.Visit.Date.Year, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want.AccumulatorsAfter {
			figures["accumulators_after."+k] = [2]string{v, pos.Accumulators[k].StringFixed(2)}
		}
		// The gateway's own accumulator: this bill's cash and account (the seed has none).
		oop := decimal.RequireFromString(want.Cash).Add(decimal.RequireFromString(want.Account))
		figures["accumulators_after."+gateway.OutOfPocketKey] = [2]string{oop.StringFixed(2), pos.Accumulators[gateway.OutOfPocketKey].StringFixed(2)}
		for k, v := range pos.Accumulators {
			if _, ok := want.AccumulatorsAfter[k]; !ok && k != gateway.OutOfPocketKey {
				figures["accumulators_after."+k] = [2]string{"0.00", v.StringFixed(2)}
			}
		}
	}
	for name, f := range figures {
		if !decimal.RequireFromString(f[0]).Equal(decimal.RequireFromString(f[1])) {
			t.Errorf("%s: got %s, want %s", name, f[1], f[0])
		}
	}
}

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return "no ErrorInfo: " + err.Error()
}

// journal is an embedded ledger of the test's own, closed when the test ends.
func journal(t *testing.T) *ledger.Journal {
	t.Helper()
	j, err := ledger.OpenJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// useRedis moves the world's eligibility to Redis (a prefix of the test's own) behind the
// in-process tier, as serve runs it.
func (w *world) useRedis(t *testing.T) {
	t.Helper()
	rdb, prefix := cachetest.Redis(t)
	store := cache.NewRedis(rdb, w.keyer, prefix)
	f, err := cache.OpenSnapshot(w.snapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := store.Load(context.Background(), f, cache.LoadOptions{})
	if err != nil || len(sum.Bad) > 0 {
		t.Fatalf("loading the world into Redis: %v %v", err, sum.Bad)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tier := cache.NewTier(store, cache.TierOptions{})
	if err := tier.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w.svc.Eligibility = tier
}

// TestFixtureCasesEndToEnd settles every SPEC.md case through gRPC, first pre-settling it
// (nothing written), then settling it, then replaying it, and compares the figures: on the
// journal and on Postgres with eligibility in process, and on Postgres with it in Redis.
func TestFixtureCasesEndToEnd(t *testing.T) {
	for _, backend := range []struct {
		name  string
		open  func(t *testing.T) gateway.Ledger
		redis bool
	}{
		{"journal", func(t *testing.T) gateway.Ledger { return journal(t) }, false},
		{"postgres", func(t *testing.T) gateway.Ledger { return ledger.NewPostgres(ledgertest.Pool(t, 0)) }, false},
		{"postgres+redis", func(t *testing.T) gateway.Ledger { return ledger.NewPostgres(ledgertest.Pool(t, 0)) }, true},
	} {
		t.Run(backend.name, func(t *testing.T) {
			w := newWorld(t, backend.open(t))
			if backend.redis {
				w.useRedis(t)
			}
			for _, c := range w.cases {
				cl := w.clients[c.File]
				t.Run(filepath.Base(c.File), func(t *testing.T) {
					w.seed(t, cl)
					pre, err := cl.settlement.PreSettle(cl.ctx, cl.request(""))
					check(t, w, cl, pre, err, false)
					resp, err := cl.settlement.Settle(cl.ctx, cl.request("req-1"))
					check(t, w, cl, resp, err, true)
					if err != nil {
						return
					}
					if resp.Replayed || resp.State != onestopv1.SettlementState_SETTLED || resp.SettlementId == "" {
						t.Fatalf("first settle: replayed %v, state %v, id %q", resp.Replayed, resp.State, resp.SettlementId)
					}
					again, err := cl.settlement.Settle(cl.ctx, cl.request("req-1"))
					if err != nil || !again.Replayed || again.SettlementId != resp.SettlementId || again.Cash != resp.Cash {
						t.Fatalf("replay: %v, %v", again, err)
					}
					check(t, w, cl, again, nil, true) // the accumulators did not move
				})
			}
		})
	}
}
