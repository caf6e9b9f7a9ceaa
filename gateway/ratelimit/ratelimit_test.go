package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func allow(t *testing.T, l Limiter, key string, lim Limit) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

func TestLocalBurstThenThrottle(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(WithClock(clk.Now))
	lim := Default()
	for i := range 25 {
		d := allow(t, l, "k", lim)
		if !d.Allowed {
			t.Fatalf("request %d denied within burst", i)
		}
		if want := 24 - i; d.Remaining != want {
			t.Fatalf("request %d: remaining %d, want %d", i, d.Remaining, want)
		}
	}
	d := allow(t, l, "k", lim)
	if d.Allowed {
		t.Fatal("request 26 allowed, want denied")
	}
	if want := time.Second / 25; d.RetryAfter <= 0 || d.RetryAfter > want {
		t.Fatalf("RetryAfter %v, want in (0, %v]", d.RetryAfter, want)
	}
	// A denied request does not consume capacity: after RetryAfter exactly
	// one request fits again.
	clk.Advance(d.RetryAfter)
	if d := allow(t, l, "k", lim); !d.Allowed {
		t.Fatalf("denied after RetryAfter: %+v", d)
	}
	if d := allow(t, l, "k", lim); d.Allowed {
		t.Fatal("second request after one refill allowed")
	}
}

func TestLocalRefill(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(WithClock(clk.Now))
	lim := PerSecond(10)
	for range 10 {
		allow(t, l, "k", lim)
	}
	if allow(t, l, "k", lim).Allowed {
		t.Fatal("allowed past burst")
	}
	clk.Advance(500 * time.Millisecond) // half the bucket refills
	n := 0
	for allow(t, l, "k", lim).Allowed {
		n++
		if n > 100 {
			t.Fatal("never throttled")
		}
	}
	if n != 5 {
		t.Fatalf("allowed %d after 500ms, want 5", n)
	}
	clk.Advance(time.Hour) // fully refilled, capped at the burst
	if d := allow(t, l, "k", lim); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after idle: %+v, want allowed with 9 remaining", d)
	}
}

func TestLocalSustainedRate(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(WithClock(clk.Now))
	lim := PerSecond(25)
	allowed := 0
	// 100 req/s for 10s against 25/s with burst 25: 25 + 250 allowed.
	for range 1000 {
		if allow(t, l, "k", lim).Allowed {
			allowed++
		}
		clk.Advance(10 * time.Millisecond)
	}
	if allowed < 270 || allowed > 276 {
		t.Fatalf("allowed %d of 1000 over 10s, want ~275", allowed)
	}
}

func TestLocalIndependentKeys(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(WithClock(clk.Now))
	lim := PerSecond(3)
	for range 3 {
		allow(t, l, "a", lim)
	}
	if allow(t, l, "a", lim).Allowed {
		t.Fatal("a allowed past burst")
	}
	for i := range 3 {
		if !allow(t, l, "b", lim).Allowed {
			t.Fatalf("b request %d denied", i)
		}
	}
}

func TestLocalEvictionBounded(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(WithClock(clk.Now), WithMaxKeys(100))
	for i := range 10_000 {
		allow(t, l, fmt.Sprintf("k%d", i), Default())
	}
	if n := l.(*localLimiter).Len(); n > 100 {
		t.Fatalf("holds %d keys, want <= 100", n)
	}
	// An evicted key starts over with a full burst.
	if d := allow(t, l, "k0", Default()); !d.Allowed || d.Remaining != 24 {
		t.Fatalf("evicted key: %+v", d)
	}
}

func TestLocalLimitDefaultsAndInvalid(t *testing.T) {
	l := NewLocal(WithClock(newFakeClock().Now))
	n := 0
	for allow(t, l, "z", Limit{}).Allowed {
		n++
	}
	if n != DefaultRate {
		t.Fatalf("zero Limit allowed %d, want %d", n, DefaultRate)
	}
	if _, err := l.Allow(context.Background(), "x", Limit{Rate: -1}); !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("negative rate: err %v", err)
	}
}

