package pebblestore

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// NewBuilder returns a goka storage.Builder that opens one Pebble database per
// topic and partition at <dir>/<topic>/<partition>.
//
// All stores built by the same builder share one block cache. Unless
// WithCache is given, the builder creates that cache (WithCacheSize bytes,
// default 64 MiB) when its first store opens and releases it when its last
// open store closes, so a builder that has no open stores holds no memory and
// needs no cleanup. (A reopened database never benefits from blocks cached by
// its previous incarnation, so nothing is lost by releasing the cache when
// goka closes every partition on a rebalance.)
//
// The topic must be a valid single path element (Kafka topic names always
// are) and the partition must not be negative.
func NewBuilder(dir string, opts ...Option) storage.Builder {
	return newBuilder(dir, opts...).build
}

type builder struct {
	dir string
	cfg config

	mu    sync.Mutex
	cache *pebble.Cache // owned by the builder while live > 0; nil with WithCache
	live  int           // stores opened (or opening) with cache
}

func newBuilder(dir string, opts ...Option) *builder {
	return &builder{dir: dir, cfg: newConfig(opts)}
}

func (b *builder) build(topic string, partition int32) (storage.Storage, error) {
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	if partition < 0 {
		return nil, fmt.Errorf("pebblestore: invalid partition %d for topic %q", partition, topic)
	}
	path := filepath.Join(b.dir, topic, strconv.Itoa(int(partition)))

	if b.cfg.cache != nil {
		// The caller owns the cache and keeps a reference; the database
		// takes its own.
		st, err := openStore(path, b.cfg, b.cfg.cache, nil)
		if err != nil {
			return nil, err
		}
		return st, nil
	}

	cache := b.acquire()
	st, err := openStore(path, b.cfg, cache, b.release)
	if err != nil {
		b.release()
		return nil, err
	}
	return st, nil
}

// acquire returns the shared cache, creating it if needed, and counts one more
// live store. The builder's own reference keeps the cache valid until the
// matching release.
func (b *builder) acquire() *pebble.Cache {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cache == nil {
		b.cache = pebble.NewCache(b.cfg.cacheSize)
	}
	b.live++
	return b.cache
}

func (b *builder) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.live--
	if b.live == 0 {
		// Databases hold their own references; the cache memory is freed
		// once the last of them has closed, which has already happened.
		b.cache.Unref()
		b.cache = nil
	}
}

func validTopic(topic string) error {
	if topic == "" || topic == "." || topic == ".." ||
		strings.ContainsAny(topic, "/\\\x00") || strings.ContainsRune(topic, filepath.Separator) {
		return fmt.Errorf("pebblestore: topic %q cannot be used as a directory name", topic)
	}
	return nil
}
