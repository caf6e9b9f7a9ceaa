package commit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

// These tests run a real goka processor against the in-process broker and
// make one input's emit finish after the emits of later inputs of the same
// partition.
//
// How the acknowledgements get out of order: our producers are idempotent
// with Net.MaxOpenRequests=1, so sarama has at most one produce request in
// flight per broker connection, and kfake answers requests of one
// connection in order. Holding back one produce request would therefore hold
// back every output behind it if all outputs lived on one broker. So the
// cluster has two brokers and the output topic's partition 1 is led by
// broker 1 while everything else (output partition 0, both input partitions)
// is led by broker 0. sarama's async producer keeps one connection per
// broker, so a produce request to broker 1 that kfake puts to sleep (a
// Produce control that calls SleepControl) holds back only the outputs for
// output partition 1; outputs to partition 0 are acknowledged meanwhile.
//
// The inputs: input partition 0 gets "slow" (offset 0), whose output key
// hashes to output partition 1, then "fast-1" and "fast-2" (offsets 1 and 2)
// whose outputs go to output partition 0. goka acknowledges offsets 1 and 2
// while offset 0 waits. Plain goka then commits 3 for input partition 0, past
// the unfinished offset 0; with the wrapper the commit stays at or below 0
// until the held request is released.
//
// To know that goka has marked offsets 1 and 2 before judging the wrapper,
// input partition 1 gets a record once the outputs of offsets 1 and 2 are in
// the log. Its output goes to output partition 0 behind theirs, so sarama
// acknowledges it after them and goka's producer (one goroutine finishing
// promises in order) marks it after them. Once its commit is visible, a
// second record on input partition 1 is committed too: that commit is
// certainly later than any mark of offsets 1 and 2 would have reached the
// inner session.

const (
	inTopic  = "commit-test-in"
	outTopic = "commit-test-out"
	group    = "commit-test"
)

type rig struct {
	t       *testing.T
	cluster *kfake.Cluster
	k       stream.Kafka
	admin   sarama.ClusterAdmin
	client  sarama.Client
	input   sarama.SyncProducer

	slowKey, fastKey string

	arm     atomic.Bool  // hold produce requests on broker 1
	held    atomic.Int32 // produce requests held so far
	release chan struct{}

	obsMu   sync.Mutex
	pending map[int32]int // last observed pending count per input partition

	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.ClusterID("commit-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &rig{
		t:       t,
		cluster: c,
		k:       stream.Kafka{Brokers: c.ListenAddrs()},
		release: make(chan struct{}),
		pending: map[int32]int{},
	}
	t.Cleanup(r.unblock)

	r.admin, err = sarama.NewClusterAdmin(r.k.Brokers, r.k.Sarama(r.k.ClientID("test-admin")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.admin.Close() })
	for _, topic := range []string{inTopic, outTopic} {
		if err := r.admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	leaders := []struct {
		topic     string
		partition int32
		node      int32
	}{{inTopic, 0, 0}, {inTopic, 1, 0}, {outTopic, 0, 0}, {outTopic, 1, 1}}
	for _, l := range leaders {
		if err := c.MoveTopicPartition(l.topic, l.partition, l.node); err != nil {
			t.Fatal(err)
		}
		if got := c.LeaderFor(l.topic, l.partition); got != l.node {
			t.Fatalf("%s/%d led by %d, want %d", l.topic, l.partition, got, l.node)
		}
	}

	// Hold every produce request broker 1 receives while armed: only the
	// processor's outputs for output partition 1 go there.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if c.CurrentNode() == 1 && r.arm.Load() {
			r.held.Add(1)
			c.SleepControl(func() { <-r.release })
		}
		return nil, nil, false // let the broker answer it
	})

	// Clients made after the leader moves see the final metadata.
	r.client, err = sarama.NewClient(r.k.Brokers, r.k.Sarama(r.k.ClientID("test-client")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.client.Close() })
	pc := r.k.Sarama(r.k.ClientID("test-input"))
	pc.Producer.Partitioner = sarama.NewManualPartitioner
	r.input, err = sarama.NewSyncProducer(r.k.Brokers, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.input.Close() })

	// Output keys for each output partition, hashed as goka's producer does.
	part := sarama.NewCustomHashPartitioner(goka.DefaultHasher())(outTopic)
	for i := 0; r.slowKey == "" || r.fastKey == ""; i++ {
		key := "key-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		p, err := part.Partition(&sarama.ProducerMessage{Topic: outTopic, Key: sarama.StringEncoder(key)}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if p == 1 && r.slowKey == "" {
			r.slowKey = key
		}
		if p == 0 && r.fastKey == "" {
			r.fastKey = key
		}
	}
	return r
}

