// Package poll is the deadline helper tests use instead of sleeping: it
// re-checks a condition every few milliseconds until it holds or the
// deadline passes.
package poll

import (
	"testing"
	"time"
)

// Until fails t if cond does not hold within d; what names the awaited
// state in the failure message.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
