package pebblestore

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
	"go.uber.org/zap"
)

// NewBuilder returns a goka storage.Builder that opens one Pebble database per
// topic and partition at <dir>/<topic>/<partition>. It is New(dir,
// opts...).Builder() for callers that never need Tables.Discard.
func NewBuilder(dir string, opts ...Option) storage.Builder {
	return New(dir, opts...).Builder()
}

// Tables is a set of Pebble databases under one directory, laid out as
// <dir>/<topic>/<partition>, handed to goka through Builder. Besides opening
// the databases it remembers which ones it has opened, so that Discard can
// throw away their state after a run that ended uncleanly.
//
// All stores built by the same Tables share one block cache. Unless
// WithCache or WithSharedCache is given, the Tables creates that cache
// (WithCacheSize bytes, default DefaultCacheSize) when its first store opens
// and releases it when its last open store closes, so a Tables that has no open stores holds no memory and
// needs no cleanup. (A reopened database never benefits from blocks cached by
// its previous incarnation, so nothing is lost by releasing the cache when
// goka closes every partition on a rebalance.)
//
// Use one Tables per goka processor (or view) whose failures should be
// handled together: Discard affects every database the Tables has opened.
// Two Tables (or processes) must not open the same database at once; the
// second open fails on Pebble's directory lock. A Tables is safe for
// concurrent use.
type Tables struct {
	dir string
	cfg config

	mu sync.Mutex
	// blocks is the block cache the stores share unless WithCache is
	// given: the Tables' own, or a WithSharedCache one.
	blocks *SharedCache
	// paths holds every database opened (or being opened) since New or the
	// last Discard that covered it.
	paths map[string]*pathState
	// filter is set by FilterIterators.
	filter atomic.Pointer[IterFilter]
}

// pathState tracks one database directory of a Tables. It is guarded by
// Tables.mu.
type pathState struct {
	busy    bool   // a store is being opened or is open
	opened  bool   // a store was opened successfully
	discard bool   // Discard was called while busy: wipe the state
	fs      vfs.FS // file system of the last successful open
}

// New returns Tables storing its databases under dir. Options apply to every
// database.
func New(dir string, opts ...Option) *Tables {
	cfg := newConfig(opts)
	blocks := cfg.shared
	if blocks == nil {
		blocks = NewSharedCache(cfg.cacheSize)
	}
	return &Tables{dir: dir, cfg: cfg, blocks: blocks, paths: make(map[string]*pathState)}
}

// Builder returns the goka storage.Builder that opens the databases of t.
//
// The topic must be a valid single path element (Kafka topic names always
// are) and the partition must not be negative. A database that is already
// open through t cannot be opened again until it has been closed.
func (t *Tables) Builder() storage.Builder { return t.build }

// Discard declares that the run which used these tables ended uncleanly
// (for example, goka's Processor.Run returned an error): local state may
// hold table writes whose changelog records Kafka never acknowledged, so it
// must be rebuilt from the changelog.
//
// Every database opened through t since New (or since the Discard that
// covered it) is discarded: a closed one is deleted now, an open one (or
// one being opened) is deleted when it is next opened, even if it is closed
// cleanly in between. Databases opened after Discard returns are not
// affected. Call Discard after Run has returned (goka has then closed the
// stores); calling it earlier is safe but stores opened afterwards belong to
// the next run.
//
// Discard holds t's lock while deleting, so builds and closes of t's stores
// wait for it. On error (a directory could not be deleted, e.g. because
// another process holds its lock) the remaining databases are still
// processed, and the failed ones stay covered by the next Discard.
func (t *Tables) Discard() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for path, e := range t.paths {
		if e.busy {
			e.discard = true
			t.cfg.logger.Warn("local table state is discarded when next opened", zap.String("path", path))
			continue
		}
		if err := discardClosed(e.fs, path); err != nil {
			errs = append(errs, err)
			continue
		}
		t.cfg.logger.Warn("discarded local table state after an unclean stop", zap.String("path", path))
		delete(t.paths, path)
	}
	return errors.Join(errs...)
}