func TestLocalConcurrent(t *testing.T) {
	l := NewLocal(WithClock(newFakeClock().Now))
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				d, _ := l.Allow(context.Background(), "c", Default())
				if d.Allowed {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 25 {
		t.Fatalf("allowed %d concurrent requests at a frozen clock, want 25", ok.Load())
	}
}

func TestKey(t *testing.T) {
	a := Key("p1", DimToken, "secret-token")
	if strings.Contains(a, "secret-token") {
		t.Fatalf("key %q leaks the token", a)
	}
	if !strings.HasPrefix(a, "p1:token:") {
		t.Fatalf("key %q", a)
	}
	if a != Key("p1", DimToken, "secret-token") {
		t.Fatal("key not deterministic")
	}
	for _, b := range []string{
		Key("p2", DimToken, "secret-token"),
		Key("p1", DimIP, "secret-token"),
		Key("p1", DimToken, "other"),
	} {
		if a == b {
			t.Fatalf("collision: %q", b)
		}
	}
}

type stubLimiter struct {
	err      error
	d        Decision
	calls    atomic.Int64
	deadline atomic.Bool
}

func (s *stubLimiter) Allow(ctx context.Context, _ string, _ Limit) (Decision, error) {
	s.calls.Add(1)
	if _, ok := ctx.Deadline(); ok {
		s.deadline.Store(true)
	}
	return s.d, s.err
}

func TestFailOpenAllowsOnError(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	var hook []error
	p := &stubLimiter{err: errors.New("redis down"), d: Decision{Allowed: false}}
	f := FailOpen(p, WithOnError(func(err error) { hook = append(hook, err) }), WithLogger(zap.New(core)))
	d, err := f.Allow(context.Background(), "k", Default())
	if err != nil || !d.Allowed {
		t.Fatalf("got %+v, %v; want allowed, nil", d, err)
	}
	if len(hook) != 1 || hook[0] != p.err {
		t.Fatalf("hook calls %v", hook)
	}
	if logs.Len() != 1 {
		t.Fatalf("%d log lines, want 1", logs.Len())
	}
	if !p.deadline.Load() {
		t.Fatal("primary called without a deadline")
	}
}

func TestFailOpenPassesThrough(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	called := false
	want := Decision{Allowed: false, RetryAfter: 40 * time.Millisecond, Remaining: 0}
	f := FailOpen(&stubLimiter{d: want}, WithOnError(func(error) { called = true }), WithLogger(zap.New(core)))
	d, err := f.Allow(context.Background(), "k", Default())
	if err != nil || d != want {
		t.Fatalf("got %+v, %v; want %+v", d, err, want)
	}
	if called || logs.Len() != 0 {
		t.Fatalf("hook called %v, %d logs on success", called, logs.Len())
	}
}

func TestFailOpenTimeout(t *testing.T) {
	var hookErr error
	slow := limiterFunc(func(ctx context.Context, _ string, _ Limit) (Decision, error) {
		<-ctx.Done()
		return Decision{}, ctx.Err()
	})
	f := FailOpen(slow, WithTimeout(5*time.Millisecond), WithOnError(func(err error) { hookErr = err }))
	d, err := f.Allow(context.Background(), "k", Default())
	if err != nil || !d.Allowed || !errors.Is(hookErr, context.DeadlineExceeded) {
		t.Fatalf("got %+v, %v, hook %v", d, err, hookErr)
	}
}

type limiterFunc func(context.Context, string, Limit) (Decision, error)

func (f limiterFunc) Allow(ctx context.Context, k string, l Limit) (Decision, error) {
	return f(ctx, k, l)
}

func TestFailOpenLogRateLimited(t *testing.T) {
	clk := newFakeClock()
	core, logs := observer.New(zap.WarnLevel)
	var hooks atomic.Int64
	f := FailOpen(&stubLimiter{err: errors.New("boom")},
		WithClock(clk.Now), WithLogger(zap.New(core)), WithLogInterval(5*time.Second),
		WithOnError(func(error) { hooks.Add(1) }))
	for range 100 {
		f.Allow(context.Background(), "k", Default())
		clk.Advance(10 * time.Millisecond) // 100 calls span 1s
	}
	if logs.Len() != 1 {
		t.Fatalf("%d log lines within one interval, want 1", logs.Len())
	}
	clk.Advance(5 * time.Second)
	f.Allow(context.Background(), "k", Default())
	if logs.Len() != 2 {
		t.Fatalf("%d log lines after the interval, want 2", logs.Len())
	}
	if got := logs.All()[1].ContextMap()["suppressed"]; got != int64(99) {
		t.Fatalf("suppressed = %v, want 99", got)
	}
	if hooks.Load() != 101 {
		t.Fatalf("hook called %d times, want 101", hooks.Load())
	}
}

func TestFailOpenNilLogger(t *testing.T) {
	f := FailOpen(&stubLimiter{err: errors.New("boom")}, WithLogger(nil))
	if d, err := f.Allow(context.Background(), "k", Default()); err != nil || !d.Allowed {
		t.Fatalf("got %+v, %v", d, err)
	}
}
