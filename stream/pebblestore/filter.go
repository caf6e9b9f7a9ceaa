package pebblestore

import (
	"bytes"
	"slices"
	"sync/atomic"
)

// EntryFilter reports whether an iterator returns the entry of key with
// value. Both slices are only valid during the call.
type EntryFilter func(key, value []byte) bool

// IterScope narrows one iterator. The zero value narrows nothing.
type IterScope struct {
	// Slice and Slices restrict the iterator to the Slice-th (from 0) of
	// Slices key ranges that divide the store's table files into parts of
	// about equal size; Slices <= 1 means every key. The store chooses the
	// ranges when an iterator of Slice 0 opens (or when it has none for
	// Slices) and keeps them for the later slices, so the iterators of
	// slices 0 to Slices-1 opened in turn meet every key in exactly one of
	// them. When the store opens in the middle of such a pass, its ranges
	// are chosen then, and a key may be met twice or not at all until the
	// next pass.
	Slice, Slices int
	// Keep, when set, chooses the entries the iterator returns (an
	// EntryFilter; spelled out so that a struct of the same fields, such
	// as a sweeper's scope, converts to IterScope).
	Keep func(key, value []byte) bool
}

// IterFilter returns the scope of an iterator that is opened now on the
// store of topic and partition.
type IterFilter func(topic string, partition int32) IterScope

// FilterIterators makes the iterators of t's stores ask f for their scope:
// each Iterator or IteratorWithRange call asks f(topic, partition) once;
// the iterator then covers only the scope's slice of the keys (within the
// range asked for) and skips the entries its Keep rejects. nil turns
// filtering off. It affects iterators opened afterwards.
//
// It lets a caller that walks a table through goka (a processor's visitor
// reaches every key of the table) read only a slice of the table and have
// only the entries it cares about handed on, while the walk itself stays
// in the iterating goroutine.
func (t *Tables) FilterIterators(f IterFilter) {
	if f == nil {
		t.filter.Store(nil)
		return
	}
	t.filter.Store(&f)
}

// iterFilter is what a Store of a Tables asks at each iterator it opens.
type iterFilter func() IterScope

func tablesFilter(p *atomic.Pointer[IterFilter], topic string, partition int32) iterFilter {
	return func() IterScope {
		f := p.Load()
		if f == nil {
			return IterScope{}
		}
		return (*f)(topic, partition)
	}
}

// sliceBounds returns the bounds [lower, upper) of slice i of n, choosing
// the ranges when i is 0 or none are kept for n. The caller holds s.mu
// shared.
func (s *Store) sliceBounds(i, n int) (lower, upper []byte) {
	s.splitMu.Lock()
	defer s.splitMu.Unlock()
	if i == 0 || s.splitsOf != n {
		s.splits, s.splitsOf = s.splitKeys(n), n
	}
	// Bound j is the lower end of slice j: the user keyspace's start for
	// slice 0, the split keys, then the end of the keyspace for the slices
	// past the last split (there are fewer splits when the table has few
	// files).
	bound := func(j int) []byte {
		switch {
		case j == 0:
			return []byte{userPrefix}
		case j <= len(s.splits):
			return s.splits[j-1]
		default:
			return userUpper
		}
	}
	return bound(i), bound(i + 1)
}

// splitKeys returns at most n-1 increasing user-keyspace keys that divide
// the store's table files into n parts of about equal size, each file
// counted at its smallest key. The memtables are not counted: their keys
// fall into the ranges like any other. The caller holds s.mu shared.
func (s *Store) splitKeys(n int) [][]byte {
	levels, err := s.db.SSTables()
	if err != nil || n <= 1 {
		return nil // one slice holds every key
	}
	type file struct {
		start []byte
		size  uint64
	}
	var files []file
	var total uint64
	for _, level := range levels {
		for _, f := range level {
			start := f.Smallest.UserKey
			if bytes.Compare(start, userUpper) >= 0 || bytes.Compare(f.Largest.UserKey, []byte{userPrefix}) < 0 {
				continue // no user keys
			}
			files = append(files, file{start: start, size: f.Size})
			total += f.Size
		}
	}
	slices.SortFunc(files, func(a, b file) int { return bytes.Compare(a.start, b.start) })
	var splits [][]byte
	var before uint64
	next := 1
	for _, f := range files {
		// f starts the next part once the files before it hold its share.
		for next < n && before*uint64(n) >= total*uint64(next) {
			last := []byte{userPrefix}
			if len(splits) > 0 {
				last = splits[len(splits)-1]
			}
			if bytes.Compare(f.start, last) > 0 {
				splits = append(splits, bytes.Clone(f.start))
			}
			next++
		}
		before += f.size
	}
	return splits
}

// narrow intersects [lower, upper) with [lo, hi); an empty intersection
// gives lower == upper.
func narrow(lower, upper, lo, hi []byte) ([]byte, []byte) {
	if bytes.Compare(lo, lower) > 0 {
		lower = lo
	}
	if bytes.Compare(hi, upper) < 0 {
		upper = hi
	}
	if bytes.Compare(lower, upper) > 0 {
		upper = lower
	}
	return lower, upper
}
