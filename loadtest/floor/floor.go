package floor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/policy"
)

// DefaultPersons is the loadtest rig's population: the number of values seeded in Redis.
// The accumulator rows a run touches are one set per distinct credential, as in the gateway.
const DefaultPersons = 2000

// Config says where the floor's stores are. A search_path in PostgresURL selects the schema
// (created if missing, then migrated); Persons 0 is DefaultPersons; MaxConns 0 keeps pgx's
// default pool size.
type Config struct {
	PostgresURL, RedisURL, RedisPrefix string
	Persons                            int
	MaxConns                           int32
}

// Server is the floor's SettlementService.
type Server struct {
	onestopv1.UnimplementedSettlementServiceServer
	pool    *pgxpool.Pool
	rdb     *redis.Client
	prefix  string
	persons int
}

// New connects to Postgres and Redis, migrates the ledger schema (the real one, so the
// floor's rows carry the real indexes and foreign keys) and seeds one value per person.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Persons <= 0 {
		cfg.Persons = DefaultPersons
	}
	pool, err := ledger.Connect(ctx, cfg.PostgresURL, func(c *pgxpool.Config) {
		if cfg.MaxConns > 0 {
			c.MaxConns = cfg.MaxConns
		}
	})
	if err != nil {
		return nil, err
	}
	if err := prepareSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("redis url: %w", err)
	}
	s := &Server{pool: pool, rdb: redis.NewClient(opt), prefix: cfg.RedisPrefix, persons: cfg.Persons}
	if err := s.seed(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepareSchema creates the search_path's schema when it names one: Migrate would otherwise
// have nowhere to create the tables.
func prepareSchema(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if sp := strings.TrimSpace(pool.Config().ConnConfig.RuntimeParams["search_path"]); sp != "" && !strings.Contains(sp, ",") {
		if _, err := pool.Exec(ctx, "create schema if not exists "+pgx.Identifier{sp}.Sanitize()); err != nil {
			return fmt.Errorf("create schema %s: %w", sp, err)
		}
	}
	if err := ledger.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// seed writes every person's value, a thousand to a pipeline.
func (s *Server) seed(ctx context.Context) error {
	for lo := 0; lo < s.persons; lo += 1000 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+1000, s.persons); i++ {
				p.Set(ctx, s.redisKey(i), snapshotValue(i), 0)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis: seed: %w", err)
		}
	}
	return nil
}

// snapshotValue is ~100 bytes: the size of a person's record in the gateway's Redis
// snapshot, whose compact encoding is 30–100 bytes a person.
func snapshotValue(i int) string {
	return fmt.Sprintf(`{"id":"3204001990%08d","scheme":"resident","status":"adult","region":"320400","county":"C1","cat":["dibao"]}`, i)
}

// Register adds the floor's SettlementService to srv.
func (s *Server) Register(srv *grpc.Server) { onestopv1.RegisterSettlementServiceServer(srv, s) }

// Close closes the pools. The seeded values stay: the next run overwrites them.
func (s *Server) Close() {
	s.pool.Close()
	_ = s.rdb.Close()
}

// person picks the seeded Redis value a credential reads; the mapping is stable, and a
// collision costs nothing: two persons reading one value is still one GET each.
func (s *Server) person(credential string) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(credential))
	return int(h.Sum64() % uint64(s.persons))
}

func (s *Server) redisKey(i int) string { return s.prefix + "p:" + strconv.Itoa(i) }

// personKey is one per credential, as the gateway's (a hex HMAC-SHA256 of the ID number)
// is, with its length: two credentials sharing a key would share accumulator rows and wait
// on each other's commit, which the gateway's persons do not. It is in three tables and
// two indexes, so its size is part of the floor.
func personKey(credential string) string {
	sum := sha256.Sum256([]byte(credential))
	return hex.EncodeToString(sum[:])
}

// lookup is the Redis read the gateway makes to know who the person is.
func (s *Server) lookup(ctx context.Context, i int) error {
	err := s.rdb.Get(ctx, s.redisKey(i)).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return status.Errorf(codes.NotFound, "person %d is not in the snapshot (Redis key %s)", i, s.redisKey(i))
	case err != nil:
		return toStatus(err)
	}
	return nil
}

func (s *Server) PreSettle(ctx context.Context, req *onestopv1.SettleRequest) (*onestopv1.SettleResponse, error) {
	date, _, err := settleDate(req.GetSettleDate())
	if err != nil {
		return nil, err
	}
	if err := s.lookup(ctx, s.person(req.GetCredential().GetValue())); err != nil {
		return nil, err
	}
	return response(req, "", date, onestopv1.SettlementState_PRESETTLED, nil), nil
}

