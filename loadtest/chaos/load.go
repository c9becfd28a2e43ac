package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/loadtest/loadgen"
)

// request is one logical settlement — one bill at one counter — with its one request_id,
// however many attempts it takes. Its outcome is exactly one of acked, refused or failed.
type request struct {
	seq   int
	id    string
	token string
	req   *onestopv1.SettleRequest

	attempts int
	acked    bool
	replayed bool   // the acknowledgement was the stored answer to an earlier attempt
	answer   answer // when acked
	refused  string // a refusal no retry can change: its reason
	failed   string // the last retryable cause, when the deadline passed
}

// answer is what the gateway acknowledged: what the ledger must hold.
type answer struct {
	settlementID, total, fundTotal, hospital, account, cash string
}

// load is the cashiers: Workers of them, each taking the next bill when it is due and
// retrying it with the same request_id until it is acknowledged or RequestDeadline passes.
type load struct {
	opt     options
	reqs    []*request
	conns   []*grpc.ClientConn
	clients []onestopv1.SettlementServiceClient

	sent, done, retrying atomic.Int64
	mu                   sync.Mutex
	retriesByCause       map[string]int
}

func newLoad(opt options, addr, runID string, bills []loadgen.Bill) (*load, error) {
	l := &load{opt: opt, retriesByCause: map[string]int{}}
	// A dead gateway makes gRPC back off its reconnection, by default up to 2 minutes: a
	// terminal that waits that long after each restart would measure its own patience.
	params := grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: time.Second}
	for range 4 {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithConnectParams(params))
		if err != nil {
			l.close()
			return nil, err
		}
		l.conns = append(l.conns, conn)
		l.clients = append(l.clients, onestopv1.NewSettlementServiceClient(conn))
	}
	for i := range opt.Requests {
		b := bills[i]
		r := &request{seq: i, id: fmt.Sprintf("chaos-%s-%06d", runID, i), token: b.Token, req: b.Request()}
		r.req.RequestId = r.id
		l.reqs = append(l.reqs, r)
	}
	return l, nil
}

func (l *load) close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// run sends every request at Rate a second (a late schedule catches up: the queue at the
// counter after an outage) and returns when each has its outcome.
func (l *load) run(ctx context.Context) {
	work := make(chan *request)
	var wg sync.WaitGroup
	for w := range l.opt.Workers {
		client := l.clients[w%len(l.clients)]
		wg.Go(func() {
			for r := range work {
				l.settle(ctx, client, r)
				l.done.Add(1)
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / l.opt.Rate)
send:
	for i, r := range l.reqs {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break send
			}
		}
		select {
		case work <- r:
			l.sent.Add(1)
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
}

// settle drives one request to its outcome. A retry resends the same request — same
// request_id, same content — which is what makes it safe: if an earlier attempt committed
// (its answer lost to a kill, or OUTCOME_UNKNOWN), the gateway answers with that settlement.
func (l *load) settle(ctx context.Context, client onestopv1.SettlementServiceClient, r *request) {
	deadline := time.Now().Add(l.opt.RequestDeadline)
	wait := 50 * time.Millisecond
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.token)
	for {
		r.attempts++
		actx, cancel := context.WithTimeout(ctx, min(l.opt.AttemptTimeout, time.Until(deadline)))
		resp, err := client.Settle(actx, r.req)
		cancel()
		if err == nil {
			r.acked, r.replayed, r.answer = true, resp.Replayed, answerOf(resp)
			break
		}
		if ctx.Err() != nil {
			r.failed = "interrupted"
			break
		}
		cause, retry := classify(err)
		if !retry {
			r.refused = cause
			break
		}
		// Jittered between half the wait and the wait: 16 cashiers must not knock in step.
		sleep := wait/2 + rand.N(wait/2+1)
		if time.Now().Add(sleep).After(deadline) {
			r.failed = cause
			break
		}
		if r.attempts == 1 {
			l.retrying.Add(1)
		}
		l.mu.Lock()
		l.retriesByCause[cause]++
		l.mu.Unlock()
		time.Sleep(sleep)
		wait = min(2*wait, time.Second)
	}
	if r.attempts > 1 {
		l.retrying.Add(-1)
	}
}

func answerOf(resp *onestopv1.SettleResponse) answer {
	funds := decimal.Zero
	for _, p := range resp.FundPayments {
		funds = funds.Add(decimal.RequireFromString(p.Amount))
	}
	return answer{settlementID: resp.SettlementId, total: resp.Total, fundTotal: funds.StringFixed(2),
		hospital: resp.Hospital, account: resp.Account, cash: resp.Cash}
}

// classify names an error by its ErrorInfo reason (or code) and says whether the same
// request may be sent again: unavailable (a dependency down, a commit's outcome unknown, the
// gateway unreachable), a deadline, a rate limit.
func classify(err error) (cause string, retry bool) {
	st := status.Convert(err)
	cause = st.Code().String()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			cause = info.Reason
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		if cause == codes.Unavailable.String() {
			cause = "Unavailable (no answer: gateway down or connection lost)"
		}
		return cause, true
	}
	return cause + ": " + st.Message(), false
}

// pickBills takes n of the generated bills that can all settle in one run. The duplicate-
// bill check stays on (serve's default, 24h): every request has a bill of its own, so none
// is held as POSSIBLE_DUPLICATE_BILL, and a request settled twice under two request ids
// would show as a refusal instead of slipping through. What the generator can produce that
// the fraud checks rightly refuse is dropped: a second inpatient stay of one person at
// another institution (CONCURRENT_ADMISSION: both stays end today) and, however unlikely,
// the same person, institution and items twice.
func pickBills(bills []loadgen.Bill, snapshot string, n int) ([]loadgen.Bill, error) {
	person, err := personOfCard(snapshot)
	if err != nil {
		return nil, err
	}
	stayAt := map[string]string{} // person → the institution of their stay
	seen := map[string]bool{}
	var out []loadgen.Bill
	for _, b := range bills {
		if len(out) == n {
			break
		}
		who := b.Credential.Value
		if p, ok := person[who]; ok {
			who = p
		}
		if b.MedType == onestopv1.MedType_INPATIENT.String() {
			if at, ok := stayAt[who]; ok && at != b.InstitutionID {
				continue
			}
			stayAt[who] = b.InstitutionID
		}
		lines := make([]string, len(b.Lines))
		for i, ln := range b.Lines {
			lines[i] = ln.Code + " " + ln.Quantity + " " + ln.Amount
		}
		slices.Sort(lines)
		fp := strings.Join(append([]string{who, b.InstitutionID, b.MedType}, lines...), "|")
		if seen[fp] {
			continue
		}
		seen[fp] = true
		out = append(out, b)
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d of %d generated bills can settle together; generate more", len(out), len(bills))
	}
	return out, nil
}

// personOfCard maps social-security card numbers to ID numbers, so that one person is
// recognised whichever credential a bill carries.
func personOfCard(snapshot string) (map[string]string, error) {
	f, err := os.Open(snapshot)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			ID   string `json:"id_number"`
			Card string `json:"social_security_card"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: %w", snapshot, err)
		}
		if l.Card != "" {
			m[l.Card] = l.ID
		}
	}
	return m, sc.Err()
}
