package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

// Each request gets a server span named by its route; the published
// record carries the request id and the span's W3C trace context, so the
// trace continues downstream.
func TestSpanContextTravelsInRecordHeaders(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	projects, _ := catalog.NewStatic(catalog.Project{ID: "p1", Token: "tok1"})
	m := newMem()
	h := New(Deps{Publisher: m, Decisions: m, Projects: projects, NotReady: func() []string { return nil }},
		WithTracerProvider(tp)).Handler()

	r := httptest.NewRequest(http.MethodPost, "/api/client/init", strings.NewReader(`{"token":"tok1","install_instance_id":"i1"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(HeaderRequestID, "req-abc-123")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted || w.Header().Get(HeaderRequestID) != "req-abc-123" {
		t.Fatalf("answered %d with request id %q", w.Code, w.Header().Get(HeaderRequestID))
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1", len(spans))
	}
	span := spans[0]
	if span.Name() != "POST /api/client/init" || span.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", span.Name(), span.SpanKind())
	}
	recs := m.all()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	hd := recs[0].Headers
	if string(hd[RecordRequestID]) != "req-abc-123" {
		t.Errorf("request-id header %q", hd[RecordRequestID])
	}
	carrier := propagation.MapCarrier{}
	for k, v := range hd {
		carrier[k] = string(v)
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(t.Context(), carrier))
	if !sc.IsValid() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("record trace context %v, span %v", sc, span.SpanContext())
	}
}

// A client's request id is used only when it is sane; otherwise the
// gateway mints one, and every answer carries it.
func TestRequestIDs(t *testing.T) {
	_, h := newTestServer(t)
	for _, in := range []string{"", strings.Repeat("x", 65), "has space", "bad\x01"} {
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		if in != "" {
			r.Header.Set(HeaderRequestID, in)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get(HeaderRequestID)
		if got == "" || got == in || len(got) != 36 {
			t.Errorf("client id %q → %q", in, got)
		}
	}
}
