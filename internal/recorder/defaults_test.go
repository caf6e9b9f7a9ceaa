package recorder

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Why goka's defaults lose updates after a rebalance: a partition that
// reaches a member while the group has no committed offset for it (the
// previous owner had not committed yet, or nobody ever ran) starts at
// goka's default Consumer.Offsets.Initial, the NEWEST offset, so every
// record already in the partition is skipped. With one instance joining
// another mid-stream that is up to half of the partitions. The deterministic
// form: records written before the group first runs.
//
// The first test pins goka's unsafe default (if goka changes it, we learn);
// the second shows Hazelnut's config reads them all.
func TestGokaDefaultsSkipRecordsWrittenBeforeAnyCommit(t *testing.T) {
	if got := countProcessed(t, nil); got != 0 {
		t.Fatalf("goka defaults processed %d of the records written before the group ran; expected them skipped", got)
	}
}

func TestHazelnutConfigReadsRecordsWrittenBeforeAnyCommit(t *testing.T) {
	emb := func(brokers []string) []goka.ProcessorOption {
		return stream.Kafka{Brokers: brokers}.ProcessorOptions("unused", storage.MemoryBuilder(), 1)
	}
	if got := countProcessed(t, emb); got != 200 {
		t.Fatalf("processed %d of 200 records written before the group ran", got)
	}
}

// countProcessed writes 200 records, then starts a group (goka's defaults
// when opts is nil) and returns how many of those 200 it processed.
func countProcessed(t *testing.T, opts func(brokers []string) []goka.ProcessorOption) int64 {
	e, err := stream.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	brokers := e.Brokers()
	kafka := stream.Kafka{Brokers: brokers}
	group, in := simpleGroup(t, kafka, "defaults")
	prod, err := sarama.NewSyncProducer(brokers, kafka.ProducerConfig("defaults-feeder"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: string(in), Key: sarama.StringEncoder(Key(i % keys)),
				Value: sarama.StringEncoder(fmt.Sprint("r", i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 200)

	var processed, late atomic.Int64
	g := goka.DefineGroup(group,
		goka.Input(in, new(codec.String), func(ctx goka.Context, msg any) {
			processed.Add(1)
			var i int
			fmt.Sscanf(msg.(string), "r%d", &i)
			if i >= 200 {
				late.Add(1)
			}
			n, _ := ctx.Value().(int64)
			ctx.SetValue(n + 1)
		}),
		goka.Persist(new(codec.Int64)),
	)
	var o []goka.ProcessorOption
	if opts != nil {
		o = opts(brokers)
	} else {
		o = []goka.ProcessorOption{goka.WithStorageBuilder(storage.MemoryBuilder())}
	}
	p, err := goka.NewProcessor(brokers, g, o...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	if err := p.WaitForReadyContext(ctx); err != nil {
		t.Fatal(err)
	}
	// Records written after the start are read by either config, once the
	// claims have resolved their start offsets; keep writing until 20 of
	// them arrived (spread over every partition), then count the others.
	next := 200
	poll.Until(t, 60*time.Second, "records written after the start", func() bool {
		send(next, 1)
		next++
		return late.Load() >= 20
	})
	if opts != nil {
		poll.Until(t, 30*time.Second, "the records written before the start", func() bool { return processed.Load()-late.Load() >= 200 })
	}
	return processed.Load() - late.Load()
}
