// Package openapi holds the OpenAPI (2.0) document of onestop's REST API, generated from the
// protos by api/generate.sh (protoc-gen-openapiv2) and served at /openapi.json.
package openapi

import _ "embed"

// JSON is the document.
//
//go:embed onestop.swagger.json
var JSON []byte
