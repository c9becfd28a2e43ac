// Command floor serves the floor SettlementService (package onestop/loadtest/floor) for
// manual runs: point a load generator at it, then at the gateway, on the same machine.
//
//	go run ./loadtest/floor/cmd --grpc-addr 127.0.0.1:9190 \
//	  --postgres-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=floor' \
//	  --redis redis://127.0.0.1:6379/0
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"onestop/loadtest/floor"
)

func main() {
	var cfg floor.Config
	addr := flag.String("grpc-addr", "127.0.0.1:9190", "address to serve gRPC on")
	flag.StringVar(&cfg.PostgresURL, "postgres-url", os.Getenv("ONESTOP_POSTGRES_URL"), "Postgres URL; a search_path parameter selects (and creates) the schema")
	flag.StringVar(&cfg.RedisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL")
	flag.StringVar(&cfg.RedisPrefix, "redis-prefix", "floor:", "prefix of the seeded keys")
	flag.IntVar(&cfg.Persons, "persons", floor.DefaultPersons, "values to seed in Redis; credentials are spread over them")
	maxConns := flag.Int("max-conns", 32, "Postgres pool size (the gateway bench's default)")
	flag.Parse()
	cfg.MaxConns = int32(*maxConns)
	if err := run(*addr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(addr string, cfg floor.Config) error {
	if cfg.PostgresURL == "" {
		return fmt.Errorf("--postgres-url is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	f, err := floor.New(startCtx, cfg)
	if err != nil {
		return err
	}
	defer f.Close()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	f.Register(srv)
	reflection.Register(srv) // for grpcurl; it is not on the settle path
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	slog.Info("floor serving", "addr", lis.Addr().String(), "persons", cfg.Persons, "max_conns", cfg.MaxConns)
	return srv.Serve(lis)
}
