package pebblestore

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
	"go.uber.org/zap"
)

var _ storage.Iterator = (*iterator)(nil)

// iterator implements storage.Iterator over a snapshot of the user keyspace.
//
// Positioning follows goka's LevelDB storage: the iterator starts before the
// first key, Next advances, and Seek positions the iterator on the first key
// >= the sought key (so Key/Value are valid right after a successful Seek and
// a following Next moves past it).
type iterator struct {
	s *Store

	// All fields below are accessed with s.mu held (shared by the iterator's
	// own goroutine, exclusively by Store.Close).
	it      *pebble.Iterator // nil once released
	started bool
	valid   bool
	err     error // error reported after release
	// keep, when set, chooses the entries Next returns (IterFilter).
	keep EntryFilter
}

func (i *iterator) Next() bool {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return false
	}
	if i.started {
		i.valid = i.it.Next()
	} else {
		i.started = true
		i.valid = i.it.First()
	}
	i.skipRejected()
	return i.valid
}

// skipRejected moves past the entries the filter rejects, from the
// current one on.
func (i *iterator) skipRejected() {
	for i.valid && i.keep != nil && !i.kept() {
		i.valid = i.it.Next()
	}
}

// kept asks the filter about the current entry. An entry whose value
// cannot be read is returned: the reader then meets the error itself.
func (i *iterator) kept() bool {
	v, err := i.it.ValueAndErr()
	if err != nil {
		return true
	}
	return i.keep(i.it.Key()[1:], v)
}

func (i *iterator) Seek(key []byte) bool {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return false
	}
	i.started = true
	// Pebble clamps the seek key to the iterator bounds.
	i.valid = i.it.SeekGE(userKey(key))
	i.skipRejected()
	return i.valid
}

func (i *iterator) Err() error {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return i.err
	}
	return i.it.Error()
}

// Key returns the current user key, or nil if the iterator is not positioned
// on a key. The slice is only valid until the iterator moves.
func (i *iterator) Key() []byte {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil || !i.valid {
		return nil
	}
	return i.it.Key()[1:]
}

// Value returns the current value, or nil if the iterator is not positioned
// on a key. An empty stored value is returned as a non-nil empty slice. The
// slice is only valid until the iterator moves.
func (i *iterator) Value() ([]byte, error) {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil || !i.valid {
		return nil, nil
	}
	v, err := i.it.ValueAndErr()
	if err != nil {
		i.valid = false
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Release closes the iterator. It is safe to call more than once.
func (i *iterator) Release() {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return
	}
	i.s.forget(i)
	if err := i.closeLocked(nil); err != nil {
		i.s.log.Warn("releasing iterator", zap.Error(err))
	}
}

// closeLocked closes the Pebble iterator; s.mu must be held. errAfter is what
// Err reports from now on if the iterator itself had no error.
func (i *iterator) closeLocked(errAfter error) error {
	err := i.it.Close()
	i.it, i.valid = nil, false
	if err != nil {
		i.err = err
	} else {
		i.err = errAfter
	}
	return err
}
