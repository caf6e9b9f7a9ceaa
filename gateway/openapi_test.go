package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sdkFixtures are the request bodies SDKs send, copied into testdata so the
// package tests stand alone; sharedSDKFixtures is where the originals live
// when the shared fixtures sit next to the repository.
const (
	sdkFixtures       = "testdata/sdk"
	sharedSDKFixtures = "../../shared/fixtures/sdk"
)

// notRequestBodies are shared fixture files that are no request body.
var notRequestBodies = map[string]bool{"README.md": true, "signing-vector.json": true}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func parseOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

// operations returns the document's operations by "METHOD /path".
func operations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json has no paths object")
	}
	ops := map[string]map[string]any{}
	for path, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return ops
}

// pointer resolves a local JSON pointer ("#/a/b") in doc.
func pointer(doc any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// refs returns every $ref in v with where it was found.
func refs(v any, at string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if s, ok := c.(string); ok && k == "$ref" {
				out[at] = s
				continue
			}
			refs(c, at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), out)
		}
	case []any:
		for i, c := range v {
			refs(c, at+"/"+strconv.Itoa(i), out)
		}
	}
}

func TestOpenAPIDocument(t *testing.T) {
	doc := parseOpenAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	if doc["jsonSchemaDialect"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("jsonSchemaDialect = %v, want the JSON Schema 2020-12 dialect", doc["jsonSchemaDialect"])
	}

	ids := map[string]string{}
	for name, op := range operations(t, doc) {
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", name)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share operationId %q", name, other, id)
		}
		ids[id] = name
		for _, key := range []string{"summary", "description", "responses"} {
			if op[key] == nil || op[key] == "" {
				t.Errorf("%s has no %s", name, key)
			}
		}
		if !strings.HasPrefix(name, "POST /api/client/") {
			continue
		}
		// Client routes: a JSON object body, the signing headers and the
		// shared error answers.
		schema, _ := pointer(op, "#/requestBody/content/application~1json/schema")
		if schema == nil {
			t.Errorf("%s has no application/json request body schema", name)
		}
		headers := map[string]bool{}
		for _, p := range op["parameters"].([]any) {
			if r, ok := p.(map[string]any)["$ref"].(string); ok {
				p, _ = pointer(doc, r)
			}
			if p, ok := p.(map[string]any); ok && p["in"] == "header" && p["required"] == false {
				headers[strings.ToLower(p["name"].(string))] = true
			}
		}
		for _, h := range []string{"x-key-id", "x-timestamp", "x-signature", "authorization"} {
			if !headers[h] {
				t.Errorf("%s does not list the optional signing header %s", name, h)
			}
		}
		responses, _ := op["responses"].(map[string]any)
		for _, status := range []string{"400", "401", "413", "415", "429", "503"} {
			if responses[status] == nil {
				t.Errorf("%s does not list the %s answer", name, status)
			}
		}
	}

	found := map[string]string{}
	refs(doc, "#", found)
	if len(found) == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
	for at, ref := range found {
		if _, ok := pointer(doc, ref); !ok {
			t.Errorf("$ref %q at %s does not resolve", ref, at)
		}
	}
}

