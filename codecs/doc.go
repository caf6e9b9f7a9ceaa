// Package codecs defines every message Hazelnut writes to Kafka, one Go type
// per wire message, and the goka codecs that carry them. The wire format is
// JSON and pinned by golden files in testdata/: renaming a field fails a
// test. This package imports nothing of Hazelnut.
package codecs
