package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
	"go.uber.org/zap"
)

// ErrClosed is returned by every operation on a Store (and its iterators)
// after Close has been called.
var ErrClosed = errors.New("pebblestore: store is closed")

const (
	userPrefix = 'u'
	metaPrefix = 'm'
)

var (
	// offsetKey stores the last applied changelog offset as 8 big-endian bytes.
	offsetKey = []byte{metaPrefix, 'o', 'f', 'f', 's', 'e', 't'}
	// userUpper is the exclusive upper bound of the user keyspace.
	userUpper = []byte{userPrefix + 1}
)

var _ storage.Storage = (*Store)(nil)

// Store is a goka storage.Storage backed by one Pebble database.
// See the package documentation for its concurrency and durability contract.
type Store struct {
	cfg  config
	path string
	log  *zap.Logger

	// mu guards db against Close: operations hold it shared for the duration
	// of their Pebble call, Close holds it exclusively.
	mu     sync.RWMutex
	db     *pebble.DB
	closed bool
	// noWAL says the database has no write-ahead log (pebble.Options
	// DisableWAL): Close flushes the memtables.
	noWAL bool

	// fs and lock belong to the database directory; the lock is held from
	// before the unclean-stop marker is inspected until after it has been
	// removed (or kept) by Close.
	fs   vfs.FS
	lock *pebble.Lock
	// afterClose runs at the end of Close, after the database has been
	// closed; clean reports whether everything before it succeeded. It must
	// call finishClose exactly once.
	afterClose func(s *Store, clean bool) error

	itersMu sync.Mutex
	iters   map[*iterator]struct{}
	// filter, when set, gives the scope of each new iterator.
	filter iterFilter
	// splits are the ends of the key ranges of the iterators' slices,
	// chosen for splitsOf slices (sliceBounds).
	splitMu  sync.Mutex
	splits   [][]byte
	splitsOf int

	// keys may contain every key in the database (nil when off): a read of
	// a key it does not contain skips Pebble.
	keys *keyFilter

	// recovered is set by MarkRecovered; read without offMu by Set/Delete.
	recovered atomic.Bool

	offMu       sync.Mutex
	offset      int64
	hasOffset   bool
	dirty       bool // offset differs from the persisted one
	lastPersist time.Time
}

// Open opens (creating if necessary) the Pebble database in directory path
// and returns it as a goka storage. Unless WithCache is given, the store gets
// a private block cache of WithCacheSize bytes that is freed on Close.
//
// If the database was not closed cleanly the last time it was open (see the
// package documentation on unclean stops), its contents are deleted and the
// store starts empty, without an offset.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := newConfig(opts)
	cache := cfg.cache
	if cache == nil {
		cache = pebble.NewCache(cfg.cacheSize)
		// The database takes its own reference; ours only has to live until
		// the open has finished.
		defer cache.Unref()
	}
	return openStore(path, cfg, cache, nil)
}

// openStore opens the database at path with cache (referenced by the caller
// for the duration of the call). afterClose, if non-nil, replaces the default
// end of Close (which removes the marker after a clean close and releases the
// directory lock); it only runs for a store that was returned.
func openStore(path string, cfg config, cache *pebble.Cache, afterClose func(*Store, bool) error) (*Store, error) {
	o := cfg.pebbleOptions(cache)
	if err := checkLayout(path, o); err != nil {
		return nil, err
	}
	fs := dirFS(o)
	if err := fs.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", path, err)
	}
	// Lock before looking at the marker: a database that is open elsewhere
	// has a marker too and must not be touched.
	lock, err := pebble.LockDirectory(path, fs)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", path, err)
	}
	unclean, previous, err := markerExists(fs, path)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	if unclean {
		cfg.logger.Warn("discarding local table state left by an unclean stop; it is rebuilt from the changelog",
			zap.String("path", path), zap.String("marker", previous))
		if err := wipeDir(fs, path); err != nil {
			_ = lock.Close()
			return nil, err
		}
	}
	if err := writeMarker(fs, path, "opened"); err != nil {
		_ = lock.Close()
		return nil, err
	}
	// fail undoes the open. The marker is kept if the database was wiped (the
	// next open wipes again, which is cheap) or may be inconsistent; a failed
	// open of a clean database leaves it clean.
	fail := func(err error, keepMarker bool) (*Store, error) {
		if !keepMarker && !unclean {
			err = errors.Join(err, removeMarker(fs, path))
		}
		return nil, errors.Join(err, lock.Close())
	}

	o.Lock = lock
	db, err := pebble.Open(path, o)
	if err != nil {
		return fail(fmt.Errorf("pebblestore: open %s: %w", path, err), false)
	}
	s := &Store{
		cfg:         cfg,
		path:        path,
		log:         cfg.logger.With(zap.String("path", path)),
		db:          db,
		noWAL:       o.DisableWAL,
		fs:          fs,
		lock:        lock,
		afterClose:  afterClose,
		iters:       make(map[*iterator]struct{}),
		lastPersist: cfg.now(),
	}
	if s.afterClose == nil {
		s.afterClose = func(s *Store, clean bool) error { return s.finishClose(!clean) }
	}
	off, ok, err := s.readOffset()
	if err != nil {
		// An unreadable offset record: discard the database next time.
		return fail(errors.Join(err, db.Close()), true)
	}
	s.offset, s.hasOffset = off, ok
	if !cfg.noKeyFilter {
		if s.keys, err = fillKeyFilter(db); err != nil {
			return fail(errors.Join(err, db.Close()), false)
		}
	}
	return s, nil
}

