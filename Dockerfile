# syntax=docker/dockerfile:1
#
# onestop's image: one static binary on distroless, running `onestop serve` by default.
#   docker build -t onestop .
# Every other subcommand runs from the same image (migrate, snapshot load, agency-sim):
#   docker run --rm onestop migrate --postgres-url …
# deploy/README.md says how compose and Kubernetes use it.

# The builder runs on the build machine's own platform and cross-compiles (GOOS/GOARCH from
# BuildKit's TARGET* arguments): no emulation when building an arm64 image on amd64.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# CGO_ENABLED=0: a static binary, nothing to link against in the final image. -trimpath
# keeps the builder's paths out of the binary and of panics; -s -w drops the symbol table
# and DWARF (about a third of the size); panics still print file:line.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags='-s -w' -o /out/onestop ./cmd/onestop

# distroless/static rather than scratch: it already holds what scratch would need added by
# hand — CA certificates (TLS to managed Postgres and Redis), /etc/passwd with the nonroot
# user, tzdata, /tmp — and Debian's security updates for them.
# No shell, no package manager: the binary is the only program in the image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/onestop /onestop
# Numeric, not "nonroot": Kubernetes' runAsNonRoot cannot verify a user name and refuses to
# start the pod. 65532 is distroless's nonroot user.
USER 65532:65532
# The gateway's defaults are loopback addresses, right for a developer's machine and unreachable
# from outside a container; here the container's network namespace is the boundary. ":9090",
# not "0.0.0.0:9090": every interface, IPv6 too (IPv6-only and dual-stack clusters).
ENV ONESTOP_GRPC_ADDR=:9090 \
    ONESTOP_HTTP_ADDR=:8080
# 9090 gRPC (terminals, the health service); 8080 HTTP (/healthz, /metrics, REST, cashier page).
EXPOSE 9090 8080
# The gRPC health service answers NOT_SERVING as soon as the gateway starts draining, so an
# orchestrator stops sending it calls before it exits. A gateway serving TLS: set
# ONESTOP_TLS=true (or ONESTOP_TLS_CA) and ONESTOP_SERVER_NAME in the container's
# environment; the check reads them.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/onestop", "healthcheck", "--addr", "127.0.0.1:9090"]
ENTRYPOINT ["/onestop"]
CMD ["serve"]
