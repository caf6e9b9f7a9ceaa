package pebblestore

import "sync/atomic"

// EntryFilter reports whether an iterator returns the entry of key with
// value. Both slices are only valid during the call.
type EntryFilter func(key, value []byte) bool

// IterFilter returns the EntryFilter for an iterator that is opened now on
// the store of topic and partition, or nil to return every entry.
type IterFilter func(topic string, partition int32) EntryFilter

// FilterIterators makes the iterators of t's stores ask f which entries to
// return: each Iterator or IteratorWithRange call asks f(topic, partition)
// once, and the iterator skips the entries its filter rejects. nil turns
// filtering off. It affects iterators opened afterwards.
//
// It lets a caller that walks a table through goka (a processor's visitor
// reaches every key of the table) have only the entries it cares about
// handed on, while the walk itself stays in the iterating goroutine.
func (t *Tables) FilterIterators(f IterFilter) {
	if f == nil {
		t.filter.Store(nil)
		return
	}
	t.filter.Store(&f)
}

// iterFilter is what a Store of a Tables asks at each iterator it opens.
type iterFilter func() EntryFilter

func tablesFilter(p *atomic.Pointer[IterFilter], topic string, partition int32) iterFilter {
	return func() EntryFilter {
		f := p.Load()
		if f == nil {
			return nil
		}
		return (*f)(topic, partition)
	}
}
