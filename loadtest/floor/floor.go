package floor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// settleBatch is the ledger's own statements for a settlement (ledger.QueueSettlement) with
// begin and commit around them, over the bench bill's content. The gateway's begin,
// advisory lock, idempotency lookup and position reads go in a round trip of their own
// before it; the floor has none of them.
func settleBatch(id string, req *onestopv1.SettleRequest, personKey string, year int, date string, at time.Time) (*pgx.Batch, error) {
	hash := sha256.Sum256([]byte(req.GetRequestId()))
	d, err := policy.ParseDate(date)
	if err != nil {
		return nil, err
	}
	st := bill.template // a shallow copy: its slices and map are only read
	st.ID, st.InstitutionID, st.RequestID, st.RequestHash = id, req.GetInstitutionId(), req.GetRequestId(), hex.EncodeToString(hash[:])
	st.PersonKey, st.Year, st.SettledAt = personKey, year, at
	st.Receipt.SettleDate, st.Receipt.MedType = d, medType(req.GetMedType())
	b := &pgx.Batch{}
	b.Queue(`begin`)
	if err := ledger.QueueSettlement(b, &st); err != nil {
		return nil, err
	}
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

// response has the gateway's answer to the bench bill: its totals, payments, remaining
// pools and lines. Each call builds its own, as the gateway does.
func response(req *onestopv1.SettleRequest, id, date string, state onestopv1.SettlementState, at *timestamppb.Timestamp) *onestopv1.SettleResponse {
	r := &bill.template.Receipt
	resp := &onestopv1.SettleResponse{
		SettlementId: id, RequestId: req.GetRequestId(), State: state,
		Total: money(bill.template.Total), Excluded: money(r.Excluded), Overlimit: money(r.Overlimit), Preselfpay: money(r.Preselfpay),
		PolicyScope: money(bill.template.PolicyScope), Hospital: money(bill.template.Hospital), Account: money(bill.template.Account),
		Cash: money(bill.template.Cash),
		Person: &onestopv1.PersonSummary{NameMasked: r.Person.NameMasked, IdNumberMasked: r.Person.IDMasked,
			Scheme: r.Person.Scheme, Status: r.Person.Status, InsuredRegion: r.Person.InsuredRegion},
		Policy:          &onestopv1.PolicyRef{Id: r.Policy.ID, Name: r.Policy.Name, Region: r.Policy.Region, Year: int32(r.Policy.Year)},
		EligibilityAsOf: timestamppb.New(r.EligibilityAsOf),
		InstitutionId:   req.GetInstitutionId(), MedType: req.GetMedType(), SettleDate: date, SettledAt: at,
	}
	for _, p := range bill.template.Payments {
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

// shape is the bench bill as the ledger stores it; each call copies the template and fills
// in its own ids, person and time.
type shape struct {
	template gateway.Settlement
}

func newShape() (b shape) {
	d := decimal.RequireFromString
	remaining := func(fund, pool, kind, threshold, capRemaining string, medTypes ...string) gateway.PoolRemaining {
		return gateway.PoolRemaining{Fund: fund, Pool: pool, MedTypes: medTypes, ThresholdKind: kind,
			ThresholdRemaining: d(threshold), Capped: true, CapRemaining: d(capRemaining)}
	}
	b.template = gateway.Settlement{
		State: gateway.StateSettled,
		Total: d("166.90"), PolicyScope: d("128.05"), FundTotal: d("115.25"), Hospital: d("0.00"), Account: d("0.00"), Cash: d("51.65"),
		Payments: []gateway.FundPayment{
			{Fund: "basic_resident", FundCode: "390100", Pool: "outpatient", Amount: d("64.03"), ThresholdApplied: d("0.00"), Ratio: d("0.5")},
			{Fund: "medical_aid", FundCode: "610100", Pool: "outpatient", Category: "dibao", Amount: d("51.22"), ThresholdApplied: d("0.00"), Ratio: d("0.8")},
		},
		Deltas: policy.Accumulators{"basic_resident.outpatient.paid": d("64.03"), "medical_aid.outpatient.paid": d("51.22"),
			gateway.OutOfPocketKey: d("51.65")},
		Receipt: gateway.Receipt{
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
		},
	}
	return b
}
