// Package sinks will hold the analytics sinks: consumers of `attributions`,
// `user-events`, `clicks-recorded` and `postback-logs` that write ClickHouse
// rows in batches and commit Kafka offsets only after a successful flush
// (DESIGN §8). Nothing is here yet.
package sinks
