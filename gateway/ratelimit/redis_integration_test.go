//go:build integration

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("HAZELNUT_REDIS_ADDR")
	if addr == "" {
		t.Fatal(`HAZELNUT_REDIS_ADDR is not set; run: eval "$(bash scripts/services.sh up redis)"`)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis %s: %v", addr, err)
	}
	return rdb
}

func TestRedisLimiterServices(t *testing.T) {
	rdb := redisClient(t)
	prefix := fmt.Sprintf("%stest:%d:", DefaultPrefix, time.Now().UnixNano())
	l := NewRedis(rdb, WithPrefix(prefix))
	ctx := context.Background()

	t.Run("burst then deny", func(t *testing.T) {
		// 25 per minute with a burst of 25: no refill during the test.
		lim := Limit{Rate: 25, Burst: 25, Period: time.Minute}
		key := Key("proj", DimToken, "tok")
		for i := range 25 {
			d, err := l.Allow(ctx, key, lim)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed || d.Remaining != 24-i {
				t.Fatalf("request %d: %+v", i, d)
			}
		}
		d, err := l.Allow(ctx, key, lim)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 2400*time.Millisecond {
			t.Fatalf("request 26: %+v, want denied with RetryAfter in (0, 2.4s]", d)
		}
		// Stored under the namespace.
		keys, err := rdb.Keys(ctx, "*"+prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("no namespaced keys (%v): %v", err, keys)
		}
	})

	t.Run("default limit", func(t *testing.T) {
		key := Key("proj", DimIP, "192.0.2.1")
		for i := range 25 {
			d, err := l.Allow(ctx, key, Default())
			if err != nil || !d.Allowed {
				t.Fatalf("request %d: %+v, %v", i, d, err)
			}
		}
		denied := false
		for range 5 {
			d, err := l.Allow(ctx, key, Default())
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed {
				denied = true
				if d.RetryAfter <= 0 || d.RetryAfter > time.Second/25 {
					t.Fatalf("RetryAfter %v", d.RetryAfter)
				}
				break
			}
		}
		if !denied {
			t.Fatal("never denied past the burst")
		}
	})

	t.Run("independent keys", func(t *testing.T) {
		lim := Limit{Rate: 3, Burst: 3, Period: time.Minute}
		a, b := Key("proj", DimToken, "a"), Key("proj", DimToken, "b")
		for range 3 {
			if _, err := l.Allow(ctx, a, lim); err != nil {
				t.Fatal(err)
			}
		}
		if d, _ := l.Allow(ctx, a, lim); d.Allowed {
			t.Fatal("a allowed past burst")
		}
		for i := range 3 {
			if d, err := l.Allow(ctx, b, lim); err != nil || !d.Allowed {
				t.Fatalf("b request %d: %+v, %v", i, d, err)
			}
		}
		if d, _ := l.Allow(ctx, Key("other", DimToken, "a"), lim); !d.Allowed {
			t.Fatal("same token in another project throttled")
		}
	})

	t.Run("fail open when redis is down", func(t *testing.T) {
		down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		defer down.Close()
		core, logs := observer.New(zap.WarnLevel)
		var errs atomic.Int64
		var mu sync.Mutex
		var last error
		f := FailOpen(NewRedis(down, WithPrefix(prefix)),
			WithOnError(func(err error) {
				errs.Add(1)
				mu.Lock()
				last = err
				mu.Unlock()
			}),
			WithLogger(zap.New(core)))
		// The direct limiter reports the failure...
		if _, err := NewRedis(down).Allow(ctx, "x", Default()); err == nil {
			t.Fatal("limiter over a closed port returned no error")
		}
		// ...the wrapped one allows and reports it.
		for i := range 30 {
			d, err := f.Allow(ctx, Key("proj", DimToken, "down"), Default())
			if err != nil || !d.Allowed {
				t.Fatalf("request %d: %+v, %v", i, d, err)
			}
		}
		if errs.Load() != 30 {
			t.Fatalf("hook called %d times, want 30", errs.Load())
		}
		mu.Lock()
		err := last
		mu.Unlock()
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("hook error %v", err)
		}
		if logs.Len() != 1 {
			t.Fatalf("%d warnings, want 1", logs.Len())
		}
	})
}
