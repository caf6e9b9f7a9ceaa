package stream

import (
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

// Gate bounds how far a group runs ahead on one input topic of the answers
// it waits for: per partition, at most Limit keys of that topic are open at
// once. A key opens when its record is handed to the group and stays open
// while the group says it is still waiting for something on its behalf
// (Track); the next record of the topic is held back until a key closes
// (the consumer reads a little ahead and then pauses the partition, see
// commit.WithAdmission).
//
// Without it a group with a backlog on such a topic takes all of it first:
// the attribution group decides an install only after the click side has
// answered, but it reads installs as fast as they come, so under a backlog
// of installs each answer finds the install's state written tens of
// thousands of writes earlier, long out of every cache. With the gate the
// states in flight stay few and recent.
//
// The gate is flow control only. Nothing depends on it for correctness: a
// key open longer than TTL (an answer that went to the dead letter queue, a
// click side that is down) stops counting, so the topic never waits longer
// than TTL for a key that does not close.
type Gate struct {
	topic string
	limit int
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	parts map[int32]*gatePartition
}

type gatePartition struct {
	open  map[string]time.Time // key → when it opened
	order []gateEntry          // openings, oldest first; closed ones are skipped
	wake  chan struct{}        // closed (and replaced) when a key closes while full
}

type gateEntry struct {
	key string
	at  time.Time
}

// gateBuffered is how many records of a gated partition are read ahead
// while the gate holds them; beyond it the partition is paused
// (commit.WithAdmission).
const gateBuffered = 1000

// Admission is the commit wrapper's option that asks the gate before each
// record of its topic is handed to the group (commit.WithAdmission).
func (g *Gate) Admission() commit.Option {
	return commit.WithAdmission(g.topic, g.Admit, gateBuffered)
}

// Defaults of NewGate.
const (
	DefaultGateLimit = 500
	DefaultGateTTL   = 5 * time.Second
)

// NewGate returns a gate over topic. limit <= 0 means DefaultGateLimit,
// ttl <= 0 DefaultGateTTL.
func NewGate(topic string, limit int, ttl time.Duration) *Gate {
	if limit <= 0 {
		limit = DefaultGateLimit
	}
	if ttl <= 0 {
		ttl = DefaultGateTTL
	}
	return &Gate{topic: topic, limit: limit, ttl: ttl, now: time.Now, parts: map[int32]*gatePartition{}}
}

// Track tells the gate whether the group still waits for something on
// behalf of key in partition: false closes the key (a no-op for a key that
// is not open), true opens it if it is not.
func (g *Gate) Track(partition int32, key string, waiting bool) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.partition(partition)
	if waiting {
		g.expire(p)
		p.add(key, g.now())
		return
	}
	if _, ok := p.open[key]; !ok {
		return
	}
	full := len(p.open) >= g.limit
	delete(p.open, key)
	if full {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

// Open reports how many keys of partition are open (for tests and
// metrics).
func (g *Gate) Open(partition int32) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.partition(partition)
	g.expire(p)
	return len(p.open)
}

// Admit is the consumer's side (commit.WithAdmission): a record of the
// gate's topic waits until its partition has fewer than Limit open keys,
// then opens its key. Records of other topics pass. It returns false when
// stop closes first.
func (g *Gate) Admit(msg *sarama.ConsumerMessage, stop <-chan struct{}) bool {
	if msg.Topic != g.topic {
		return true
	}
	key := string(msg.Key)
	for {
		g.mu.Lock()
		p := g.partition(msg.Partition)
		g.expire(p)
		if _, ok := p.open[key]; ok || len(p.open) < g.limit {
			p.add(key, g.now())
			g.mu.Unlock()
			return true
		}
		wake := p.wake
		until := g.ttl - g.now().Sub(p.order[0].at) // expire left the oldest open key first
		g.mu.Unlock()
		t := time.NewTimer(until)
		select {
		case <-wake:
		case <-t.C:
		case <-stop:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

func (g *Gate) partition(n int32) *gatePartition {
	p, ok := g.parts[n]
	if !ok {
		p = &gatePartition{open: map[string]time.Time{}, wake: make(chan struct{})}
		g.parts[n] = p
	}
	return p
}

// expire drops closed keys from the front of the openings and closes the
// keys open longer than the TTL. g.mu is held.
func (g *Gate) expire(p *gatePartition) {
	now := g.now()
	i := 0
	for ; i < len(p.order); i++ {
		e := p.order[i]
		at, ok := p.open[e.key]
		if ok && !at.Equal(e.at) {
			continue // reopened: a later entry stands for it
		}
		if ok && now.Sub(at) < g.ttl {
			break
		}
		delete(p.open, e.key)
	}
	p.order = p.order[i:]
}

// add opens key at t unless it is open.
func (p *gatePartition) add(key string, t time.Time) {
	if _, ok := p.open[key]; ok {
		return
	}
	p.open[key] = t
	p.order = append(p.order, gateEntry{key: key, at: t})
}
