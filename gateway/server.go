package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/lovoo/goka"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
)

// Publisher sends a message and returns once the broker acknowledged it.
type Publisher interface {
	EmitSync(ctx context.Context, key string, msg any, headers goka.Headers) error
}

// DecisionReader reads the latest decision of an install key; nil, nil when
// there is none yet.
type DecisionReader interface {
	Get(key string) (*codecs.Decision, error)
}

// Projects resolves client tokens.
type Projects interface {
	ProjectByToken(token string) (catalog.Project, bool)
}

// Deps are the parts the gateway needs; all are required.
type Deps struct {
	Installs  Publisher
	Decisions DecisionReader
	Projects  Projects
	// NotReady lists what keeps the process from serving (empty = ready).
	NotReady func() []string
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(s *Server) { s.log = l } }

// WithMeter sets the meter for request metrics (default: none).
func WithMeter(m metric.Meter) Option { return func(s *Server) { s.meter = m } }

// WithAckTimeout bounds the wait for the broker's acknowledgement before a
// request is answered 503 (default 5s).
func WithAckTimeout(d time.Duration) Option { return func(s *Server) { s.ackTimeout = d } }

// WithClientIP sets how the client address of a request is found (default:
// the direct peer; see package clientip for trusted proxies).
func WithClientIP(fn func(*http.Request) string) Option { return func(s *Server) { s.clientIP = fn } }

// WithRateLimit limits client API requests per token and per client
// address (default: none). A limiter error never refuses a request: wrap
// remote limiters with ratelimit.FailOpen.
func WithRateLimit(l ratelimit.Limiter, limit ratelimit.Limit) Option {
	return func(s *Server) { s.limiter, s.limit = l, limit }
}

// WithClock sets the clock that stamps received_at (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is the HTTP gateway. Safe for concurrent use.
type Server struct {
	deps       Deps
	log        *zap.Logger
	meter      metric.Meter
	ackTimeout time.Duration
	maxBody    int64
	now        func() time.Time
	clientIP   func(*http.Request) string
	limiter    ratelimit.Limiter
	limit      ratelimit.Limit

	requests metric.Int64Counter
	latency  metric.Float64Histogram
}

// New builds the gateway.
func New(deps Deps, opts ...Option) *Server {
	s := &Server{deps: deps, ackTimeout: 5 * time.Second, maxBody: 1 << 20, now: time.Now, clientIP: peerIP}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.meter == nil {
		s.meter = noop.NewMeterProvider().Meter("gateway")
	}
	s.requests, _ = s.meter.Int64Counter("hazelnut.http.requests", metric.WithDescription("HTTP requests by route and status"))
	s.latency, _ = s.meter.Float64Histogram("hazelnut.http.duration", metric.WithUnit("s"),
		metric.WithDescription("HTTP request duration by route"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	return s
}

// Handler returns the router.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.observe, middleware.Recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeOK(w, 200, "ok", map[string]any{}) })
	r.Get("/readyz", s.readyz)
	r.Route("/api/client", func(r chi.Router) {
		r.Post("/init", s.init)
		r.Post("/attribution-data", s.attributionData)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, &problem{status: http.StatusNotFound, code: "not_found", msg: "no route for " + r.Method + " " + r.URL.Path})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, &problem{status: http.StatusMethodNotAllowed, code: "method_not_allowed", msg: r.Method + " is not allowed on " + r.URL.Path})
	})
	return r
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if nr := s.deps.NotReady(); len(nr) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, envelope{Msg: "not ready: " + strings.Join(nr, ", "),
			Status: http.StatusServiceUnavailable, Data: map[string]any{"not_ready": nr}})
		return
	}
	writeOK(w, 200, "ready", map[string]any{})
}

// newID returns 16 random bytes as a UUID-formatted string.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// peerIP is the direct peer's address.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