// fillKeyFilter returns a key filter holding every user key of db.
func fillKeyFilter(db *pebble.DB) (*keyFilter, error) {
	f := newKeyFilter()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{userPrefix}, UpperBound: userUpper})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: key filter: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		f.add(string(it.Key()[1:]))
	}
	return f, errors.Join(it.Error(), it.Close())
}

// absent reports whether key is surely not in the database.
func (s *Store) absent(key string) bool {
	return s.keys != nil && !s.keys.mayContain(key)
}

func (s *Store) readOffset() (int64, bool, error) {
	v, closer, err := s.db.Get(offsetKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("pebblestore: read offset: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("pebblestore: corrupt offset record (%d bytes) in %s", len(v), s.path)
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// Path returns the directory of the underlying database.
func (s *Store) Path() string { return s.path }

// Open is part of storage.Storage. The database is already open when the
// Store is returned, so Open only reports ErrClosed for a closed store.
func (s *Store) Open() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// Close persists the in-memory offset if needed, releases iterators that are
// still open and closes the database. If all of that succeeded (and the
// database was not discarded through its Tables), Close removes the
// unclean-stop marker, so the next open keeps the data; after any error the
// marker stays and the next open starts empty. Calling Close again returns
// nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true

	s.itersMu.Lock()
	leaked := s.iters
	s.iters = nil
	s.itersMu.Unlock()
	if len(leaked) > 0 {
		s.log.Warn("closing store with unreleased iterators", zap.Int("iterators", len(leaked)))
	}
	var errs []error
	for it := range leaked {
		if err := it.closeLocked(ErrClosed); err != nil {
			errs = append(errs, err)
		}
	}

	s.offMu.Lock()
	if s.dirty {
		if err := s.persistOffsetLocked(pebble.NoSync); err != nil {
			errs = append(errs, err)
		}
	}
	s.offMu.Unlock()

	// Without a write-ahead log the memtables are all that hold the latest
	// writes: flush them so the reopened store sees every write. Pebble
	// retries a failed flush until it succeeds, so a directory that is gone
	// is not flushed to (the store is then not closed cleanly).
	if len(errs) == 0 && s.noWAL {
		if _, err := s.fs.Stat(s.path); err != nil {
			errs = append(errs, fmt.Errorf("pebblestore: flush %s: %w", s.path, err))
		} else if err := s.db.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("pebblestore: flush %s: %w", s.path, err))
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pebblestore: close %s: %w", s.path, err))
	}
	if err := s.afterClose(s, len(errs) == 0); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// finishClose ends Close once the database is closed: unless keepMarker is
// set it removes the unclean-stop marker, then it releases the directory
// lock.
func (s *Store) finishClose(keepMarker bool) error {
	var err error
	if !keepMarker {
		err = removeMarker(s.fs, s.path)
	}
	return errors.Join(err, s.lock.Close())
}

func (s *Store) writeOpts() *pebble.WriteOptions {
	if s.cfg.syncWrites && s.recovered.Load() {
		return pebble.Sync
	}
	return pebble.NoSync
}

// syncOpts is a synced write when the database has a write-ahead log; without
// one, durability comes from a flush of the memtables.
func (s *Store) syncOpts() *pebble.WriteOptions {
	if s.noWAL {
		return pebble.NoSync
	}
	return pebble.Sync
}

func userKey(key []byte) []byte {
	k := make([]byte, len(key)+1)
	k[0] = userPrefix
	copy(k[1:], key)
	return k
}

func userKeyString(key string) []byte {
	k := make([]byte, len(key)+1)
	k[0] = userPrefix
	copy(k[1:], key)
	return k
}

// Has reports whether key exists.
func (s *Store) Has(key string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	if s.absent(key) {
		return false, nil
	}
	_, closer, err := s.db.Get(userKeyString(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pebblestore: has %q: %w", key, err)
	}
	return true, closer.Close()
}

// Get returns a copy of the value stored under key, or nil, nil if the key
// does not exist. A key stored with an empty or nil value yields a non-nil
// empty slice.
func (s *Store) Get(key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.absent(key) {
		return nil, nil
	}
	v, closer, err := s.db.Get(userKeyString(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pebblestore: get %q: %w", key, err)
	}
	// v is only valid until closer.Close.
	out := append(make([]byte, 0, len(v)), v...)
	return out, closer.Close()
}

// Set stores value under key. The value is copied; a nil value is stored as
// an empty value (as goka's LevelDB storage does).
func (s *Store) Set(key string, value []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.keys != nil {
		s.keys.add(key) // before the write: a concurrent read may see it either way
	}
	if err := s.db.Set(userKeyString(key), value, s.writeOpts()); err != nil {
		return fmt.Errorf("pebblestore: set %q: %w", key, err)
	}
	return nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(key string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.db.Delete(userKeyString(key), s.writeOpts()); err != nil {
		return fmt.Errorf("pebblestore: delete %q: %w", key, err)
	}
	return nil
}

// GetOffset returns the last offset passed to SetOffset (or persisted by an
// earlier incarnation of the store), or def if there is none. Unlike goka's
// LevelDB storage, an offset of 0 is a valid stored offset.
func (s *Store) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.offMu.Lock()
	defer s.offMu.Unlock()
	if !s.hasOffset {
		return def, nil
	}
	return s.offset, nil
}

// SetOffset records the last changelog offset applied to the store. Before
// MarkRecovered it is persisted lazily (see WithRecoveryOffsetInterval);
// afterwards it is written on every call.
func (s *Store) SetOffset(offset int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.offMu.Lock()
	defer s.offMu.Unlock()
	s.offset, s.hasOffset, s.dirty = offset, true, true
	if s.cfg.now().Sub(s.lastPersist) >= s.cfg.recoveryInterval {
		return s.persistOffsetLocked(s.writeOpts())
	}
	return nil
}

// persistOffsetLocked writes the in-memory offset. Callers hold offMu and mu
// (shared or exclusive) with the store open.
func (s *Store) persistOffsetLocked(wo *pebble.WriteOptions) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(s.offset))
	if err := s.db.Set(offsetKey, buf[:], wo); err != nil {
		return fmt.Errorf("pebblestore: persist offset %d: %w", s.offset, err)
	}
	s.dirty = false
	s.lastPersist = s.cfg.now()
	return nil
}

// MarkRecovered ends the recovery phase: the current offset is persisted and
// made durable with everything written before it — by a WAL sync, or by a
// flush of the memtables when the database has no write-ahead log. Calling it
// again is harmless.
func (s *Store) MarkRecovered() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.offMu.Lock()
	defer s.offMu.Unlock()
	if s.recovered.Load() {
		return nil
	}
	if s.hasOffset {
		if err := s.persistOffsetLocked(s.syncOpts()); err != nil {
			return err
		}
		if s.noWAL {
			if err := s.db.Flush(); err != nil {
				return fmt.Errorf("pebblestore: flush %s: %w", s.path, err)
			}
		}
	}
	s.recovered.Store(true)
	return nil
}

// Iterator returns an iterator over a snapshot of all user keys.
func (s *Store) Iterator() (storage.Iterator, error) {
	return s.newIterator([]byte{userPrefix}, userUpper)
}

// IteratorWithRange returns an iterator over a snapshot of the keys in
// [start, limit). A nil start is unbounded below. If limit is empty (nil or
// zero length), the range is instead every key having start as a prefix,
// which for an empty start means all keys; this matches goka's LevelDB
// storage (util.BytesPrefix). If start >= limit the iterator is empty.
func (s *Store) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	lower := userKey(start)
	var upper []byte
	if len(limit) > 0 {
		upper = userKey(limit)
		if string(start) >= string(limit) {
			upper = lower
		}
	} else {
		upper = prefixEnd(lower)
	}
	return s.newIterator(lower, upper)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
// p starts with userPrefix, so the result is at most userUpper.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // unreachable for keys with userPrefix
}

func (s *Store) newIterator(lower, upper []byte) (storage.Iterator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var scope IterScope
	if s.filter != nil {
		scope = s.filter()
	}
	if scope.Slices > 1 {
		lo, hi := s.sliceBounds(scope.Slice, scope.Slices)
		lower, upper = narrow(lower, upper, lo, hi)
	}
	pit, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: new iterator: %w", err)
	}
	it := &iterator{s: s, it: pit, keep: scope.Keep}
	s.itersMu.Lock()
	s.iters[it] = struct{}{}
	s.itersMu.Unlock()
	return it, nil
}

func (s *Store) forget(it *iterator) {
	s.itersMu.Lock()
	delete(s.iters, it)
	s.itersMu.Unlock()
}