// unblock releases held produce requests (once).
func (r *rig) unblock() {
	r.arm.Store(false)
	select {
	case <-r.release:
	default:
		close(r.release)
	}
}

// start runs the processor: one input stream, one output stream, one emit
// per input. With wrap, its consumer group goes through commit.WrapBuilder.
func (r *rig) start(wrap bool) {
	r.t.Helper()
	g := goka.DefineGroup(goka.Group(group),
		goka.Input(goka.Stream(inTopic), new(codec.String), func(ctx goka.Context, msg any) {
			key := r.fastKey
			if msg.(string) == "slow" {
				key = r.slowKey
			}
			ctx.Emit(goka.Stream(outTopic), key, msg)
		}),
		goka.Output(goka.Stream(outTopic), new(codec.String)),
	)

	// Our usual consumer group, committing often so the test is quick.
	var groups goka.ConsumerGroupBuilder = func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		c := r.k.Sarama(clientID)
		c.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
		return sarama.NewConsumerGroup(brokers, group, c)
	}
	if wrap {
		groups = commit.WrapBuilder(groups, commit.WithObserver(func(topic string, partition int32, pending int) {
			r.obsMu.Lock()
			defer r.obsMu.Unlock()
			r.pending[partition] = pending
		}))
	}
	opts := append(r.k.ProcessorOptions(group, storage.MemoryBuilder(), 1), goka.WithConsumerGroupBuilder(groups))
	proc, err := goka.NewProcessor(r.k.Brokers, g, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- proc.Run(ctx) }()
	r.t.Cleanup(r.stop)
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := proc.WaitForReadyContext(wctx); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.unblock()
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			r.t.Errorf("processor: %v", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Error("processor did not stop")
	}
}

func (r *rig) produce(partition int32, value string) {
	r.t.Helper()
	p, off, err := r.input.SendMessage(&sarama.ProducerMessage{Topic: inTopic, Partition: partition, Value: sarama.StringEncoder(value)})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("input %q at %d/%d", value, p, off)
}

// committed returns the group's committed offsets of both input partitions,
// -1 where there is none.
func (r *rig) committed() (p0, p1 int64) {
	r.t.Helper()
	resp, err := r.admin.ListConsumerGroupOffsets(group, map[string][]int32{inTopic: {0, 1}})
	if err != nil {
		r.t.Fatal(err)
	}
	get := func(p int32) int64 {
		if b := resp.GetBlock(inTopic, p); b != nil && b.Err == sarama.ErrNoError {
			return b.Offset
		}
		return -1
	}
	return get(0), get(1)
}

