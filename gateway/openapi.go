package gateway

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 description of every gateway endpoint. It is
// written by hand; a test keeps its paths equal to the router's routes and
// checks the SDK request fixtures against its request schemas.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns a copy of the gateway's OpenAPI 3.1 document (JSON).
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// serveOpenAPI answers GET /openapi.json with the OpenAPI document.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
}
