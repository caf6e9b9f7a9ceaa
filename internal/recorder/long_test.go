package recorder

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

// TestTableRecoveryAndRebalance1M measures, for a group whose table holds
// 1M keys: a cold start (recovery of every partition from the changelog),
// a second instance joining (it recovers half, the first rebalances), and
// the second leaving cleanly (the first takes its partitions back on top of
// the local state it kept). Long: runs only with HAZELNUT_LONG=1, on the
// embedded broker and on Kafka when HAZELNUT_KAFKA_BROKERS is set.
func TestTableRecoveryAndRebalance1M(t *testing.T) {
	kafka := long(t)
	t.Run("embedded", func(t *testing.T) {
		e, err := stream.StartEmbedded(t.TempDir(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		measureRecovery(t, e.Brokers(), 1_000_000)
	})
	if kafka != nil {
		t.Run("kafka", func(t *testing.T) { measureRecovery(t, kafka, 1_000_000) })
	}
}

// long skips t unless HAZELNUT_LONG=1 and returns the brokers named by
// HAZELNUT_KAFKA_BROKERS, nil when it is unset.
func long(t *testing.T) (kafka []string) {
	t.Helper()
	if os.Getenv("HAZELNUT_LONG") != "1" {
		t.Skip("long measurement: set HAZELNUT_LONG=1")
	}
	if env := os.Getenv("HAZELNUT_KAFKA_BROKERS"); env != "" {
		return strings.Split(env, ",")
	}
	return nil
}

type timedProc struct {
	mu      sync.Mutex
	timings map[string][]time.Duration
	cancel  context.CancelFunc
	done    chan error
}

func (tp *timedProc) last(kind string) (time.Duration, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	l := tp.timings[kind]
	if len(l) == 0 {
		return 0, false
	}
	return l[len(l)-1], true
}

func (tp *timedProc) count(kind string) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.timings[kind])
}

func measureRecovery(t *testing.T, brokers []string, n int) {
	kafka := stream.Kafka{Brokers: brokers}
	group, in := simpleGroup(t, kafka, "long")
	start := time.Now()
	preload(t, kafka, string(goka.GroupTable(group)), n, func(i int) string { return fmt.Sprintf("key-%07d", i) })
	t.Logf("wrote %d changelog records in %s", n, time.Since(start).Round(time.Millisecond))

	g := goka.DefineGroup(group, goka.Input(in, new(codec.Bytes), func(goka.Context, any) {}), goka.Persist(new(codec.Bytes)))
	run := func(name string) *timedProc {
		tp := &timedProc{timings: map[string][]time.Duration{}, done: make(chan error, 1)}
		tables := pebblestore.New(t.TempDir())
		comp := stream.ProcessorComponent(name, func() (*goka.Processor, error) {
			return goka.NewProcessor(brokers, g, kafka.ProcessorOptions(string(group), tables.Builder(), 1)...)
		}, stream.WithTimings(func(kind string, d time.Duration) {
			tp.mu.Lock()
			tp.timings[kind] = append(tp.timings[kind], d)
			tp.mu.Unlock()
		}))
		var ctx context.Context
		ctx, tp.cancel = context.WithCancel(context.Background())
		go func() { tp.done <- comp.Run(ctx, func() {}) }()
		return tp
	}
	stop := func(tp *timedProc) {
		tp.cancel()
		if err := <-tp.done; err != nil {
			t.Errorf("stop: %v", err)
		}
	}

	a := run("a")
	poll.Until(t, 10*time.Minute, "a to recover", func() bool { return a.count("recovery") == 1 })
	d, _ := a.last("recovery")
	t.Logf("cold start, %d keys over %d partitions: ready after %s", n, partitions, d.Round(time.Millisecond))

	b := run("b")
	poll.Until(t, 10*time.Minute, "b to recover", func() bool { return b.count("recovery") == 1 })
	poll.Until(t, 10*time.Minute, "a to rebalance", func() bool { return a.count("rebalance") >= 1 })
	db, _ := b.last("recovery")
	da, _ := a.last("rebalance")
	t.Logf("second instance joins: it is ready after %s (half the table), the first after %s", db.Round(time.Millisecond), da.Round(time.Millisecond))

	stop(b)
	poll.Until(t, 10*time.Minute, "a to rebalance again", func() bool { return a.count("rebalance") >= 2 })
	da, _ = a.last("rebalance")
	t.Logf("second instance leaves: the first runs all partitions again after %s", da.Round(time.Millisecond))
	stop(a)
}
