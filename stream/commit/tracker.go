package commit

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNotIncreasing is returned by Tracker.Start for an offset that is not
// greater than the previously started one.
var ErrNotIncreasing = errors.New("commit: offset not greater than the last started offset")

// minRing is the smallest ring the tracker keeps; it must be a power of two.
const minRing = 16

// Tracker follows the offsets of one partition from delivery to completion
// and tells how far the partition may be committed.
//
// Offsets are registered with Start in strictly increasing order, the order
// in which they were delivered; they need not be consecutive (compacted
// topics and transaction markers leave gaps). Done marks a registered offset
// finished, in any order. The tracker reports the highest offset N such that
// every registered offset ≤ N is done; the offset to commit is N+1.
//
// A Tracker is safe for concurrent use: Start and Done may be called from
// different goroutines. Start is O(1) amortized, Done is O(log p) where p is
// the number of pending offsets. Memory is proportional to the number of
// pending offsets (registered but not yet committable) and shrinks back when
// they finish.
//
// The zero value is ready to use.
type Tracker struct {
	mu sync.Mutex

	// ring holds the pending offsets in increasing order, from ring[head]
	// for n entries, wrapping around; len(ring) is zero or a power of two.
	ring []entry
	head int
	n    int

	unfinished int
	last       int64 // last started offset, valid when started
	started    bool
	commit     int64 // next offset to commit, valid when committed
	committed  bool
}

type entry struct {
	offset int64
	done   bool
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{} }

// Start registers a delivered offset as in flight. Offsets must be started
// in strictly increasing order; an offset not greater than the previous one,
// or a negative one, is rejected and not registered.
func (t *Tracker) Start(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("commit: negative offset %d", offset)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started && offset <= t.last {
		return fmt.Errorf("%w: %d after %d", ErrNotIncreasing, offset, t.last)
	}
	if t.n == len(t.ring) {
		t.resize(max(minRing, 2*len(t.ring)))
	}
	t.ring[(t.head+t.n)&(len(t.ring)-1)] = entry{offset: offset}
	t.n++
	t.unfinished++
	t.last, t.started = offset, true
	return nil
}

// Done marks a started offset finished. It returns the offset to commit
// (highest contiguous finished offset + 1) and whether this call advanced
// it; commitOffset is meaningless while no offset has finished in order (see
// CommitOffset). Done is idempotent; an offset that was never started, or
// that is already covered by the commit offset, changes nothing.
func (t *Tracker) Done(offset int64) (commitOffset int64, advanced bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.find(offset)
	if !ok || t.at(i).done {
		return t.commit, false
	}
	t.at(i).done = true
	t.unfinished--
	if i != 0 {
		return t.commit, false
	}
	for t.n > 0 && t.at(0).done {
		t.commit, t.committed = t.at(0).offset+1, true
		t.head = (t.head + 1) & (len(t.ring) - 1)
		t.n--
	}
	t.shrink()
	return t.commit, true
}

// CommitOffset returns the offset to commit: one past the highest offset N
// such that every started offset ≤ N is done. ok is false while no offset
// has finished in order yet.
func (t *Tracker) CommitOffset() (offset int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commit, t.committed
}

// Highest returns the highest offset N such that every started offset ≤ N
// is done; it is CommitOffset()-1. ok is false while no offset has finished
// in order yet.
func (t *Tracker) Highest() (offset int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commit - 1, t.committed
}

// Pending is the number of started offsets not yet covered by the commit
// offset: the unfinished ones and the finished ones waiting behind them.
// These are the offsets a restart would deliver again.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Unfinished is the number of started offsets not yet done.
func (t *Tracker) Unfinished() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unfinished
}

// at returns the i-th pending entry; t.mu must be held.
func (t *Tracker) at(i int) *entry {
	return &t.ring[(t.head+i)&(len(t.ring)-1)]
}

// find binary-searches the pending entries for offset; t.mu must be held.
func (t *Tracker) find(offset int64) (int, bool) {
	if t.n == 0 || offset < t.at(0).offset || offset > t.at(t.n-1).offset {
		return 0, false
	}
	lo, hi := 0, t.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.at(mid).offset < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < t.n && t.at(lo).offset == offset
}

// shrink halves the ring while at most a quarter of it is used, so memory
// follows the number of pending offsets back down; t.mu must be held.
func (t *Tracker) shrink() {
	size := len(t.ring)
	for size > minRing && t.n <= size/4 {
		size /= 2
	}
	if size < len(t.ring) {
		t.resize(size)
	}
}

// resize moves the pending entries into a ring of size; t.mu must be held.
func (t *Tracker) resize(size int) {
	ring := make([]entry, size)
	for i := 0; i < t.n; i++ {
		ring[i] = *t.at(i)
	}
	t.ring, t.head = ring, 0
}
