// Package pebblestore implements goka's table storage (storage.Storage,
// storage.Iterator and storage.Builder from github.com/lovoo/goka/storage) on
// top of Pebble.
//
// # What the package owns
//
// A Store owns exactly one Pebble database directory. A Builder (see
// NewBuilder) lays databases out as <dir>/<topic>/<partition>, so one builder
// can serve group tables, joined tables and views at the same time, and all
// databases opened through the same builder share one Pebble block cache. The
// shared cache is reference counted: it is created when the first store of a
// builder opens and released when the last one closes.
//
// Inside a database, user keys live under the prefix 'u' and package
// metadata (currently only the changelog offset) under the prefix 'm'.
// Iterators are bounded to the user keyspace, so metadata can never show up in
// iteration and user keys may be arbitrary bytes, including "__offset" (the
// reserved key of goka's LevelDB storage).
//
// # Concurrency
//
// A Store is safe for any number of concurrent readers together with
// concurrent writers (goka uses one writer, plus SetOffset from producer
// acknowledgements). A single Iterator must not be used from several
// goroutines at once, but any number of iterators may be used concurrently.
// Every iterator reads a point-in-time snapshot taken when it was created.
//
// Close may race with other calls: once Close has started, every other method
// returns ErrClosed (iterators stop and report ErrClosed from Err) instead of
// touching the closed database. Iterators still open at Close are released
// by Close.
//
// # Durability and failure contract
//
// The local store is a cache of a Kafka changelog topic; the changelog is the
// source of truth. Therefore writes are not fsynced by default (pebble.NoSync)
// and the store only guarantees that the offset returned by GetOffset after a
// crash never runs ahead of the data: Pebble recovers a prefix of the write
// sequence, and the offset is always written after the data it covers. After
// a crash goka re-reads the changelog from the recovered offset and replays
// messages that may already be present, which is idempotent.
//
// Before MarkRecovered (bulk recovery from the changelog) SetOffset only
// updates an in-memory offset, which is persisted at most once per
// recovery offset interval (see WithRecoveryOffsetInterval), at MarkRecovered
// and at Close. MarkRecovered persists the offset with a WAL sync, making the
// recovered state durable. After MarkRecovered every SetOffset is written to
// Pebble immediately (without sync unless WithSyncWrites is set). Close
// persists the offset and Pebble syncs its WAL when closing, so a cleanly
// closed store is fully durable and a reopened one sees all earlier data and
// its offset.
package pebblestore