func (s *Server) Settle(ctx context.Context, req *onestopv1.SettleRequest) (*onestopv1.SettleResponse, error) {
	if req.GetRequestId() == "" {
		return nil, status.Error(codes.InvalidArgument, "request_id is required: it is half of the settlements table's unique key")
	}
	date, year, err := settleDate(req.GetSettleDate())
	if err != nil {
		return nil, err
	}
	credential := req.GetCredential().GetValue()
	if err := s.lookup(ctx, s.person(credential)); err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7()).String()
	at := time.Now().UTC().Truncate(time.Microsecond)
	b, err := settleBatch(id, req, personKey(credential), year, date, at)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	// The connection goes back to the pool after Close; one left inside a failed transaction
	// is closed by pgxpool rather than reused.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, toStatus(err)
	}
	return response(req, id, date, onestopv1.SettlementState_SETTLED, timestamppb.New(at)), nil
}

// settleDate is the request's date, or today's: the settlements row needs a date and a year.
func settleDate(s string) (string, int, error) {
	if s == "" {
		now := time.Now()
		return now.Format(time.DateOnly), now.Year(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return "", 0, status.Errorf(codes.InvalidArgument, "settle_date %q: %v", s, err)
	}
	return s, d.Year(), nil
}

func toStatus(err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.As(err, &pe) && pe.Code == "23505":
		return status.Errorf(codes.AlreadyExists, "request_id already settled (the floor does not replay): %v", err)
	}
	return status.Errorf(codes.Unavailable, "%v", err)
}

