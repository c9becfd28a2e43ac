package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
)

// syncBuffer: the server writes from its goroutines while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsCarryNoIDNumbersOrTokens runs successful and failing calls through a server
// logging at Debug, with no masking handler in between, and scans what it wrote: the access
// log itself must not need the masking.
func TestLogsCarryNoIDNumbersOrTokens(t *testing.T) {
	j := journal(t)
	w := newWorld(t, j)
	var out syncBuffer
	conn := serveLog(t, w.svc, slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a, b := caseClient(t, w, "j01-first-outpatient-level1.json"), caseClient(t, w, "j03-retired-classes.json")
	ta, tb := newTerminal("A", conn, a.ctx, a), newTerminal("B", conn, b.ctx, b)
	const badToken = "tok-H00-but-not-quite"
	const unknownPerson = "110101190001011236"
	ids := []string{a.idNumber, b.idNumber, unknownPerson}
	tokens := []string{"tok-" + a.inst, "tok-" + b.inst, badToken}

	settled := map[*terminal]string{}
	for _, tm := range []*terminal{ta, tb} {
		if _, err := tm.settlement.PreSettle(tm.ctx, tm.cl.request("")); err != nil {
			t.Fatal(err)
		}
		resp, err := tm.settlement.Settle(tm.ctx, tm.cl.request("log-1"))
		if err != nil {
			t.Fatal(err)
		}
		settled[tm] = resp.SettlementId
		own := rpcs(tm, tm.cl.inst, tm.cl, resp.SettlementId, "log-2")
		for _, name := range []string{"GetEligibility", "GetSettlement", "CancelSettlement"} {
			if err := own[name](); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	failing := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"bad token", rpcs(newTerminal("bad token", conn, bearer(badToken), a), a.inst, a, "", "log-3")["Settle"], codes.Unauthenticated},
		{"no token", rpcs(newTerminal("no token", conn, context.Background(), a), a.inst, a, "", "log-3")["GetEligibility"], codes.Unauthenticated},
		{"token in other metadata", rpcs(newTerminal("misplaced", conn,
			metadata.AppendToOutgoingContext(context.Background(), "x-token", badToken), a), a.inst, a, "", "log-3")["PreSettle"], codes.Unauthenticated},
		{"unknown person", func() error {
			r := a.request("log-4")
			r.Credential.Value = unknownPerson
			_, err := ta.settlement.Settle(ta.ctx, r)
			return err
		}, codes.NotFound},
		{"unknown person's eligibility", func() error {
			_, err := ta.eligibility.GetEligibility(ta.ctx, &onestopv1.GetEligibilityRequest{InstitutionId: a.inst, Date: "2022-06-15",
				Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: unknownPerson}})
			return err
		}, codes.NotFound},
		{"wrong institution", rpcs(ta, b.inst, b, settled[tb], "log-5")["Settle"], codes.PermissionDenied},
		{"other institution's settlement", rpcs(ta, a.inst, a, settled[tb], "log-6")["CancelSettlement"], codes.PermissionDenied},
	}
	for _, f := range failing {
		if err := f.call(); status.Code(err) != f.code {
			t.Errorf("%s: got %v, want %v", f.name, err, f.code)
		}
	}

	log := out.String()
	if strings.Count(log, "\n") < 10+len(failing) {
		t.Fatalf("expected an access-log line per call, got:\n%s", log)
	}
	for _, want := range []string{"grpc.method=Settle", "institution=" + a.inst, "terminal=T1", "grpc.code=PermissionDenied", "reason=WRONG_INSTITUTION", "grpc.code=Unauthenticated", "grpc.time_ms="} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no %q:\n%s", want, log)
		}
	}
	// The token values are the secrets; "Bearer" itself appears in the UNAUTHENTICATED hint.
	for _, secret := range append(append(ids, tokens...), "bearer tok") {
		if strings.Contains(strings.ToLower(log), strings.ToLower(secret)) {
			t.Errorf("the log contains %q:\n%s", secret, log)
		}
	}
}

// TestMaskingHandler: ID numbers anywhere in a record come out masked, credentials by name
// come out redacted, and the rest passes unchanged.
func TestMaskingHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(api.MaskingHandler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	id, idX := "320402198001011234", "32040219800101123X"
	log = log.With("bound", "person "+id, "Authorization", "Bearer abc")
	log.WithGroup("g").Debug("looked up "+idX,
		"id", id, "err", fmt.Errorf("no person %s: %w", id, errors.New("gone")),
		"token", "tok-H00", "terminal_token_sha256", "ab12",
		slog.Group("req", "credential", id, "count", 3),
		"list", []string{id}, "n", 42, "short", "12345", "long", "1234567890123456789012")
	got := out.String()
	for _, want := range []string{
		"msg=\"looked up 3204**********123X\"", "bound=\"person 3204**********1234\"", "Authorization=[REDACTED]",
		"g.id=3204**********1234", "g.err=\"no person 3204**********1234: gone\"", "g.token=[REDACTED]",
		"g.terminal_token_sha256=[REDACTED]", "g.req.credential=3204**********1234", "g.req.count=3",
		"g.list=[3204**********1234]", "g.n=42", "g.short=12345", "g.long=1234**********56789012",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
	for _, leak := range []string{id, idX, "abc", "tok-H00", "ab12"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaked:\n%s", leak, got)
		}
	}
}
