package ratelimit

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

type failOpen struct {
	primary     Limiter
	timeout     time.Duration
	onError     func(error)
	log         *zap.Logger
	logInterval time.Duration
	now         func() time.Time

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

// FailOpen wraps primary so that its failures never reject traffic.
//
// Contract:
//   - each primary call runs under a timeout (WithTimeout, default 50ms)
//     derived from the request context;
//   - when primary succeeds its Decision is returned unchanged;
//   - when primary returns an error (Redis down, timeout, invalid limit) the
//     request is allowed: Allow returns Decision{Allowed: true} with
//     Remaining 0 and a nil error, the WithOnError hook is called with the
//     error, and a warning is logged on WithLogger at most once per
//     WithLogInterval (default 10s), carrying the number of errors not logged
//     since the previous warning.
func FailOpen(primary Limiter, opts ...Option) Limiter {
	c := newConfig(opts)
	return &failOpen{
		primary:     primary,
		timeout:     c.timeout,
		onError:     c.onError,
		log:         c.log,
		logInterval: c.logInterval,
		now:         c.now,
	}
}

func (f *failOpen) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	cctx := ctx
	if f.timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	d, err := f.primary.Allow(cctx, key, l)
	if err == nil {
		return d, nil
	}
	if f.onError != nil {
		f.onError(err)
	}
	f.warn(err)
	return Decision{Allowed: true}, nil
}

func (f *failOpen) warn(err error) {
	now := f.now()
	f.mu.Lock()
	if !f.lastLog.IsZero() && now.Sub(f.lastLog) < f.logInterval {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	f.lastLog = now
	suppressed := f.suppressed
	f.suppressed = 0
	f.mu.Unlock()
	f.log.Warn("rate limiter unavailable, allowing requests",
		zap.Error(err), zap.Int("suppressed", suppressed))
}
