package clock

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// embedded starts the in-process broker with the given topics (4
// partitions each).
func embedded(t *testing.T, topics ...string) stream.Kafka {
	t.Helper()
	emb, err := stream.StartEmbedded("", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	k := stream.Kafka{Brokers: emb.Brokers()}
	var decl stream.Topics
	for _, name := range topics {
		decl.List = append(decl.List, stream.Topic{Name: name, Cleanup: "delete", Partitions: 4, Replication: 1, Retention: time.Hour})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.EnsureTopics(ctx, decl); err != nil {
		t.Fatal(err)
	}
	return k
}

// supervise runs components until the returned stop is called (or the
// test ends).
func supervise(t *testing.T, comps ...stream.Component) (sup *stream.Supervisor, stop func()) {
	t.Helper()
	sup = stream.NewSupervisor(nil)
	sup.MinBackoff = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx, comps...) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("supervisor: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("components did not stop in 30s")
		}
	}
	t.Cleanup(stop)
	return sup, stop
}

func TestTickerWritesEveryPartition(t *testing.T) {
	k := embedded(t, string(Ticks))
	sup, _ := supervise(t, Ticker(k, TickerConfig{Interval: 50 * time.Millisecond}))

	consumer, err := sarama.NewConsumer(k.Brokers, k.Sarama(k.ClientID("test-consumer")))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	type got struct {
		p   int32
		key string
		t   Tick
	}
	msgs := make(chan got, 1024)
	for p := int32(0); p < 4; p++ {
		pc, err := consumer.ConsumePartition(string(Ticks), p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				var tk Tick
				if err := json.Unmarshal(m.Value, &tk); err != nil {
					t.Errorf("partition %d: %v", m.Partition, err)
				}
				msgs <- got{m.Partition, string(m.Key), tk}
			}
		}()
	}

	perPartition := map[int32][]Tick{}
	rounds := func() int {
		n := -1
		for p := int32(0); p < 4; p++ {
			if c := len(perPartition[p]); n < 0 || c < n {
				n = c
			}
		}
		return n
	}
	deadline := time.After(20 * time.Second)
	for rounds() < 3 {
		select {
		case m := <-msgs:
			if want := TickKey(m.p, 4); m.key != want {
				t.Errorf("partition %d: key %q, want %q", m.p, m.key, want)
			}
			if m.t.Partition != m.p || m.t.Partitions != 4 || m.t.At.IsZero() {
				t.Errorf("partition %d: tick %+v", m.p, m.t)
			}
			perPartition[m.p] = append(perPartition[m.p], m.t)
		case <-deadline:
			t.Fatalf("timed out; ticks per partition: %v", perPartition)
		}
	}
	for p, ticks := range perPartition {
		for i := 1; i < len(ticks); i++ {
			if ticks[i].Seq != ticks[i-1].Seq+1 {
				t.Errorf("partition %d: seq %d after %d", p, ticks[i].Seq, ticks[i-1].Seq)
			}
		}
		if ticks[0].Seq != 1 {
			t.Errorf("partition %d: first seq %d", p, ticks[0].Seq)
		}
	}
	if nr := sup.NotReady(); len(nr) != 0 {
		t.Errorf("not ready: %v", nr)
	}
}

func TestTickerNeedsTheTopic(t *testing.T) {
	k := embedded(t)
	ready := false
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Ticker(k, TickerConfig{Interval: 10 * time.Millisecond}).Run(ctx, func() { ready = true })
	if err == nil || ctx.Err() != nil || ready {
		t.Fatalf("want a fast error without the topic; got %v (ready %v)", err, ready)
	}
	admin, err := sarama.NewClusterAdmin(k.Brokers, k.Sarama(k.ClientID("test-admin")))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := topics[string(Ticks)]; ok {
		t.Error("the ticker created the ticks topic")
	}
}

// superviseSwept runs a ticker and the group, on tables, through its
// sweeper; cur holds the processor built last.
func superviseSwept(t *testing.T, k stream.Kafka, g *testGroupDef, tables storage.Builder) (cur *atomic.Pointer[goka.Processor], stop func()) {
	cur = new(atomic.Pointer[goka.Processor])
	_, stop = supervise(t,
		Ticker(k, TickerConfig{Interval: 100 * time.Millisecond}),
		g.s.Component("group-clocktest", func() (*goka.Processor, error) {
			p, err := g.build(k.Brokers, k.ProcessorOptions(string(testGroup), tables, 1)...)
			if err == nil {
				cur.Store(p)
			}
			return p, err
		}))
	return cur, stop
}

// emitter returns a function that emits entries to topic.
func emitter(t *testing.T, k stream.Kafka, topic goka.Stream) func(key string, e entry) {
	em, err := goka.NewEmitter(k.Brokers, topic, new(codec.Bytes), k.EmitterOptions(string(topic), 1)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Finish() })
	return func(key string, e entry) {
		if err := em.EmitSync(key, entryBytes(e)); err != nil {
			t.Fatal(err)
		}
	}
}

