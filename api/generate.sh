#!/usr/bin/env bash
# Regenerates the Go code, the REST gateway and the OpenAPI document of api/onestop/v1 from
# its .proto files. Needs protoc (Debian: apt-get install protobuf-compiler); the plugins are
# built at the pinned versions below into a temporary folder, so what is committed does not
# depend on what a machine has. google/api/annotations.proto comes from the genproto Go
# module as a descriptor set (api/internal/descset), not from a copied googleapis tree.
set -euo pipefail
cd "$(dirname "$0")"

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
GRPC_GATEWAY=v2.33.0
PROTOC_GEN_GATEWAY=github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$GRPC_GATEWAY
PROTOC_GEN_OPENAPI=github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$GRPC_GATEWAY

command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "$PROTOC_GEN_GO"
GOBIN="$bin" go install "$PROTOC_GEN_GO_GRPC"
GOBIN="$bin" go install "$PROTOC_GEN_GATEWAY"
GOBIN="$bin" go install "$PROTOC_GEN_OPENAPI"
go run ./internal/descset "$bin/googleapis.pb"

PATH="$bin:$PATH" protoc -I . -I /usr/include --descriptor_set_in="$bin/googleapis.pb" \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  --grpc-gateway_out=. --grpc-gateway_opt=paths=source_relative \
  --openapiv2_out=openapi --openapiv2_opt=allow_merge=true,merge_file_name=onestop,json_names_for_fields=false,openapi_configuration=openapi/config.yaml \
  onestop/v1/*.proto
# Operator RPCs: gRPC only, so no REST gateway and no OpenAPI entry.
PATH="$bin:$PATH" protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  onestop/admin/v1/*.proto
