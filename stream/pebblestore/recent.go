package pebblestore

import "sync"

// DefaultRecentBytes bounds each store's cache of recently written values:
// off. The cache served the attribution group's re-reads of an install's
// state, which the group now keeps in memory itself; for the other tables it
// cost more than it saved (docs/BENCHMARKS.md, step 6: 2.0 s less CPU in
// writes and 0.8 s less marking per 100,000 installs without it, and no
// slower reads).
const DefaultRecentBytes = 0

// recent keeps the values last written to a store, so the read that
// usually follows a write of the same key soon after (a processor reads an
// install's state for each answer it gets, a few milliseconds after it
// wrote it) skips Pebble. Oldest writes leave first once the byte bound is
// reached. Safe for concurrent use: views read from other goroutines while
// their partition goroutine writes.
type recent struct {
	mu    sync.Mutex
	max   int
	bytes int
	seq   uint64
	vals  map[string]recentValue
	order []recentWrite // writes, oldest first, from head on
	head  int
}

type recentValue struct {
	v   []byte
	seq uint64
}

type recentWrite struct {
	key string
	seq uint64
}

func newRecent(max int) *recent {
	if max <= 0 {
		return nil
	}
	return &recent{max: max, vals: map[string]recentValue{}}
}

// get returns the cached value of key. The slice is shared: callers must
// not modify it.
func (r *recent) get(key string) ([]byte, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	e, ok := r.vals[key]
	r.mu.Unlock()
	return e.v, ok
}

// set caches a copy of value as key's value.
func (r *recent) set(key string, value []byte) {
	if r == nil {
		return
	}
	if len(key)+len(value) > r.max/4 {
		r.forget(key)
		return
	}
	v := append(make([]byte, 0, len(value)), value...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.vals[key]; ok {
		r.bytes -= len(key) + len(old.v)
	}
	r.seq++
	r.vals[key] = recentValue{v: v, seq: r.seq}
	r.bytes += len(key) + len(v)
	r.order = append(r.order, recentWrite{key: key, seq: r.seq})
	for r.bytes > r.max && r.head < len(r.order) {
		w := r.order[r.head]
		r.order[r.head] = recentWrite{}
		r.head++
		// Only the key's latest write holds its value.
		if e, ok := r.vals[w.key]; ok && e.seq == w.seq {
			r.bytes -= len(w.key) + len(e.v)
			delete(r.vals, w.key)
		}
	}
	if r.head > 1024 && r.head > len(r.order)/2 {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}

// forget drops key (deleted, or too large to cache).
func (r *recent) forget(key string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if old, ok := r.vals[key]; ok {
		r.bytes -= len(key) + len(old.v)
		delete(r.vals, key)
	}
	r.mu.Unlock()
}
