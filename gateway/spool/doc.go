// Package spool is a bounded, local, durable queue of records in front of
// the Kafka producer.
//
// The gateway answers a request only once its record is safe: acknowledged
// by the broker, or written to the spool and fsynced. While the broker is
// unreachable, Publish appends records to the spool; Run (the drainer)
// publishes them in order once the broker is back. Only a full spool makes
// the gateway refuse requests (ErrFull, answered 503). Enqueue always
// appends, for callers that answer right after the fsync and never wait for
// the broker.
//
// # Storage
//
// A spool is one Pebble database. Records are stored under the key 'r'
// followed by a big-endian uint64 sequence, so the drainer reads them in
// the order they were appended, and deletes them one by one once the broker
// acknowledged them; the sequence continues after the last key
// found by Open. The value is the record (topic, key, value and headers) in
// a compact binary encoding that starts with a version byte (see encode.go).
// Open recounts records and bytes by iterating the database; the bound
// (WithMaxBytes) applies to the encoded records and their keys.
//
// # Group commit
//
// Appenders hand their records to a single writer goroutine. The writer
// takes every record waiting (up to 1024 records or 8 MiB), writes them in
// one batch committed with one fsync, and then answers all of their
// appenders. Concurrent appenders thus share fsyncs; the histogram
// hazelnut.spool.fsync.group_size shows how many records one fsync carried.
//
// # Order and the switch between direct and spooled publishing
//
// Publish sends directly only while nothing is in the spool: no record
// committed and not yet deleted, and no record on its way to the writer.
// The drainer deletes a batch, and lowers the count, only after the broker
// acknowledged all of it, so a Publish that arrives while records wait is
// appended behind them and cannot overtake them. Once the drainer deleted
// the last batch, Publish sends directly again. Records of concurrent
// Publish calls have no order between them; records of one caller that
// waits for each Publish keep their order.
//
// # Failures
//
// Pebble treats a failed write or fsync of its log as fatal: the process
// stops (the logger panics) rather than report success for a record that
// may not be on disk. A record the drainer cannot decode (an unknown
// encoding version) makes Run return an error; the supervisor restarts it,
// and the spool keeps filling until it is full, which the gateway reports
// with 503s.
//
// # Duplicates
//
// Delivery is at least once. Three cases publish a record twice with the
// same content: the drainer's deletions are not synced of their own, so a
// crash can bring back batches the broker had acknowledged; a direct send
// whose acknowledgement did not arrive within the send timeout is spooled,
// but the producer may still write it (possibly after records published
// later); and a drain batch that failed part way is retried whole, so
// records of it that the broker had acknowledged are sent again. Consumers
// drop duplicates by the request id carried inside the values.
package spool
