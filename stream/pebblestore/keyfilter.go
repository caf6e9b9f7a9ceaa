package pebblestore

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// keyFilter is a Bloom filter over every key the store holds: a key it
// does not contain is not in the database, so a read of it skips Pebble
// (whose memtables are searched before the tables' own filters are asked).
// Most reads of a key that is not there are of keys that never were: an
// install's first init, a decision or a device seen for the first time.
//
// It is filled at open with every key of the database and then with every
// key set; deleted keys stay in it (they read as "maybe", which Pebble
// answers). It grows by adding layers of twice the size as keys come, each
// with about 1% false positives at capacity. Safe for concurrent use.
type keyFilter struct {
	seed   maphash.Seed
	mu     sync.Mutex // serializes growth
	layers atomic.Pointer[[]*filterLayer]
}

type filterLayer struct {
	words []atomic.Uint64
	mask  uint64 // bit count - 1 (a power of two)
	cap   int64
	n     atomic.Int64
}

const (
	filterProbes      = 7
	filterBitsPerKey  = 10
	filterFirstLayer  = 1 << 14 // keys
	filterMaxCapacity = 1 << 40
)

func newKeyFilter() *keyFilter {
	f := &keyFilter{seed: maphash.MakeSeed()}
	layers := []*filterLayer{newFilterLayer(filterFirstLayer)}
	f.layers.Store(&layers)
	return f
}

func newFilterLayer(capacity int64) *filterLayer {
	nbits := uint64(1) << bits.Len64(uint64(capacity*filterBitsPerKey)-1)
	return &filterLayer{words: make([]atomic.Uint64, nbits/64), mask: nbits - 1, cap: capacity}
}

// add records key.
func (f *keyFilter) add(key string) {
	h := maphash.String(f.seed, key)
	layers := *f.layers.Load()
	l := layers[len(layers)-1]
	if l.n.Add(1) > l.cap {
		l = f.grow(l)
	}
	for i := uint64(0); i < filterProbes; i++ {
		b := l.bit(h, i)
		l.words[b/64].Or(1 << (b % 64))
	}
}

// bit is the bit of the layer that probe i of hash h sets.
func (l *filterLayer) bit(h, i uint64) uint64 {
	return (h + i*(h>>32|1)) & l.mask
}

// grow adds a layer once full is the last one and returns the last layer.
func (f *keyFilter) grow(full *filterLayer) *filterLayer {
	f.mu.Lock()
	defer f.mu.Unlock()
	layers := *f.layers.Load()
	last := layers[len(layers)-1]
	if last != full {
		return last // another add grew it
	}
	next := append(append([]*filterLayer(nil), layers...), newFilterLayer(min(2*full.cap, filterMaxCapacity)))
	f.layers.Store(&next)
	return next[len(next)-1]
}

// mayContain reports false only for a key that was never added.
func (f *keyFilter) mayContain(key string) bool {
	h := maphash.String(f.seed, key)
	for _, l := range *f.layers.Load() {
		if l.has(h) {
			return true
		}
	}
	return false
}

// has reports whether every bit hash h sets in the layer is set.
func (l *filterLayer) has(h uint64) bool {
	for i := uint64(0); i < filterProbes; i++ {
		b := l.bit(h, i)
		if l.words[b/64].Load()&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}
