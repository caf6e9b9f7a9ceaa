// Package postback will hold the dispatch role: consumers of `postbacks` and
// `analytics` that deliver conversions to ad networks and analytics tools,
// with delivery state keyed by idempotency key, tiered retries and a DLQ
// (DESIGN §7). Nothing is here yet.
package postback
