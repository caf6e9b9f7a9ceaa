package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

type localLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	prefix string
	// tat is each key's theoretical arrival time (GCRA).
	tat *simplelru.LRU[string, time.Time]
}

// NewLocal returns an in-process GCRA Limiter with the same semantics as
// NewRedis, for `hazelnut dev` and as a fallback. At most WithMaxKeys keys
// are kept (LRU). It never returns an error except for an invalid Limit.
func NewLocal(opts ...Option) Limiter {
	c := newConfig(opts)
	lru, err := simplelru.NewLRU[string, time.Time](c.maxKeys, nil)
	if err != nil { // only for a non-positive size, which newConfig prevents
		panic(err)
	}
	return &localLimiter{now: c.now, prefix: c.prefix, tat: lru}
}

// Len is the number of keys currently held (for tests).
func (s *localLimiter) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tat.Len()
}

func (s *localLimiter) Allow(_ context.Context, key string, l Limit) (Decision, error) {
	l, err := l.normalize()
	if err != nil {
		return Decision{}, err
	}
	key = s.prefix + key
	emission := l.Period / time.Duration(l.Rate)
	burstOffset := emission * time.Duration(l.Burst)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	tat, ok := s.tat.Get(key)
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(emission)
	allowAt := newTAT.Add(-burstOffset)
	diff := now.Sub(allowAt)
	if diff < 0 {
		return Decision{Allowed: false, RetryAfter: -diff}, nil
	}
	s.tat.Add(key, newTAT)
	remaining := 0
	if emission > 0 {
		remaining = int(diff / emission)
	}
	return Decision{Allowed: true, Remaining: remaining}, nil
}
