package stream

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func gateMsg(topic string, partition int32, key string) *sarama.ConsumerMessage {
	return &sarama.ConsumerMessage{Topic: topic, Partition: partition, Key: []byte(key)}
}

// admitAsync runs Admit in a goroutine; the channel gets its result.
func admitAsync(g *Gate, msg *sarama.ConsumerMessage, stop <-chan struct{}) <-chan bool {
	res := make(chan bool, 1)
	go func() { res <- g.Admit(msg, stop) }()
	return res
}

func admitted(t *testing.T, res <-chan bool) bool {
	t.Helper()
	select {
	case ok := <-res:
		return ok
	case <-time.After(10 * time.Second):
		t.Fatal("Admit did not return")
		return false
	}
}

// notAdmitted checks that Admit is still holding its record.
func notAdmitted(t *testing.T, res <-chan bool, what string) {
	t.Helper()
	select {
	case <-res:
		t.Fatal(what)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestGateHoldsTopicAtLimit: a partition with Limit open keys holds the
// next record of the gate's topic until one of them closes; other topics,
// other partitions and keys already open pass.
func TestGateHoldsTopicAtLimit(t *testing.T) {
	g := NewGate("installs", 2, time.Hour)
	stop := make(chan struct{})
	defer close(stop)
	for _, k := range []string{"a", "b"} {
		if !g.Admit(gateMsg("installs", 0, k), stop) {
			t.Fatalf("%s refused", k)
		}
	}
	held := admitAsync(g, gateMsg("installs", 0, "c"), stop)
	for _, m := range []*sarama.ConsumerMessage{gateMsg("replies", 0, "x"), gateMsg("installs", 1, "c"), gateMsg("installs", 0, "a")} {
		if !g.Admit(m, stop) {
			t.Fatalf("%s/%d %s refused", m.Topic, m.Partition, m.Key)
		}
	}
	notAdmitted(t, held, "a third key was admitted while two were open")
	g.Track(0, "b", true) // still waiting: nothing changes
	g.Track(0, "zzz", false)
	if n := g.Open(0); n != 2 {
		t.Fatalf("%d open, want 2", n)
	}
	g.Track(0, "a", false)
	if !admitted(t, held) {
		t.Fatal("c refused")
	}
	if n := g.Open(0); n != 2 {
		t.Errorf("%d open after c, want 2 (b and c)", n)
	}
}

// TestGateTrackOpensKeys: an answer can leave an install waiting again (a
// claim sent after the match answers): its key counts until it closes. A
// held record is refused once stop closes.
func TestGateTrackOpensKeys(t *testing.T) {
	g := NewGate("installs", 1, time.Hour)
	g.Track(3, "a", true)
	stop := make(chan struct{})
	held := admitAsync(g, gateMsg("installs", 3, "b"), stop)
	notAdmitted(t, held, "admitted past a key opened by Track")
	close(stop)
	if admitted(t, held) {
		t.Fatal("Admit returned true after stop")
	}
	if n := g.Open(3); n != 1 {
		t.Errorf("%d open, want 1", n)
	}
}

// TestGateExpiresKeys: a key open for the TTL stops counting (its answer
// may never come), so the topic waits at most that long.
func TestGateExpiresKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := NewGate("installs", 2, time.Minute)
	g.now = func() time.Time { return now }
	stop := make(chan struct{})
	defer close(stop)
	g.Admit(gateMsg("installs", 0, "a"), stop)
	g.Admit(gateMsg("installs", 0, "b"), stop)
	now = now.Add(30 * time.Second)
	g.Track(0, "a", false)
	g.Track(0, "a", true) // reopened: counts from now
	now = now.Add(45 * time.Second)
	if n := g.Open(0); n != 1 {
		t.Fatalf("%d open 75 s after b and 45 s after a reopened, want 1", n)
	}
	now = now.Add(15 * time.Second)
	if n := g.Open(0); n != 0 {
		t.Fatalf("%d open a minute after a reopened, want 0", n)
	}
	g.Admit(gateMsg("installs", 0, "c"), stop)
	g.Admit(gateMsg("installs", 0, "d"), stop)
	now = now.Add(time.Minute)
	// Both are past the TTL: the next one passes without a close.
	if !admitted(t, admitAsync(g, gateMsg("installs", 0, "e"), stop)) {
		t.Fatal("e refused")
	}
}
