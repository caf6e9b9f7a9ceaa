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
	rate := ceilingRun(b, stream.Kafka{Brokers: brokers}, b.N, b.ResetTimer)
	b.StopTimer()
	b.ReportMetric(rate, "records/s")
}

// ceilingRun preloads n records over 10k keys, runs the ceiling processor
// (a counter per key in its pebble table) until it has processed all of
// them and returns records/s from the first processed record on: group
// join and table recovery are not what this ceiling is about. started is
// called just before the processor runs.
func ceilingRun(t testing.TB, kafka stream.Kafka, n int, started func()) float64 {
	group, in := simpleGroup(t, kafka, "ceiling")
	preload(t, kafka, string(in), n, func(i int) string { return "key-" + strconv.Itoa(i%10000) })

	var count, first atomic.Int64
	all := make(chan struct{})
	g := goka.DefineGroup(group,
		goka.Input(in, new(codec.Bytes), func(ctx goka.Context, _ any) {
			first.CompareAndSwap(0, time.Now().UnixNano())
			v, _ := ctx.Value().(int64)
			ctx.SetValue(v + 1)
			if count.Add(1) == int64(n) {
				close(all)
			}
		}),
		goka.Persist(new(codec.Int64)),
	)
	p, err := goka.NewProcessor(kafka.Brokers, g, kafka.ProcessorOptions(string(group), pebblestore.NewBuilder(t.TempDir()), 1)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	started()
	go func() { errc <- p.Run(ctx) }()
	select {
	case <-all:
	case err := <-errc:
		t.Fatalf("ceiling processor stopped: %v", err)
	}
	elapsed := time.Since(time.Unix(0, first.Load()))
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return float64(n-1) / elapsed.Seconds()
}
