// Package poll is the deadline helper tests use instead of sleeping: it
// re-checks a condition every few milliseconds until it holds or the
// deadline passes.
package poll

import (
	"context"
	"testing"
	"time"
)

// Until fails t if cond does not hold within d; what names the awaited
// state in the failure message.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(context.Background(), d, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// Within reports whether cond holds within d, checking every few
// milliseconds; it gives up early when ctx is done. For callers that
// report a timeout themselves.
func Within(ctx context.Context, d time.Duration, cond func() bool) bool {
	return Every(ctx, d, interval, cond)
}

// Every is Within with its own interval between checks, for conditions
// that are costly to evaluate.
func Every(ctx context.Context, d, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// interval is how often Until and Within check.
const interval = 10 * time.Millisecond
