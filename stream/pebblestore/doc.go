// Package pebblestore implements goka's table storage (storage.Storage,
// storage.Iterator and storage.Builder from github.com/lovoo/goka/storage) on
// top of Pebble.
//
// # What the package owns
//
// A Store owns exactly one Pebble database directory. A Tables (see New; its
// Builder method returns the goka storage.Builder, and NewBuilder is a
// shorthand for it) lays databases out as <dir>/<topic>/<partition>, so one
// Tables can serve group tables, joined tables and views at the same time,
// and all databases opened through the same Tables share one Pebble block
// cache. The shared cache is reference counted: it is created when the first
// store of a Tables opens and released when the last one closes.
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
// # Scoped iterators
//
// Tables.FilterIterators gives every iterator a scope (IterScope): one of n
// key ranges of the store, and a filter of the entries it returns. The
// ranges divide the store's table files by size, counting each file at its
// smallest key; they are chosen when slice 0 opens and kept until the next
// slice 0, so a pass of slices 0 to n-1 meets every key once while it
// reads the table once. A table of few files gives fewer ranges (the later
// slices are empty). goka's visitor walks whatever the iterator returns, so
// a caller that visits a table slice by slice reads only its slice.
//
// # Reads that skip Pebble
//
// Every store keeps a Bloom filter of its keys (filled at open from the
// database, then from every Set; WithoutKeyFilter turns it off): a key it
// does not hold was never written, so its read answers "not found" without
// searching the memtables and table files. Deleted keys stay in the filter
// and are answered by Pebble.
//
// # Durability and failure contract
//
// The local store is a cache of a Kafka changelog topic; the changelog is the
// source of truth. Therefore writes are not fsynced by default (pebble.NoSync),
// and the databases have no write-ahead log unless WithSyncWrites asks for
// synced writes: Close flushes the memtables instead.
// A database that crashed is discarded when it is next opened (see Unclean
// stops below). Underneath that, the offset Pebble recovers after a crash
// never runs ahead of the data, because Pebble recovers a prefix of the write
// sequence and the offset is always written after the data it covers; so even
// a crashed database whose marker was lost would only make goka replay
// messages that may already be present, which is idempotent.
//
// SetOffset only updates an in-memory offset, which is persisted at most
// once per offset interval (see WithRecoveryOffsetInterval), at
// MarkRecovered and at Close — during recovery and while the processor runs
// alike: an offset written with every table write would double the writes,
// and a persisted offset that lags the data only makes goka read again
// changelog records it already has (a crash discards the store anyway, see
// below). Close persists the offset and flushes the memtables (or, with
// synced writes, Pebble syncs its WAL when closing), so a cleanly closed
// store is fully durable and a reopened one sees all earlier data and its
// offset.
//
// # Unclean stops
//
// goka writes a table value to the local store before the changelog record
// carrying it has been acknowledged by Kafka (the offset follows with the
// acknowledgement). A process that dies, or a processor that stops because
// an emit or the broker failed, can therefore leave local values that the
// changelog does not have. Such state must not be reused; the partition is
// rebuilt from the changelog instead. Two mechanisms discard it:
//
//   - Crashes. While a database is open, its directory holds a file named
//     UNCLEAN (created with fsync of the file and the directory before the
//     database is opened, under Pebble's directory lock). A clean Close
//     removes it after the database has been closed; a Close that reported
//     any error keeps it. When Open finds the file, the previous owner did
//     not close the database cleanly (SIGKILL, power loss, panic): all
//     database files are deleted, a warning naming the path is logged, and
//     the store starts empty, without an offset. goka's partition table then
//     gets the default back from GetOffset (offsetNotStored, -3) and recovers
//     the partition from the oldest offset of the changelog.
//   - Failed runs. After goka's Processor.Run returned an error, the caller
//     calls Tables.Discard: the databases the Tables has opened are deleted
//     (closed ones at once, open ones at their next open even if they are
//     closed cleanly in between).
//
// Consequently a crash always costs a full rebuild of the open partitions,
// including those that only read a changelog (views, joined tables), whose
// state could not have been ahead of Kafka. A clean shutdown keeps all state.
//
// Because deleting the database directory must delete all of its state,
// pebble.Options with a separate WALDir or with WALFailover are refused.
package pebblestore
