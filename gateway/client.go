package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/gateway/signing"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// placeholderIDs are install ids SDKs send when they failed to make one.
var placeholderIDs = map[string]bool{
	"":                                     true,
	"ERROR_GENERATING_INSTALL_INSTANCE_ID": true,
	"ERROR_GENERAING_INSTALL_INSTANCE_ID":  true,
}

// call is one accepted client API request: read, parsed, its token
// resolved, its signature checked and admitted by the rate limits.
type call struct {
	r         *http.Request
	f         fields
	proj      catalog.Project
	requestID string
	received  time.Time
	clientIP  string
	platform  string
}

// installID is the request's install id, or a minted one (minted true)
// when the SDK sent a placeholder or none.
func (c *call) installID() (id string, minted bool, p *problem) {
	id, p = c.f.str("install_instance_id")
	if p != nil {
		return "", false, p
	}
	if placeholderIDs[strings.TrimSpace(id)] {
		return newID(), true, nil
	}
	return id, false, nil
}

// client wraps a client API handler with the steps every one shares:
// content type and size, JSON object, token, signature, rate limits.
func (s *Server) client(h func(w http.ResponseWriter, c *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		received := s.now().UTC()
		body, p := readBody(w, r, s.maxBody)
		var f fields
		if p == nil {
			f, p = parseFields(body)
		}
		var token string
		if p == nil {
			token, p = f.text("token")
		}
		var proj catalog.Project
		if p == nil {
			proj, p = s.project(token)
		}
		var platform string
		if p == nil {
			platform, p = f.str("platform")
			platform = strings.ToUpper(strings.TrimSpace(platform))
		}
		if p == nil {
			p = s.verify(r, body, proj, platform)
		}
		if p == nil {
			p = s.admit(r, proj, token, received)
		}
		if p != nil {
			writeProblem(w, p)
			return
		}
		h(w, &call{r: r, f: f, proj: proj, requestID: requestID(r), received: received,
			clientIP: s.clientIP(r), platform: platform})
	}
}

// readBody reads the raw body (signatures cover its exact bytes).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *problem) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return nil, &problem{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("content type %q is not JSON", ct)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &problem{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
				msg: fmt.Sprintf("body is larger than %d bytes", limit)}
		}
		return nil, badRequest("unreadable_body", "", "body could not be read: %v", err)
	}
	return body, nil
}

// tokenLookup is implemented by project sources that can be unavailable
// (the catalog view): an error answers 503, not 401.
type tokenLookup interface {
	LookupToken(token string) (catalog.Project, bool, error)
}

func (s *Server) project(token string) (catalog.Project, *problem) {
	if token == "" {
		return catalog.Project{}, badRequest("missing_field", "token", "token is required")
	}
	var p catalog.Project
	var ok bool
	if l, canFail := s.deps.Projects.(tokenLookup); canFail {
		var err error
		if p, ok, err = l.LookupToken(token); err != nil {
			s.log.Warn("token lookup failed", zap.Error(err))
			return catalog.Project{}, unavailable("projects cannot be looked up right now; retry later")
		}
	} else {
		p, ok = s.deps.Projects.ProjectByToken(token)
	}
	if !ok {
		return catalog.Project{}, &problem{status: http.StatusUnauthorized, code: "invalid_token", field: "token", msg: "token is not valid"}
	}
	return p, nil
}

// signingPlatform is the platform whose signing rules apply to a request:
// bridges (React Native, Flutter, ...) run on the Android SDK when they
// name themselves; iOS bridges send IOS.
func signingPlatform(platform string) (catalog.Platform, bool) {
	switch platform {
	case "IOS":
		return catalog.IOS, true
	case "ANDROID", "REACT_NATIVE", "FLUTTER", "CAPACITOR", "EXPO", "CORDOVA", "UNITY":
		return catalog.Android, true
	}
	return "", false
}

