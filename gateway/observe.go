package gateway

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// HeaderRequestID carries a request's id: accepted from the client when it
// is sane, answered on every response and published with every record.
const HeaderRequestID = "X-Request-Id"

// Record header names.
const (
	RecordRequestID   = "request-id"
	RecordTraceParent = "traceparent"
)

type ctxKey int

const requestIDKey ctxKey = 0

// requestID gives every request an id (the client's X-Request-Id when it
// is at most 64 printable ASCII characters, else a new one).
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !saneID(id) {
			id = newID()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func saneID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// requestID is the id the middleware gave r.
func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// observe traces each request with a server span, records its metrics and
// writes an access log line (errors at info level, the rest at debug).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, span := s.tracer.Start(r.Context(), r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("hazelnut.request_id", requestID(r))))
		defer span.End()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		r = r.WithContext(ctx)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		span.SetName(r.Method + " " + route)
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		took := time.Since(start)
		attrs := metric.WithAttributes(attribute.String("route", route), attribute.String("status", strconv.Itoa(status)))
		s.requests.Add(r.Context(), 1, attrs)
		s.latency.Record(r.Context(), took.Seconds(), metric.WithAttributes(attribute.String("route", route)))
		level := zap.DebugLevel
		if status >= 400 {
			level = zap.InfoLevel
		}
		if ce := s.log.Check(level, "request"); ce != nil {
			ce.Write(zap.String("method", r.Method), zap.String("route", route), zap.Int("status", status),
				zap.Duration("took", took), zap.String("request_id", requestID(r)), zap.String("client_ip", s.clientIP(r)))
		}
	})
}

// headers are a published record's headers: the request id and the trace
// context of the request's span.
func (s *Server) headers(c *call) map[string][]byte {
	h := map[string][]byte{RecordRequestID: []byte(c.requestID)}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(c.r.Context(), carrier)
	for k, v := range carrier {
		h[k] = []byte(v)
	}
	return h
}

func withAttrs(kv ...string) metric.MeasurementOption {
	attrs := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	return metric.WithAttributes(attrs...)
}

// limitCache keeps each project's client rate limit for a few seconds, so
// the settings are not decoded on every request.
type limitCache struct {
	mu sync.Mutex
	m  map[string]cachedLimit
}

type cachedLimit struct {
	n       int
	expires time.Time
}

// projectLimit is the project's client_rate_limit in force (0: default).
func (s *Server) projectLimit(projectID string, at time.Time) int {
	if s.deps.Catalog == nil {
		return 0
	}
	s.limits.mu.Lock()
	cl, ok := s.limits.m[projectID]
	s.limits.mu.Unlock()
	if ok && at.Before(cl.expires) {
		return cl.n
	}
	eff, found, err := s.deps.Catalog.ProjectSettingsAt(projectID, at)
	if err != nil {
		return cl.n
	}
	n := 0
	if found {
		n = eff.ClientRateLimit
	}
	s.limits.mu.Lock()
	if s.limits.m == nil {
		s.limits.m = map[string]cachedLimit{}
	}
	s.limits.m[projectID] = cachedLimit{n: n, expires: at.Add(5 * time.Second)}
	s.limits.mu.Unlock()
	return n
}