func (t *Tables) build(topic string, partition int32) (storage.Storage, error) {
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	if partition < 0 {
		return nil, fmt.Errorf("pebblestore: invalid partition %d for topic %q", partition, topic)
	}
	path := filepath.Join(t.dir, topic, strconv.Itoa(int(partition)))

	t.mu.Lock()
	e := t.paths[path]
	if e == nil {
		e = &pathState{}
		t.paths[path] = e
	} else if e.busy {
		t.mu.Unlock()
		return nil, fmt.Errorf("pebblestore: open %s: already open", path)
	}
	e.busy = true
	cache := t.cfg.cache
	owned := cache == nil
	if owned {
		cache = t.acquireLocked()
	}
	t.mu.Unlock()

	// The caller owns a WithCache cache and keeps a reference; the
	// database takes its own.
	st, err := openStore(path, t.cfg, cache, func(s *Store, clean bool) error {
		return t.closed(path, e, s, clean, owned)
	})
	if err != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if owned {
			t.releaseLocked()
		}
		t.failedOpenLocked(path, e)
		return nil, err
	}
	st.filter = tablesFilter(&t.filter, topic, partition)
	t.mu.Lock()
	e.opened, e.fs = true, st.fs
	t.mu.Unlock()
	return st, nil
}

// closed ends Close of the store at path. Deciding about the marker under
// t.mu orders it with Discard: either Discard sees the path busy and the
// marker is kept here, or it sees the path closed and deletes it.
func (t *Tables) closed(path string, e *pathState, s *Store, clean, owned bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := s.finishClose(!clean || e.discard)
	e.busy = false
	if e.discard {
		// The kept marker makes the next open wipe the database.
		delete(t.paths, path)
	}
	if owned {
		t.releaseLocked()
	}
	return err
}

// failedOpenLocked updates the state of path after a failed open.
func (t *Tables) failedOpenLocked(path string, e *pathState) {
	e.busy = false
	discard := e.discard
	e.discard = false
	if !e.opened {
		// Nothing of this path was used through t.
		delete(t.paths, path)
		return
	}
	if discard {
		// Discard was called during the failed open and the database still
		// holds the state of earlier opens.
		if err := discardClosed(e.fs, path); err != nil {
			t.cfg.logger.Error("discarding local table state", zap.String("path", path), zap.Error(err))
			return // covered by the next Discard
		}
		delete(t.paths, path)
	}
}

// acquireLocked returns the block cache for one more store.
func (t *Tables) acquireLocked() *pebble.Cache { return t.blocks.acquire() }

func (t *Tables) releaseLocked() { t.blocks.release() }

// SharedCache is a Pebble block cache shared by the stores of several
// Tables (WithSharedCache), so that one memory budget serves every table of
// a process and the busiest tables get the most of it. Like a Tables' own
// cache, it is created when the first store opens and freed when the last
// one closes, so an idle SharedCache holds no memory and needs no cleanup.
// It is safe for concurrent use.
type SharedCache struct {
	size int64

	mu    sync.Mutex
	cache *pebble.Cache // referenced while live > 0
	live  int           // stores opened (or opening) with cache
}

// NewSharedCache returns a cache of bytes bytes (<= 0: DefaultCacheSize).
func NewSharedCache(bytes int64) *SharedCache {
	if bytes <= 0 {
		bytes = DefaultCacheSize
	}
	return &SharedCache{size: bytes}
}

// acquire returns the cache, creating it if needed, and counts one more
// live store. The SharedCache's own reference keeps the cache valid until
// the matching release.
func (c *SharedCache) acquire() *pebble.Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = pebble.NewCache(c.size)
	}
	c.live++
	return c.cache
}

func (c *SharedCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live--
	if c.live == 0 {
		// Databases hold their own references; the cache memory is freed
		// once the last of them has closed, which has already happened.
		c.cache.Unref()
		c.cache = nil
	}
}

func validTopic(topic string) error {
	if topic == "" || topic == "." || topic == ".." ||
		strings.ContainsAny(topic, "/\\\x00") || strings.ContainsRune(topic, filepath.Separator) {
		return fmt.Errorf("pebblestore: topic %q cannot be used as a directory name", topic)
	}
	return nil
}
