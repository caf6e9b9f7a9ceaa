package pebblestore

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"go.uber.org/zap"
)

const (
	// DefaultCacheSize is the size of the block cache a Builder shares across
	// its databases, and of the private cache of a Store opened with Open,
	// unless WithCache or WithCacheSize says otherwise.
	DefaultCacheSize int64 = 256 << 20

	// DefaultMemTableSize is the largest memtable of each database.
	DefaultMemTableSize = 16 << 20

	// DefaultRecoveryOffsetInterval is how often, at most, the in-memory
	// offset is persisted (besides MarkRecovered and Close).
	DefaultRecoveryOffsetInterval = 10 * time.Second
)

// Option configures a Store or a Builder.
type Option func(*config)

type config struct {
	cache            *pebble.Cache
	shared           *SharedCache
	cacheSize        int64
	logger           *zap.Logger
	syncWrites       bool
	recoveryInterval time.Duration
	pebbleOpts       []func(*pebble.Options)
	noKeyFilter      bool

	// now is the clock used for the recovery offset interval; tests replace it.
	now func() time.Time
}

func newConfig(opts []Option) config {
	c := config{
		cacheSize:        DefaultCacheSize,
		logger:           zap.NewNop(),
		recoveryInterval: DefaultRecoveryOffsetInterval,
		now:              time.Now,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil {
		c.logger = zap.NewNop()
	}
	if c.cacheSize <= 0 {
		c.cacheSize = DefaultCacheSize
	}
	if c.recoveryInterval < 0 {
		c.recoveryInterval = 0
	}
	return c
}

// WithoutKeyFilter turns off the in-memory filter of the keys a store holds
// (on by default): every read of a missing key then asks Pebble. The filter
// costs about 1.25 bytes per key and, at open, one pass over the keys.
func WithoutKeyFilter() Option {
	return func(cfg *config) { cfg.noKeyFilter = true }
}

// WithCache makes the stores use the given Pebble block cache instead of one
// created by this package. Every database opened with the cache takes its own
// reference, which it releases on Close; the caller keeps ownership of its
// reference and must hold it for as long as stores may still be opened with
// this option (for a Builder: as long as the builder is in use), then release
// it with Unref. Default: a cache of WithCacheSize bytes owned by the package.
func WithCache(c *pebble.Cache) Option {
	return func(cfg *config) { cfg.cache = c }
}

// WithSharedCache makes the stores of a Tables use c, which the stores of
// other Tables may use as well, instead of a cache of their own. It is
// ignored when WithCache is given.
func WithSharedCache(c *SharedCache) Option {
	return func(cfg *config) { cfg.shared = c }
}

// WithCacheSize sets the size in bytes of the block cache created by this
// package (shared by all databases of a Builder). It is ignored when WithCache
// or WithSharedCache is given. Values <= 0 select DefaultCacheSize (256 MiB).
func WithCacheSize(bytes int64) Option {
	return func(cfg *config) { cfg.cacheSize = bytes }
}

// WithLogger routes Pebble's log output and the package's own warnings to l.
// Pebble's informational messages are logged at debug level, its errors at
// error level. A nil logger (the default) discards everything.
func WithLogger(l *zap.Logger) Option {
	return func(cfg *config) { cfg.logger = l }
}

// WithSyncWrites makes Set, Delete and SetOffset wait for a WAL fsync once the
// store is recovered. Default false: the changelog topic provides durability
// and a lost local tail is simply replayed, so the databases are opened
// without a write-ahead log.
func WithSyncWrites(sync bool) Option {
	return func(cfg *config) { cfg.syncWrites = sync }
}

// WithRecoveryOffsetInterval sets how often, at most, SetOffset persists the
// offset before MarkRecovered. Zero persists on every call. Default
// DefaultRecoveryOffsetInterval (10s).
func WithRecoveryOffsetInterval(d time.Duration) Option {
	return func(cfg *config) { cfg.recoveryInterval = d }
}

// WithPebbleOptions lets the caller adjust the pebble.Options used to open
// each database (e.g. MemTableSize, MaxOpenFiles, FS). fn runs after the
// package's defaults are applied; Cache is always overwritten afterwards so
// that cache reference counting stays correct (use WithCache instead).
// Several WithPebbleOptions options are applied in order.
func WithPebbleOptions(fn func(*pebble.Options)) Option {
	return func(cfg *config) {
		if fn != nil {
			cfg.pebbleOpts = append(cfg.pebbleOpts, fn)
		}
	}
}

// pebbleOptions builds the options for one database using cache c, which
// must be non-nil and referenced by the caller for the duration of the open.
func (c *config) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	o := &pebble.Options{
		Logger:             zapLogger{l: c.logger.Sugar().With(zap.String("component", "pebble"))},
		FormatMajorVersion: pebble.FormatNewest,
	}
	// Bloom filters on every level: processors look up many keys that are
	// not in their table yet (a new click, a new touchpoint, a new
	// install), and without a filter each such miss reads a data block of
	// every table file that could hold it.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		// One index block per table file instead of Pebble's two-level
		// index (its default index block is as small as a data block):
		// every point read that reaches a file then looks up two blocks
		// in the cache instead of three.
		o.Levels[i].IndexBlockSize = 256 << 10
	}
	// Larger memtables than Pebble's 4 MiB: processors rewrite the same
	// keys within seconds (an install's state with each answer), which a
	// memtable absorbs before it reaches a table file, and fewer flushes
	// mean less compaction. Pebble starts each database with a small
	// memtable and grows it only under write load. 16 MiB rather than 32:
	// every read and write searches the memtable's skiplist, and the
	// smaller one costs less than its extra flushes and compactions (8 MiB
	// cost more again; docs/BENCHMARKS.md, step 6).
	o.MemTableSize = DefaultMemTableSize
	// No write-ahead log unless writes are to be synced: the changelog is
	// the source of truth and a crashed database is discarded at its next
	// open (see Unclean stops in the package documentation), so a log of
	// the memtable would only be written, never read. Close flushes the
	// memtables instead, so a cleanly closed store keeps everything.
	o.DisableWAL = !c.syncWrites
	for _, fn := range c.pebbleOpts {
		fn(o)
	}
	o.Cache = cache
	return o
}

// zapLogger adapts a zap logger to pebble.Logger.
type zapLogger struct {
	l *zap.SugaredLogger
}

func (z zapLogger) Infof(format string, args ...any)  { z.l.Debugf(format, args...) }
func (z zapLogger) Errorf(format string, args ...any) { z.l.Errorf(format, args...) }

// Fatalf must not return; Pebble calls it for unrecoverable states. It logs
// and panics instead of exiting the process so that deferred cleanup runs.
func (z zapLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	z.l.Error(msg)
	panic("pebble: " + msg)
}
