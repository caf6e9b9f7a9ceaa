// Package ratelimit limits request rates per key (for the gateway: per
// project token and per client IP) with the GCRA algorithm.
//
// Three Limiters are provided:
//
//   - NewRedis: shared state in Redis via redis_rate; one round trip per
//     Allow (a single EVALSHA). Used when the gateway runs with Redis.
//   - NewLocal: the same algorithm in process memory with a bounded number
//     of keys (LRU). Used by `hazelnut dev` without Redis.
//   - FailOpen: wraps another Limiter so that a failing backend (Redis down,
//     timeouts) never rejects traffic: the request is allowed, a hook is
//     called (for a metric) and a rate-limited warning is logged.
//
// Callers build keys with Key and answer 429 with a Retry-After header when
// Decision.Allowed is false.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultRate is the default number of requests per second per key
// (sdk-contract §4).
const DefaultRate = 25

// DefaultPrefix namespaces every key stored by a limiter.
const DefaultPrefix = "hazelnut:rl:"

// Key dimensions.
const (
	DimToken = "token"
	DimIP    = "ip"
)

// Limit is Rate requests per Period, with up to Burst requests at once.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// PerSecond is n requests per second with a burst of n.
func PerSecond(n int) Limit { return Limit{Rate: n, Burst: n, Period: time.Second} }

// Default is the default limit: 25 requests per second, burst 25.
func Default() Limit { return PerSecond(DefaultRate) }

// IsZero reports whether l is the zero Limit.
func (l Limit) IsZero() bool { return l == Limit{} }

// ErrInvalidLimit is returned for a limit with a non-positive Rate or Period.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// normalize fills in defaults: the zero Limit is Default(), a missing Burst
// is Rate and a missing Period is one second.
func (l Limit) normalize() (Limit, error) {
	if l.IsZero() {
		return Default(), nil
	}
	if l.Period == 0 {
		l.Period = time.Second
	}
	if l.Burst == 0 {
		l.Burst = l.Rate
	}
	if l.Rate <= 0 || l.Period < 0 || l.Burst < 0 {
		return Limit{}, ErrInvalidLimit
	}
	return l, nil
}

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed is false when the request must be rejected (HTTP 429).
	Allowed bool
	// RetryAfter is how long to wait before the next request can be allowed;
	// zero when Allowed.
	RetryAfter time.Duration
	// Remaining is how many more requests would be allowed right now.
	Remaining int
}

// Limiter decides whether one more request for key fits in the limit.
// Implementations are safe for concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}

// Key builds the key of a limit for one project and dimension (DimToken,
// DimIP). The value is hashed so that secrets such as tokens never end up in
// the limiter's storage and arbitrary characters (":" in IPv6) are safe.
func Key(projectID, dimension, value string) string {
	sum := sha256.Sum256([]byte(value))
	var b strings.Builder
	b.Grow(len(projectID) + len(dimension) + 2 + 32)
	b.WriteString(projectID)
	b.WriteByte(':')
	b.WriteString(dimension)
	b.WriteByte(':')
	b.WriteString(hex.EncodeToString(sum[:16]))
	return b.String()
}

// Option configures NewRedis, NewLocal and FailOpen; each uses the options
// that apply to it and ignores the others.
type Option func(*config)

type config struct {
	prefix      string
	now         func() time.Time
	maxKeys     int
	timeout     time.Duration
	onError     func(error)
	log         *zap.Logger
	logInterval time.Duration
}

func newConfig(opts []Option) config {
	c := config{
		prefix:      DefaultPrefix,
		now:         time.Now,
		maxKeys:     100_000,
		timeout:     50 * time.Millisecond,
		logInterval: 10 * time.Second,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	return c
}

// WithPrefix sets the key namespace (NewRedis, NewLocal; default
// DefaultPrefix).
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithClock sets the clock (NewLocal: the algorithm's time; FailOpen: the
// log rate limit; default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithMaxKeys bounds the number of keys NewLocal keeps; the least recently
// used key is dropped beyond it (default 100000). Dropping a key only forgets
// its history, so the key at worst gets a fresh burst.
func WithMaxKeys(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxKeys = n
		}
	}
}

// WithTimeout bounds each call of FailOpen's primary limiter (default 50ms;
// <= 0 disables the bound).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithOnError sets FailOpen's hook, called for every error of the primary
// limiter (typically increments a metric). It must be fast and safe for
// concurrent use.
func WithOnError(f func(error)) Option { return func(c *config) { c.onError = f } }

// WithLogger sets FailOpen's logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = l } }

// WithLogInterval sets the minimum time between two FailOpen warnings
// (default 10s).
func WithLogInterval(d time.Duration) Option { return func(c *config) { c.logInterval = d } }