// settleBatch is gateway/ledger's insertBatch with begin and commit around it: the same
// statements, text for text, over values of the same sizes. The gateway's begin, advisory
// lock, idempotency lookup and position reads go in a round trip of their own before it;
// the floor has none of them.
func settleBatch(id string, req *onestopv1.SettleRequest, personKey string, year int, date string, at time.Time) (*pgx.Batch, error) {
	hash := sha256.Sum256([]byte(req.GetRequestId()))
	inst, reqID := req.GetInstitutionId(), req.GetRequestId()
	b := &pgx.Batch{}
	b.Queue(`begin`)
	b.Queue(`insert into settlements (id, institution_id, request_id, request_hash, person_key, year, settle_date,
		med_type, settled_at, total, policy_scope, fund_total, hospital, account, cash, receipt)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		id, inst, reqID, hex.EncodeToString(hash[:]), personKey, year, date,
		medType(req.GetMedType()), at, bill.total, bill.policyScope, bill.fundTotal, bill.hospital, bill.account, bill.cash, bill.receipt)
	b.Queue(`insert into fund_payments (settlement_id, seq, fund, fund_code, pool, category, amount, threshold_applied, ratio)
			select $1, u.seq, u.fund, u.code, u.pool, u.category, u.amount::numeric, u.applied::numeric, u.ratio::numeric
			from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
				as u(seq, fund, code, pool, category, amount, applied, ratio)`,
		id, bill.payments.seq, bill.payments.cols[0], bill.payments.cols[1], bill.payments.cols[2], bill.payments.cols[3],
		bill.payments.cols[4], bill.payments.cols[5], bill.payments.cols[6])
	b.Queue(`with d as (
				insert into settlement_deltas (settlement_id, key, amount)
				select $1, u.key, u.amount::numeric from unnest($2::text[], $3::text[]) as u(key, amount)
				returning key, amount)
			insert into accumulators (person_key, year, key, amount) select $4, $5, key, amount from d
			on conflict (person_key, year, key) do update set amount = accumulators.amount + excluded.amount`,
		id, bill.deltaKeys, bill.deltaAmounts, personKey, year)
	cols := make([][]string, 7)
	for _, n := range bill.notices {
		payload, err := json.Marshal(notice{
			SettlementID: id, RequestID: reqID, InstitutionID: inst, PersonKey: personKey, Person: bill.person,
			SettleDate: date, MedType: medType(req.GetMedType()), SettledAt: at,
			Total: bill.total, PolicyScope: bill.policyScope, Cash: bill.cash, Payments: n.payments,
		})
		if err != nil {
			return nil, err
		}
		for c, v := range []string{id + "/settlement", n.agency, gateway.OutboxKindSettlement, personKey, id, inst, string(payload)} {
			cols[c] = append(cols[c], v)
		}
	}
	b.Queue(`insert into outbox (message_id, agency, kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at)
		select u.id, u.agency, u.kind, u.person, u.settlement::uuid, u.inst, u.payload::jsonb, $8, $8
		from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) with ordinality
			as u(id, agency, kind, person, settlement, inst, payload, n) order by u.n`,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], at)
	b.Queue(`commit`)
	return b, nil
}

func medType(m onestopv1.MedType) string {
	switch m {
	case onestopv1.MedType_CHRONIC:
		return policy.Chronic
	case onestopv1.MedType_INPATIENT:
		return policy.Inpatient
	}
	return policy.Outpatient
}

// notice has gateway.AgencyNotice's JSON shape; the parts that do not change from call to
// call are marshalled once.
type notice struct {
	SettlementID  string          `json:"settlement_id"`
	RequestID     string          `json:"request_id"`
	InstitutionID string          `json:"institution_id"`
	PersonKey     string          `json:"person_key"`
	Person        json.RawMessage `json:"person"`
	SettleDate    string          `json:"settle_date"`
	MedType       string          `json:"med_type"`
	SettledAt     time.Time       `json:"settled_at"`
	Total         decimal.Decimal `json:"total"`
	PolicyScope   decimal.Decimal `json:"policy_scope"`
	Cash          decimal.Decimal `json:"cash"`
	Payments      json.RawMessage `json:"payments"`
}

// response has the gateway's answer to the bench bill: its totals, payments, remaining
// pools and lines. Each call builds its own, as the gateway does.
func response(req *onestopv1.SettleRequest, id, date string, state onestopv1.SettlementState, at *timestamppb.Timestamp) *onestopv1.SettleResponse {
	r := &bill.receiptValue
	resp := &onestopv1.SettleResponse{
		SettlementId: id, RequestId: req.GetRequestId(), State: state,
		Total: money(bill.total), Excluded: money(r.Excluded), Overlimit: money(r.Overlimit), Preselfpay: money(r.Preselfpay),
		PolicyScope: money(bill.policyScope), Hospital: money(bill.hospital), Account: money(bill.account), Cash: money(bill.cash),
		Person: &onestopv1.PersonSummary{NameMasked: r.Person.NameMasked, IdNumberMasked: r.Person.IDMasked,
			Scheme: r.Person.Scheme, Status: r.Person.Status, InsuredRegion: r.Person.InsuredRegion},
		Policy:          &onestopv1.PolicyRef{Id: r.Policy.ID, Name: r.Policy.Name, Region: r.Policy.Region, Year: int32(r.Policy.Year)},
		EligibilityAsOf: timestamppb.New(r.EligibilityAsOf),
		InstitutionId:   req.GetInstitutionId(), MedType: req.GetMedType(), SettleDate: date, SettledAt: at,
	}
	for _, p := range bill.paymentValues {
		resp.FundPayments = append(resp.FundPayments, &onestopv1.FundPayment{Fund: p.Fund, FundCode: p.FundCode, Pool: p.Pool,
			Amount: money(p.Amount), ThresholdApplied: money(p.ThresholdApplied), Ratio: p.Ratio.String(), Category: p.Category})
	}
	for _, l := range r.Lines {
		line := &onestopv1.LineResult{Code: l.Code, Name: l.Name, Class: l.Class, Amount: money(l.Amount)}
		if l.Ceiling.Valid {
			line.Ceiling = money(l.Ceiling.Decimal)
		}
		resp.Lines = append(resp.Lines, line)
	}
	for _, p := range r.Remaining {
		pr := &onestopv1.PoolRemaining{Fund: p.Fund, Pool: p.Pool, ThresholdKind: p.ThresholdKind,
			ThresholdRemaining: money(p.ThresholdRemaining), Capped: p.Capped, MedTypes: p.MedTypes}
		if p.Capped {
			pr.CapRemaining = money(p.CapRemaining)
		}
		resp.Remaining = append(resp.Remaining, pr)
	}
	return resp
}

func money(d decimal.Decimal) string { return d.StringFixed(2) }

// bill is what the gateway stores for the loadtest bench's bill (4 lines: an A, a B, a C
// and a B line over its ceiling, for a dibao recipient under the Changzhou-like demo
// policy), copied from a real settlement so the floor writes rows of the same sizes.
var bill = newShape()

// shape is one settlement's content, in the forms the statements and the answer take.
type shape struct {
	total, policyScope, fundTotal, hospital, account, cash decimal.Decimal
	receiptValue                                           gateway.Receipt
	receipt                                                []byte
	person                                                 json.RawMessage
	paymentValues                                          []gateway.FundPayment
	payments                                               struct {
		seq  []int32
		cols [][]string
	}
	deltaKeys, deltaAmounts []string
	notices                 []agencyPayments
}

// agencyPayments is one outbox row's agency and the payments its payload carries.
type agencyPayments struct {
	agency   string
	payments json.RawMessage
}

func newShape() (b shape) {
	d := decimal.RequireFromString
	b.total, b.policyScope, b.fundTotal = d("166.90"), d("128.05"), d("115.25")
	b.hospital, b.account, b.cash = d("0.00"), d("0.00"), d("51.65")
	remaining := func(fund, pool, kind, threshold, capRemaining string, medTypes ...string) gateway.PoolRemaining {
		return gateway.PoolRemaining{Fund: fund, Pool: pool, MedTypes: medTypes, ThresholdKind: kind,
			ThresholdRemaining: d(threshold), Capped: true, CapRemaining: d(capRemaining)}
	}
	b.receiptValue = gateway.Receipt{
		MedType: policy.Outpatient, SettleDate: policy.Date{Year: 2022, Month: 6, Day: 15},
		Excluded: d("19.90"), Overlimit: d("7.50"), Preselfpay: d("11.45"),
		Lines: []gateway.ReceiptLine{
			{Code: "SVC-1", Name: "consultation", Class: "A", Amount: d("25.00")},
			{Code: "DRUG-1", Name: "cefixime", Class: "B", Amount: d("77.00")},
			{Code: "MAT-1", Name: "nutrition", Class: "C", Amount: d("19.90")},
			{Code: "MAT-2", Name: "infusion set", Class: "B", Amount: d("45.00"), Ceiling: decimal.NewNullDecimal(d("37.50"))},
		},
		Remaining: []gateway.PoolRemaining{
			remaining("basic_resident", "outpatient", "", "0", "535.97", "outpatient"),
			remaining("basic_resident", "chronic", "annual", "300", "3000", "chronic"),
			remaining("basic_resident", "inpatient", "per_visit", "300", "300000", "inpatient"),
			remaining("critical_illness", "all", "annual", "15000", "400000", "chronic", "inpatient"),
			remaining("medical_aid", "outpatient", "", "0", "948.78", "outpatient"),
			remaining("medical_aid", "inpatient_chronic", "", "0", "150000", "inpatient", "chronic"),
		},
		Person:          gateway.PersonSummary{NameMasked: "患*", IDMasked: "3204**********0014", Scheme: "resident", Status: "adult", InsuredRegion: "320400"},
		Policy:          gateway.PolicyRef{ID: "changzhou-resident-2022", Name: "Changzhou-like resident scheme with medical aid (demo)", Region: "320400", Year: 2022},
		EligibilityAsOf: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	b.receipt = must(json.Marshal(b.receiptValue))
	b.person = must(json.Marshal(b.receiptValue.Person))
	b.paymentValues = []gateway.FundPayment{
		{Fund: "basic_resident", FundCode: "390100", Pool: "outpatient", Amount: d("64.03"), ThresholdApplied: d("0.00"), Ratio: d("0.5")},
		{Fund: "medical_aid", FundCode: "610100", Pool: "outpatient", Category: "dibao", Amount: d("51.22"), ThresholdApplied: d("0.00"), Ratio: d("0.8")},
	}
	b.payments.cols = make([][]string, 7)
	for i, p := range b.paymentValues {
		b.payments.seq = append(b.payments.seq, int32(i))
		for c, v := range []string{p.Fund, p.FundCode, p.Pool, p.Category, p.Amount.StringFixed(2), p.ThresholdApplied.StringFixed(2), p.Ratio.String()} {
			b.payments.cols[c] = append(b.payments.cols[c], v)
		}
		b.notices = append(b.notices, agencyPayments{gateway.FundAgencies[p.Fund], must(json.Marshal([]gateway.FundPayment{p}))})
	}
	// Sorted, as insertBatch sorts them: two settlements of one person take the accumulator
	// rows' locks in the same order.
	b.deltaKeys = []string{"basic_resident.outpatient.paid", "medical_aid.outpatient.paid", "personal.out_of_pocket"}
	b.deltaAmounts = []string{"64.03", "51.22", "51.65"}
	return b
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
