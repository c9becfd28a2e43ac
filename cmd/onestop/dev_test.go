package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDevSettlesAndShutsDown runs the README's first command as a user would: onestop dev on
// its embedded data, a settle and its replay with the cashier client, a cancel, and a clean
// shutdown when the context ends (as on SIGINT).
func TestDevSettlesAndShutsDown(t *testing.T) {
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	root.SetArgs([]string{"dev", "--data-dir", t.TempDir(), "--grpc-addr", grpcAddr, "--http-addr", httpAddr})
	var devOut bytes.Buffer
	root.SetErr(&devOut)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	for i := 0; ; i++ {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("onestop dev did not become healthy: %v\n%s", err, devOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(devOut.String(), "NOT FOR PRODUCTION") || !strings.Contains(devOut.String(), "grpcurl") {
		t.Errorf("no banner or grpcurl example:\n%s", devOut.String())
	}

	client := func(args ...string) string {
		t.Helper()
		c := newRoot()
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetArgs(append(args, "--addr", grpcAddr, "--token", "dev-clinic-token", "--institution", "H320401"))
		if err := c.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("onestop %v: %v", args, err)
		}
		return out.String()
	}
	bill := []string{"settle", "--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--line", "DRUG-102:2:38.50", "--request-id", "t-1", "--date", "2026-06-15"} // a fixed date: the demo policies are for 2026
	first := client(bill...)
	if !strings.Contains(first, "SETTLED") || !strings.Contains(first, "17.13") || strings.Contains(first, "REPLAYED") {
		t.Errorf("first settle:\n%s", first)
	}
	again := client(bill...)
	if !strings.Contains(again, "REPLAYED") || !strings.Contains(again, "17.13") {
		t.Errorf("replay:\n%s", again)
	}
	id := strings.Fields(first)[1]
	if out := client("cancel", id); !strings.Contains(out, "cancelled") {
		t.Errorf("cancel:\n%s", out)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("onestop dev stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("onestop dev did not shut down")
	}
}
