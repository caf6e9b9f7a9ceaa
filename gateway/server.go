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
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/gateway/signing"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Publisher publishes a record and returns once the broker acknowledged it
// or, when the broker is out of reach, once a durable local spool holds it
// (spooled true); it fails only when neither is possible.
type Publisher interface {
	Publish(ctx context.Context, rec stream.Record) (spooled bool, err error)
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

// Enqueuer appends a record to a durable spool and returns once it is on
// disk; the spool publishes it later (click links never wait for Kafka).
type Enqueuer interface {
	Enqueue(ctx context.Context, rec stream.Record) error
}

// Geo locates an IP address; the zero value when unknown.
type Geo interface {
	Lookup(ip string) codecs.Geo
}

// Deps are the parts the gateway needs; all but Catalog, Clicks and Geo
// are required.
type Deps struct {
	Publisher Publisher
	Decisions DecisionReader
	Projects  Projects
	// Catalog serves settings, campaigns and domains; without it no SKAN
	// values are answered, no deep link is resolved and page views are
	// refused.
	Catalog Catalog
	// Clicks holds recorded clicks durably before a redirect is answered;
	// nil publishes them through Publisher.
	Clicks Enqueuer
	// Geo adds country, region and city to clicks; nil leaves them empty.
	Geo Geo
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

// WithSigningSkew bounds how far a signed request's x-Timestamp may be
// from the gateway's clock (default 5 minutes).
func WithSigningSkew(d time.Duration) Option { return func(s *Server) { s.skew = d } }

// WithTracerProvider sets where request spans go (default: the global
// provider); their context travels in the published records' headers.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Server) { s.tracer = tp.Tracer("gateway") }
}

// WithMaxBody bounds request bodies (default 1 MiB).
func WithMaxBody(n int64) Option { return func(s *Server) { s.maxBody = n } }

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
	skew       time.Duration
	tracer     trace.Tracer
	limits     limitCache

	requests   metric.Int64Counter
	latency    metric.Float64Histogram
	signatures metric.Int64Counter
	spooled    metric.Int64Counter

	links     *linkCache
	redirects redirectMetrics
}

// New builds the gateway.
func New(deps Deps, opts ...Option) *Server {
	s := &Server{deps: deps, ackTimeout: 5 * time.Second, maxBody: 1 << 20, now: time.Now, clientIP: peerIP,
		skew: signing.DefaultSkew, limit: ratelimit.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.meter == nil {
		s.meter = noop.NewMeterProvider().Meter("gateway")
	}
	if s.tracer == nil {
		s.tracer = otel.GetTracerProvider().Tracer("gateway")
	}
	s.signatures, _ = s.meter.Int64Counter("hazelnut.gateway.signatures",
		metric.WithDescription("Signed or signature-enforced client requests by result"))
	s.spooled, _ = s.meter.Int64Counter("hazelnut.gateway.spooled",
		metric.WithDescription("Accepted requests held in the spool because the broker was out of reach"))
	s.requests, _ = s.meter.Int64Counter("hazelnut.http.requests", metric.WithDescription("HTTP requests by route and status"))
	s.latency, _ = s.meter.Float64Histogram("hazelnut.http.duration", metric.WithUnit("s"),
		metric.WithDescription("HTTP request duration by route"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	s.initRedirects()
	return s
}

// Handler returns the router.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.requestID, s.observe, s.recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeOK(w, 200, "ok", map[string]any{}) })
	r.Get("/readyz", s.readyz)
	r.Get("/openapi.json", serveOpenAPI)
	r.Route("/api/client", func(r chi.Router) {
		for path, h := range map[string]func(http.ResponseWriter, *call){
			"/init":                    s.init,
			"/attribution-data":        s.attributionData,
			"/trigger":                 s.trigger,
			"/capture-event":           s.captureEvent,
			"/capture-payment":         s.capturePayment,
			"/remove-captured-payment": s.removePayment,
			"/set-user-data":           s.setUserData,
			"/update-push-token":       s.updatePushToken,
			"/integrations":            s.integrations,
			"/handle-deeplink":         s.handleDeeplink,
			"/customer-user-id":        s.customerUserID,
			"/deeplink-triggered":      s.deeplinkTriggered,
			"/capture-page-view":       s.capturePageView,
		} {
			r.Post(path, s.client(h))
		}
	})
	for _, path := range []string{"/web/ingest", "/web/collect"} {
		r.Post(path, s.webIngest)
		r.Options(path, s.webPreflight)
	}
	// click links (redirect.go): /c/{display_id} on any host; / and
	// /{display_id} only on branded hosts (elsewhere the JSON 404)
	r.Get("/c/{display_id}", s.clickLink)
	r.Get("/", s.brandedLink)
	r.Get("/{display_id}", s.brandedLink)
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

// recoverer answers a panicking handler with a JSON 500 and logs it.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", zap.Any("panic", v), zap.String("path", r.URL.Path),
					zap.String("request_id", requestID(r)), zap.Stack("stack"))
				writeProblem(w, &problem{status: http.StatusInternalServerError, code: "internal", msg: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
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
