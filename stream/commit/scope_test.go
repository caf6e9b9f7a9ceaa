package commit

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

// lastCommit is the newest commit offset the inner session received for
// topic/partition (0 when none).
func lastCommit(s *fakeSession, topic string, partition int32) int64 {
	var last int64
	for _, m := range s.snapshot() {
		if m.topic == topic && m.partition == partition {
			last = m.offset
		}
	}
	return last
}

// TestScopeHoldsCommitUntilRelease holds offset 1 and releases it with
// offset 3: whichever of the held message's mark and the releasing mark
// comes first, nothing is committed past 1 until both came.
func TestScopeHoldsCommitUntilRelease(t *testing.T) {
	for _, heldMarkedFirst := range []bool{true, false} {
		sc := NewScope()
		if _, ok := sc.Session(); ok {
			t.Fatal("a session before Setup")
		}
		if _, ok := sc.Hold("in", 0, 1); ok {
			t.Fatal("Hold without a session")
		}
		inner := newFakeSession()
		proc := &fakeProcessor{}
		h := WrapHandler(proc, WithScope(sc))
		if err := h.Setup(inner); err != nil {
			t.Fatal(err)
		}
		gen, ok := sc.Session()
		if !ok {
			t.Fatal("no session after Setup")
		}
		claim := newFakeClaim("in", 0, 0)
		res := runClaim(h, inner, claim)
		claim.deliver(0, 1, 2, 3, 4)
		poll.Until(t, 5*time.Second, "5 messages", func() bool { return proc.count() == 5 })
		s := proc.wrappedSession()
		msg := func(o int64) *sarama.ConsumerMessage {
			return &sarama.ConsumerMessage{Topic: "in", Partition: 0, Offset: o}
		}

		if _, ok := sc.Hold("other", 0, 1); ok {
			t.Fatal("Hold on a partition the session did not deliver")
		}
		hold, ok := sc.Hold("in", 0, 1)
		if !ok {
			t.Fatal("Hold refused")
		}
		sc.ReleaseWith([]Hold{hold}, "in", 0, 3)
		s.MarkMessage(msg(0), "")
		if heldMarkedFirst {
			s.MarkMessage(msg(1), "")
		}
		s.MarkMessage(msg(2), "")
		if got := lastCommit(inner, "in", 0); got != 1 {
			t.Fatalf("held first=%v: commit at %d before the release, want 1", heldMarkedFirst, got)
		}
		s.MarkMessage(msg(3), "")
		s.MarkMessage(msg(4), "")
		want := int64(5)
		if !heldMarkedFirst {
			want = 1 // released, but its own handler has not finished it
		}
		if got := lastCommit(inner, "in", 0); got != want {
			t.Fatalf("held first=%v: commit at %d after the release, want %d", heldMarkedFirst, got, want)
		}
		if !heldMarkedFirst {
			s.MarkMessage(msg(1), "")
			if got := lastCommit(inner, "in", 0); got != 5 {
				t.Fatalf("commit at %d once the held message finished, want 5", got)
			}
		}
		close(claim.ch)
		if err := recv(t, res); err != nil {
			t.Fatal(err)
		}
		if err := h.Cleanup(inner); err != nil {
			t.Fatal(err)
		}
		if _, ok := sc.Session(); ok {
			t.Fatal("a session after Cleanup")
		}

		// The next session has another number, and the old session's
		// holds are not released by its marks.
		inner2 := newFakeSession()
		if err := h.Setup(inner2); err != nil {
			t.Fatal(err)
		}
		if gen2, ok := sc.Session(); !ok || gen2 == gen {
			t.Fatalf("second session %d (running %v), first %d", gen2, ok, gen)
		}
		_ = h.Cleanup(inner2)
	}
}

// TestScopeHeldAtSessionEndIsNeverCommitted ends a session while a hold
// waits: the held offset and everything after it stay uncommitted, so the
// next session delivers them again.
func TestScopeHeldAtSessionEndIsNeverCommitted(t *testing.T) {
	sc := NewScope()
	inner := newFakeSession()
	proc := &fakeProcessor{}
	h := WrapHandler(proc, WithScope(sc))
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	claim := newFakeClaim("in", 0, 0)
	res := runClaim(h, inner, claim)
	claim.deliver(0, 1, 2)
	poll.Until(t, 5*time.Second, "3 messages", func() bool { return proc.count() == 3 })
	s := proc.wrappedSession()
	hold, ok := sc.Hold("in", 0, 1)
	if !ok {
		t.Fatal("Hold refused")
	}
	for o := int64(0); o < 3; o++ {
		s.MarkMessage(&sarama.ConsumerMessage{Topic: "in", Partition: 0, Offset: o}, "")
	}
	close(claim.ch)
	if err := recv(t, res); err != nil {
		t.Fatal(err)
	}
	if err := h.Cleanup(inner); err != nil {
		t.Fatal(err)
	}
	// A release asked for after the session ended does nothing.
	sc.ReleaseWith([]Hold{hold}, "in", 0, 2)
	s.MarkMessage(&sarama.ConsumerMessage{Topic: "in", Partition: 0, Offset: 2}, "")
	if got := lastCommit(inner, "in", 0); got != 1 {
		t.Fatalf("commit at %d, want 1: the held offset must come again", got)
	}
}