// keyOn returns a key with the given prefix that goka sends to partition p
// of 4.
func keyOn(prefix string, p int32) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if KeyPartition(k, 4) == p {
			return k
		}
	}
}

// The whole machinery on the in-process broker with 4 partitions: the
// ticker drives every partition's watermark, the sweeper component expires
// entries on each, and a restarted processor (empty local tables,
// recovered from the changelog) continues from the stored records without
// moving any watermark back.
func TestClockOnEmbeddedBroker(t *testing.T) {
	k := embedded(t, string(Ticks), string(inA), string(inB))

	emitA, emitB := emitter(t, k, inA), emitter(t, k, inB)

	var sweeps atomic.Int64
	g := newTestGroup(SweepConfig{Slices: 2, Pause: 10 * time.Millisecond, OnSweep: func(visited int64, err error) {
		sweeps.Add(1)
		if err != nil {
			t.Logf("sweep visited %d: %v", visited, err)
		}
	}}, nil)
	run := func() (*atomic.Pointer[goka.Processor], func()) {
		return superviseSwept(t, k, g, storage.MemoryBuilder())
	}
	get := func(cur *atomic.Pointer[goka.Processor], key string) (any, bool) {
		p := cur.Load()
		if p == nil || !p.Recovered() {
			return nil, false
		}
		v, err := p.Get(key)
		return v, err == nil
	}
	mark := func(cur *atomic.Pointer[goka.Processor], p int32) (time.Time, bool) {
		v, ok := get(cur, TickKey(p, 4))
		r, isRec := v.(*Record)
		if !ok || !isRec {
			return time.Time{}, false
		}
		return r.Watermark, true
	}

	cur, stop := run()
	for p := int32(0); p < 4; p++ {
		emitA(keyOn("p:old", p), entry{At: at(0)})
		emitB(keyOn("p:fresh", p), entry{At: at(180)})
		emitA(keyOn("p:mark", p), entry{At: at(200), Mark: true})
		emitB(keyOn("p:mark", p), entry{At: at(200), Mark: true})
	}
	var state string
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("last state: " + state)
		}
	})
	poll.Until(t, 30*time.Second, "watermarks at 13:20 and old entries swept on all partitions", func() bool {
		state = ""
		done := true
		for p := int32(0); p < 4; p++ {
			wm, ok := mark(cur, p)
			v, gok := get(cur, keyOn("p:old", p))
			state += fmt.Sprintf("p%d: mark %s %v old %v %v; ", p, wm.Format(time.TimeOnly), ok, v, gok)
			if !ok || !wm.Equal(at(200)) || !gok || v != nil {
				done = false
			}
		}
		return done
	})
	// The deletes are visible before the sweep that made them returns and
	// reports.
	poll.Until(t, 10*time.Second, "OnSweep to report the sweep", func() bool { return sweeps.Load() > 0 })
	for p := int32(0); p < 4; p++ {
		if v, _ := get(cur, keyOn("p:fresh", p)); v == nil {
			t.Errorf("partition %d: an entry that has not expired was swept", p)
		}
	}
	stop()

	// Restart in the same process (as the supervisor does): same tracker
	// and sweeper, a new processor with empty local tables.
	g.seen = map[int32]time.Time{}
	cur, _ = run()
	for p := int32(0); p < 4; p++ {
		emitB(keyOn("p:late", p), entry{At: at(150)}) // older than b's latest: changes nothing
	}
	poll.Until(t, 30*time.Second, "the restarted processor to tick on every partition", func() bool {
		for p := int32(0); p < 4; p++ {
			wm, ok := mark(cur, p)
			if ok && wm.Before(at(200)) {
				t.Fatalf("partition %d: watermark went back to %s", p, wm)
			}
			if !ok {
				return false
			}
		}
		return true
	})
	// The records came from the changelog: this instance has not seen the
	// events that set them (unless the broker redelivered them).
	recovered := 0
	for p := int32(0); p < 4; p++ {
		if g.latestSeen(p).Before(at(200)) {
			recovered++
		}
	}
	if recovered == 0 {
		t.Error("every partition saw its events again; the stored records were not exercised")
	}
	for p := int32(0); p < 4; p++ {
		emitA(keyOn("p:mark", p), entry{At: at(300), Mark: true})
		emitB(keyOn("p:mark", p), entry{At: at(300), Mark: true})
	}
	poll.Until(t, 30*time.Second, "watermarks at 15:00 and the rest swept after the restart", func() bool {
		for p := int32(0); p < 4; p++ {
			wm, ok := mark(cur, p)
			if !ok || !wm.Equal(at(300)) {
				return false
			}
			for _, prefix := range []string{"p:fresh", "p:late"} {
				if v, ok := get(cur, keyOn(prefix, p)); !ok || v != nil {
					return false
				}
			}
		}
		return true
	})
}
