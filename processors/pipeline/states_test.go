package pipeline_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/internal/simulate"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// The attribution group alone on the in-process broker (one partition);
// the test answers for the click side. Install A asks its device and IP
// keys. The device key's answer, with a click, leaves A waiting for the IP
// key, so it is kept in memory only: the table's changelog holds A's first
// state alone, and the group does not commit the answer although it
// committed a later one (install B's). The group is stopped and started
// again: the answer comes again, and once the IP key answers A claims the
// device key's click and is credited to it when the claim is granted. A's
// state was written twice, at its init and when it was decided. Nothing
// goes to the DLQ.
func TestAttributionAnswerKeptInMemoryComesAgainAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	k, closeBroker, err := startBroker(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBroker()
	off, err := simulate.NewOffsets(k)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	read := readTopics(t, k, "match-requests", "click-claims", "attributions", "install-attributed", "analytics",
		string(attribution.Table), string(attribution.DLQ))

	dir := t.TempDir()
	start := func() (stop func()) {
		comps, err := pipeline.Components([]string{string(attribution.Group)}, pipeline.Config{Kafka: k, Dir: dir, Replication: 1,
			Deps: processors.Deps{Catalog: replayCatalog{}}})
		if err != nil {
			t.Fatal(err)
		}
		sup := stream.NewSupervisor(nil)
		runCtx, stopRun := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sup.Run(runCtx, comps...) }()
		poll.Until(t, 30*time.Second, "attribution ready", func() bool { return len(sup.NotReady()) == 0 })
		return func() {
			stopRun()
			if err := <-done; err != nil {
				t.Errorf("supervisor: %v", err)
			}
		}
	}
	emit := emitters(t, k, "installs", "attribution-replies")

	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	keyA, keyB, keyC := attribution.Key(replayProject, "inst-a"), attribution.Key(replayProject, "inst-b"), attribution.Key(replayProject, "inst-c")
	device := codecs.DeviceKey(replayProject, "0f4a3e70-1c2b-4d5e-8f90-a1b2c3d4e5f6")
	ip := codecs.IPKey(replayProject, "203.0.113.9")
	click := codecs.ClickRef{ClickID: "click-a", ProjectID: replayProject, Source: "link", Platform: "Android", ClickedAt: at.Add(-time.Hour)}
	reply := func(key string, r codecs.AttributionReply) {
		r.ProjectID, r.At = replayProject, at
		emit("attribution-replies", key, r)
	}

	stop := start()
	emit("installs", keyA, &codecs.Install{RequestID: "req-a", ProjectID: replayProject, InstallID: "inst-a", Platform: "ANDROID",
		Source: "GENERAL", DeviceData: json.RawMessage(`{"gaid":"0f4a3e70-1c2b-4d5e-8f90-a1b2c3d4e5f6"}`), ClientIP: "203.0.113.9", ReceivedAt: at})
	// B has no device id: one answer decides it.
	emit("installs", keyB, &codecs.Install{RequestID: "req-b", ProjectID: replayProject, InstallID: "inst-b", Platform: "ANDROID",
		Source: "GENERAL", DeviceData: json.RawMessage(`{}`), ClientIP: "198.51.100.7", ReceivedAt: at})
	poll.Until(t, 20*time.Second, "three match requests", func() bool { return len(read("match-requests")) == 3 })

	reply(keyA, codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "inst-a", Kind: codecs.TouchDevice, Key: device, Candidates: []codecs.ClickRef{click}})
	reply(keyB, codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "inst-b", Kind: codecs.TouchIP, Key: codecs.IPKey(replayProject, "198.51.100.7")})
	// B's answer decided it, so A's answer, published before, was handled.
	// B's answer is marked once every write it made is acknowledged: its
	// decision, summary, analytics job and state are all readable.
	poll.Until(t, 20*time.Second, "B decided and written", func() bool {
		for _, topic := range []string{"attributions", "install-attributed", "analytics"} {
			if countKey(read(topic), keyB) == 0 {
				return false
			}
		}
		return countKey(read(string(attribution.Table)), keyB) == 2
	})
	// C's init comes after that: the commit that carries it carries every
	// mark made before, B's answer's too, and the answers' commit must
	// still stand before A's answer (offset 0).
	emit("installs", keyC, &codecs.Install{RequestID: "req-c", ProjectID: replayProject, InstallID: "inst-c", Platform: "ANDROID",
		Source: "GENERAL", DeviceData: json.RawMessage(`{}`), ClientIP: "198.51.100.8", ReceivedAt: at})
	poll.Until(t, 20*time.Second, "three installs committed", func() bool { n, _ := off.Committed("attribution", "installs"); return n == 3 })
	if n, err := off.Committed("attribution", "attribution-replies"); err != nil || n != 0 {
		t.Fatalf("attribution-replies committed up to %d (%v), want 0: A's answer lives in memory only", n, err)
	}
	if n := countKey(read(string(attribution.Table)), keyA); n != 1 {
		t.Fatalf("A's state written %d times, want once (its first init)", n)
	}
	stop()

	stop = start()
	defer func() { stop() }()
	reply(keyA, codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "inst-a", Kind: codecs.TouchIP, Key: ip})
	poll.Until(t, 20*time.Second, "A claims the device key's click", func() bool {
		for _, m := range read("click-claims") {
			if string(m.Key) == click.ClickID {
				return true
			}
		}
		return false
	})
	reply(keyA, codecs.AttributionReply{Type: codecs.ReplyClaim, InstallID: "inst-a", ClickID: click.ClickID, Claim: codecs.ClaimGranted, Click: &click})
	poll.Until(t, 20*time.Second, "A decided", func() bool { return decisionOf(read("attributions"), keyA) != nil })
	if d := decisionOf(read("attributions"), keyA); d.ClickID != click.ClickID || d.MatchType != codecs.TouchDevice {
		t.Errorf("A decided click %q by %s, want %q by device", d.ClickID, d.MatchType, click.ClickID)
	}
	poll.Until(t, 20*time.Second, "every answer committed", func() bool { n, _ := off.Committed("attribution", "attribution-replies"); return n == 4 })
	// Every answer is committed, so A's last write is acknowledged.
	poll.Until(t, 20*time.Second, "A's decided state read", func() bool { return countKey(read(string(attribution.Table)), keyA) >= 2 })
	if n := countKey(read(string(attribution.Table)), keyA); n != 2 {
		t.Errorf("A's state written %d times, want twice (its init and its decision)", n)
	}
	if dlq := read(string(attribution.DLQ)); len(dlq) > 0 {
		t.Errorf("%d inputs in the DLQ, e.g. %s", len(dlq), dlq[0].Key)
	}
}

