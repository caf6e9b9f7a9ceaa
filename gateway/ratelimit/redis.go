package ratelimit

import (
	"context"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

type redisLimiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

// NewRedis returns a Limiter that keeps its state in Redis (GCRA via
// redis_rate, one round trip per Allow). Keys are stored under the prefix
// (WithPrefix, default DefaultPrefix) inside redis_rate's own "rate:"
// namespace and expire once their state is idle. Errors from Redis are
// returned as is; wrap the limiter with FailOpen to never reject traffic
// because of them.
func NewRedis(client *redis.Client, opts ...Option) Limiter {
	c := newConfig(opts)
	return &redisLimiter{rl: redis_rate.NewLimiter(client), prefix: c.prefix}
}

func (r *redisLimiter) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	l, err := l.normalize()
	if err != nil {
		return Decision{}, err
	}
	res, err := r.rl.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.Period})
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: res.Allowed > 0, Remaining: res.Remaining}
	if !d.Allowed && res.RetryAfter > 0 {
		d.RetryAfter = res.RetryAfter
	}
	return d, nil
}