// TestOpenAPISchemasCompile checks every component schema against the JSON
// Schema 2020-12 meta-schema.
func TestOpenAPISchemasCompile(t *testing.T) {
	c := openAPICompiler(t)
	schemas, _ := pointer(parseOpenAPI(t), "#/components/schemas")
	for name := range schemas.(map[string]any) {
		if _, err := c.Compile("openapi.json#/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
}

// TestOpenAPIMatchesRouter keeps the document's paths and the router's
// routes equal, both ways.
func TestOpenAPIMatchesRouter(t *testing.T) {
	_, h := newTestServer(t)
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Handler() is a %T, not a chi router", h)
	}
	routed := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+strings.TrimSuffix(route, "/*")] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := operations(t, parseOpenAPI(t))

	var missing []string
	for route := range routed {
		if documented[route] == nil {
			missing = append(missing, fmt.Sprintf("%s is routed but not in openapi.json", route))
		}
	}
	for route := range documented {
		if !routed[route] {
			missing = append(missing, fmt.Sprintf("%s is in openapi.json but not routed", route))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

func openAPICompiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return c
}

// requestSchema compiles the request body schema of POST path.
func requestSchema(t *testing.T, c *jsonschema.Compiler, doc map[string]any, path string) *jsonschema.Schema {
	t.Helper()
	op := operations(t, doc)["POST "+path]
	if op == nil {
		t.Fatalf("openapi.json has no POST %s", path)
	}
	schema, _ := pointer(op, "#/requestBody/content/application~1json/schema")
	ref, _ := schema.(map[string]any)["$ref"].(string)
	if ref == "" {
		t.Fatalf("POST %s: the request body schema is not a $ref to a component", path)
	}
	s, err := c.Compile("openapi.json" + ref)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return s
}

// fixtureEndpoint names the client endpoint of a fixture by its file name:
// ios-4.0.1-capture-event.json → /api/client/capture-event.
func fixtureEndpoint(doc map[string]any, file string) string {
	base := strings.TrimSuffix(file, filepath.Ext(file))
	best := ""
	for path := range doc["paths"].(map[string]any) {
		name, ok := strings.CutPrefix(path, "/api/client/")
		if ok && (base == name || strings.HasSuffix(base, "-"+name)) && len(path) > len(best) {
			best = path
		}
	}
	return best
}

func TestSDKFixturesMatchOpenAPI(t *testing.T) {
	doc := parseOpenAPI(t)
	c := openAPICompiler(t)
	files, err := os.ReadDir(sdkFixtures)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if notRequestBodies[f.Name()] {
			continue
		}
		n++
		t.Run(f.Name(), func(t *testing.T) {
			path := fixtureEndpoint(doc, f.Name())
			if path == "" {
				t.Fatalf("no client endpoint is named by %s", f.Name())
			}
			b, err := os.ReadFile(filepath.Join(sdkFixtures, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			body, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if err := requestSchema(t, c, doc, path).Validate(body); err != nil {
				t.Errorf("does not match the request schema of POST %s: %v", path, err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no SDK fixtures found")
	}
}

// TestOpenAPIRequestSchemasRefuse shows the request schemas are not open to
// anything: bodies the contract rules out fail them.
func TestOpenAPIRequestSchemasRefuse(t *testing.T) {
	doc := parseOpenAPI(t)
	c := openAPICompiler(t)
	for _, tc := range []struct{ path, body string }{
		{"/api/client/init", `{}`},
		{"/api/client/init", `[]`},
		{"/api/client/init", `{"token": 7}`},
		{"/api/client/init", `{"token": "t", "device_data": "x"}`},
		{"/api/client/init", `{"token": "t", "device_data": 5}`},
		{"/api/client/attribution-data", `{"token": "t"}`},
		{"/api/client/capture-event", `{"token": "t", "event_name": "e", "event_data": 5}`},
		{"/api/client/capture-event", `{"token": "t", "event_name": "e", "event_data": "x"}`},
		{"/api/client/capture-payment", `{"token": "t", "amount": -1}`},
		{"/api/client/remove-captured-payment", `{"token": "t"}`},
		{"/api/client/trigger", `{"token": "t", "user_data": []}`},
		{"/api/client/set-user-data", `{"token": "t"}`},
		{"/api/client/capture-page-view", `{"token": "t"}`},
	} {
		body, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if requestSchema(t, c, doc, tc.path).Validate(body) == nil {
			t.Errorf("POST %s accepts %s", tc.path, tc.body)
		}
	}
}

// TestSDKFixtureCopies keeps testdata/sdk equal to the shared SDK fixtures
// when they are present.
func TestSDKFixtureCopies(t *testing.T) {
	originals, err := os.ReadDir(sharedSDKFixtures)
	if os.IsNotExist(err) {
		t.Skip("shared SDK fixtures not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range originals {
		if f.IsDir() || notRequestBodies[f.Name()] {
			continue
		}
		names = append(names, f.Name())
		want, err := os.ReadFile(filepath.Join(sharedSDKFixtures, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(sdkFixtures, f.Name()))
		if err != nil {
			t.Errorf("%s is not copied into %s", f.Name(), sdkFixtures)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from the shared fixture", sdkFixtures, f.Name())
		}
	}
	copies, err := os.ReadDir(sdkFixtures)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range copies {
		if !notRequestBodies[f.Name()] && !slices.Contains(names, f.Name()) {
			t.Errorf("%s/%s has no shared original", sdkFixtures, f.Name())
		}
	}
}

func TestServeOpenAPI(t *testing.T) {
	w := httptest.NewRecorder()
	serveOpenAPI(w, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answered %d with Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if !bytes.Equal(w.Body.Bytes(), OpenAPI()) {
		t.Fatal("served body differs from the document")
	}
}
