package recorder

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

// BenchmarkCeiling is the ceiling later steps compare against: a goka
// processor with Hazelnut's options and pebble tables whose callback only
// reads and writes its table (a counter per key), over 4 partitions and
// 10k keys. It reports processed records per second. The embedded broker is
// always measured; Kafka too when HAZELNUT_KAFKA_BROKERS is set.
func BenchmarkCeiling(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		emb, err := stream.StartEmbedded("", 0)
		if err != nil {
			b.Fatal(err)
		}
		defer emb.Close()
		benchCeiling(b, emb.Brokers())
	})
	if env := os.Getenv("HAZELNUT_KAFKA_BROKERS"); env != "" {
		b.Run("kafka", func(b *testing.B) { benchCeiling(b, strings.Split(env, ",")) })
	}
}

func benchCeiling(b *testing.B, brokers []string) {
	kafka := stream.Kafka{Brokers: brokers}
	group, in := simpleGroup(b, kafka, "ceiling")
	preload(b, kafka, string(in), b.N, func(i int) string { return "key-" + strconv.Itoa(i%10000) })

	var done, first atomic.Int64
	g := goka.DefineGroup(group,
		goka.Input(in, new(codec.Bytes), func(ctx goka.Context, _ any) {
			n, _ := ctx.Value().(int64)
			ctx.SetValue(n + 1)
			if done.Add(1) == 1 {
				first.Store(time.Now().UnixNano())
			}
		}),
		goka.Persist(new(codec.Int64)),
	)
	p, err := goka.NewProcessor(brokers, g, kafka.ProcessorOptions(string(group), pebblestore.NewBuilder(b.TempDir()), 1)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	b.ResetTimer()
	go func() { errc <- p.Run(ctx) }()
	for done.Load() < int64(b.N) {
		select {
		case err := <-errc:
			b.Fatalf("processor stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	// Throughput from the first record on: group join and table recovery
	// are not what this ceiling is about.
	elapsed := time.Since(time.Unix(0, first.Load()))
	b.StopTimer()
	b.ReportMetric(float64(b.N-1)/elapsed.Seconds(), "records/s")
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}