// readTopics reads topics (one partition each) from the start and returns
// what has arrived so far on one of them.
func readTopics(t *testing.T, k stream.Kafka, topics ...string) func(topic string) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(k.Brokers, k.Sarama(k.ClientID("test-read")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var mu sync.Mutex
	got := map[string][]*sarama.ConsumerMessage{}
	for _, topic := range topics {
		pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pc.AsyncClose)
		go func() {
			for m := range pc.Messages() {
				mu.Lock()
				got[topic] = append(got[topic], m)
				mu.Unlock()
			}
		}()
	}
	return func(topic string) []*sarama.ConsumerMessage {
		mu.Lock()
		defer mu.Unlock()
		return append([]*sarama.ConsumerMessage(nil), got[topic]...)
	}
}

// emitters returns a function that publishes a value as JSON on one of
// topics and waits for the broker's acknowledgement.
func emitters(t *testing.T, k stream.Kafka, topics ...string) func(topic, key string, v any) {
	t.Helper()
	ems := map[string]*goka.Emitter{}
	for _, topic := range topics {
		em, err := goka.NewEmitter(k.Brokers, goka.Stream(topic), new(codec.Bytes), k.EmitterOptions(topic, 1)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = em.Finish() })
		ems[topic] = em
	}
	return func(topic, key string, v any) {
		t.Helper()
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := ems[topic].EmitSync(key, raw); err != nil {
			t.Fatalf("emit %s %s: %v", topic, key, err)
		}
	}
}

func decisionOf(msgs []*sarama.ConsumerMessage, key string) *codecs.Decision {
	for _, m := range msgs {
		var d codecs.Decision
		if string(m.Key) == key && json.Unmarshal(m.Value, &d) == nil && d.Kind == codecs.KindDecision {
			return &d
		}
	}
	return nil
}

func countKey(msgs []*sarama.ConsumerMessage, key string) int {
	n := 0
	for _, m := range msgs {
		if string(m.Key) == key {
			n++
		}
	}
	return n
}
