package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// observe records a metric and an access log line per request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		attrs := metric.WithAttributes(attribute.String("route", route), attribute.String("status", strconv.Itoa(status)))
		s.requests.Add(r.Context(), 1, attrs)
		s.latency.Record(r.Context(), time.Since(start).Seconds(), metric.WithAttributes(attribute.String("route", route)))
		if ce := s.log.Check(zap.DebugLevel, "request"); ce != nil {
			ce.Write(zap.String("method", r.Method), zap.String("route", route), zap.Int("status", status),
				zap.Duration("took", time.Since(start)), zap.String("request_id", middleware.GetReqID(r.Context())))
		}
	})
}