// verify checks the request signature (contract §3). A project that
// enforces signing for the request's platform refuses an unsigned or badly
// signed request with 401; a request that names no platform is held to the
// rules of every platform. Projects that do not enforce accept every
// request and the outcome is only counted.
func (s *Server) verify(r *http.Request, body []byte, proj catalog.Project, platform string) *problem {
	// The keys that may sign: the request's platform's; for a request
	// naming no platform, those of the platforms that enforce (all when
	// none does). A key of another platform never signs, so an app's key
	// cannot stand in for a platform whose signing is enforced.
	var platforms []catalog.Platform
	enforced := false
	if pl, known := signingPlatform(platform); known {
		platforms, enforced = []catalog.Platform{pl}, proj.Signing[pl].Enforce
	} else {
		for pl, sg := range proj.Signing {
			if sg.Enforce {
				platforms, enforced = append(platforms, pl), true
			}
		}
		if !enforced {
			platforms = catalog.Platforms
		}
	}
	signed := r.Header.Get(signing.HeaderSignature) != "" || r.Header.Get(signing.HeaderKeyID) != "" || r.Header.Get(signing.HeaderTimestamp) != ""
	if !enforced && !signed {
		return nil
	}
	v := signing.Verifier{Now: s.now, Skew: s.skew, Secret: func(keyID string) (string, bool) {
		for _, pl := range platforms {
			for _, k := range proj.Signing[pl].Keys {
				if k.Active && k.KeyID == keyID && k.Secret != "" {
					return k.Secret, true
				}
			}
		}
		return "", false
	}}
	_, err := v.Verify(r.Header, body)
	result := "valid"
	if err != nil {
		result = "invalid"
	}
	s.signatures.Add(r.Context(), 1, withAttrs("result", result, "enforced", strconv.FormatBool(enforced)))
	if err == nil || !enforced {
		return nil
	}
	return &problem{status: http.StatusUnauthorized, code: "invalid_signature", msg: "request signature rejected: " + err.Error()}
}

// admit applies the rate limits of the project's token and of the client
// address; over either, the request is refused with 429 and Retry-After.
// The limit is the project's own (catalog setting client_rate_limit) or
// the gateway's default.
func (s *Server) admit(r *http.Request, proj catalog.Project, token string, at time.Time) *problem {
	if s.limiter == nil {
		return nil
	}
	limit := s.limit
	if n := s.projectLimit(proj.ID, at); n > 0 {
		limit = ratelimit.PerSecond(n)
	}
	for _, k := range []string{ratelimit.Key(proj.ID, ratelimit.DimToken, token), ratelimit.Key(proj.ID, ratelimit.DimIP, s.clientIP(r))} {
		d, err := s.limiter.Allow(r.Context(), k, limit)
		if err != nil || d.Allowed {
			continue
		}
		secs := max(int(math.Ceil(d.RetryAfter.Seconds())), 1)
		return &problem{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: secs,
			msg: fmt.Sprintf("more than %d requests per %s; retry after %d s", limit.Rate, limit.Period, secs)}
	}
	return nil
}

// publish sends one message and answers once the broker acknowledged it or
// the spool holds it durably.
func (s *Server) publish(c *call, topic, key string, msg any) *problem {
	value, err := json.Marshal(msg)
	if err != nil {
		s.log.Error("encode failed", zap.String("topic", topic), zap.Error(err))
		return &problem{status: http.StatusInternalServerError, code: "internal", msg: "the event could not be encoded"}
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), s.ackTimeout)
	defer cancel()
	rec := stream.Record{Topic: topic, Key: key, Value: value, Headers: s.headers(c)}
	spooled, err := s.deps.Publisher.Publish(ctx, rec)
	if err != nil {
		s.log.Warn("publish failed", zap.String("topic", topic), zap.String("key", key), zap.Error(err))
		return unavailable("the event could not be stored right now; retry later")
	}
	if spooled {
		s.spooled.Add(c.r.Context(), 1, withAttrs("topic", topic))
	}
	return nil
}

func unavailable(msg string) *problem {
	return &problem{status: http.StatusServiceUnavailable, code: "unavailable", msg: msg}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