// outputs returns the number of records in an output partition.
func (r *rig) outputs(partition int32) int64 {
	r.t.Helper()
	n, err := r.client.GetOffset(outTopic, partition, sarama.OffsetNewest)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// holdSlowInput produces the three inputs of partition 0 with the slow
// one's output held back, and waits until the fast ones' outputs are in the
// log.
func (r *rig) holdSlowInput(fast int) {
	r.t.Helper()
	r.arm.Store(true)
	r.produce(0, "slow")
	for i := 1; i <= fast; i++ {
		r.produce(0, fmt.Sprint("fast-", i))
	}
	poll.Until(r.t, 10*time.Second, "the slow output to be held and the fast ones written", func() bool {
		return r.held.Load() == 1 && r.outputs(0) == int64(fast)
	})
}

// fastCounts are the runs of each test: how many inputs follow the slow one
// on its partition and finish before it.
var fastCounts = []int{2, 3, 5}

// TestPlainGokaCommitsPastUnfinishedInput documents the problem: goka
// without the wrapper commits input offset 3 while the output of input 0 is
// still unacknowledged, so a crash now would lose input 0. If this test
// fails, goka changed how it commits and the wrapper may no longer be needed.
func TestPlainGokaCommitsPastUnfinishedInput(t *testing.T) {
	for _, fast := range fastCounts {
		t.Run(fmt.Sprint("fast", fast), func(t *testing.T) { plainGokaCommitsPastUnfinishedInput(t, fast) })
	}
}

func plainGokaCommitsPastUnfinishedInput(t *testing.T, fast int) {
	r := newRig(t)
	r.start(false)
	r.holdSlowInput(fast)
	r.produce(1, "other-1")

	poll.Until(t, 10*time.Second, "plain goka to commit input partition 0 past offset 0", func() bool {
		p0, _ := r.committed()
		return p0 == int64(fast)+1
	})
	if r.held.Load() != 1 || r.outputs(1) != 0 {
		t.Fatal("the slow input's output was written; the setup does not hold it back")
	}
	t.Logf("committed %d on input partition 0 while input 0's output is unacknowledged", fast+1)

	r.unblock()
	poll.Until(t, 10*time.Second, "the slow output", func() bool { return r.outputs(1) == 1 })
}

// TestWrapperHoldsCommitBehindUnfinishedInput runs the same processor with
// commit.WrapBuilder: while the output of input 0 is held, the commit of
// input partition 0 never passes 0 although inputs 1 and 2 are done and
// input partition 1 keeps committing; once released it advances to 3.
func TestWrapperHoldsCommitBehindUnfinishedInput(t *testing.T) {
	for _, fast := range fastCounts {
		t.Run(fmt.Sprint("fast", fast), func(t *testing.T) { wrapperHoldsCommitBehindUnfinishedInput(t, fast) })
	}
}

func wrapperHoldsCommitBehindUnfinishedInput(t *testing.T, fast int) {
	r := newRig(t)
	r.start(true)
	r.holdSlowInput(fast)

	check := func() (p0, p1 int64) {
		p0, p1 = r.committed()
		if p0 > 0 {
			t.Fatalf("committed %d on input partition 0 while input 0 is unfinished", p0)
		}
		return p0, p1
	}
	r.produce(1, "other-1")
	poll.Until(t, 10*time.Second, "input partition 1 to commit 1", func() bool {
		_, p1 := check()
		return p1 == 1
	})
	r.produce(1, "other-2")
	poll.Until(t, 10*time.Second, "input partition 1 to commit 2", func() bool {
		_, p1 := check()
		return p1 == 2
	})
	check()
	if r.held.Load() != 1 || r.outputs(1) != 0 {
		t.Fatal("the slow input's output was written while it should be held")
	}
	r.obsMu.Lock()
	pending := r.pending[0]
	r.obsMu.Unlock()
	if pending != fast+1 {
		t.Errorf("observer: %d pending offsets on input partition 0, want %d", pending, fast+1)
	}

	r.unblock()
	poll.Until(t, 10*time.Second, "input partition 0 to commit everything after the release", func() bool {
		p0, p1 := r.committed()
		return p0 == int64(fast)+1 && p1 == 2
	})
	if r.outputs(1) != 1 {
		t.Error("the slow output is missing")
	}
	r.obsMu.Lock()
	pending = r.pending[0]
	r.obsMu.Unlock()
	if pending != 0 {
		t.Errorf("observer: %d pending offsets on input partition 0 after the release, want 0", pending)
	}
}
