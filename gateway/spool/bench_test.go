package spool

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// BenchmarkEnqueue appends from about 64 goroutines to a spool in a
// temporary directory (nothing drains it) and reports the p99 latency of
// one Enqueue and the mean number of records per fsync.
func BenchmarkEnqueue(b *testing.B) {
	sp, err := Open(b.TempDir(), newFake(false), WithMaxBytes(1<<40))
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	r := stream.Record{Topic: "installs", Key: "app-1:device-1", Value: make([]byte, 400),
		Headers: map[string][]byte{"request-id": []byte("0f8fad5b-d9cb-469f-a165-70867728950e")}}
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	var mu sync.Mutex
	var lat []time.Duration
	groups0, grouped0 := sp.groups.Load(), sp.grouped.Load()
	b.SetBytes(int64(len(encode(r))))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			start := time.Now()
			if err := sp.Enqueue(ctx, r); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
	if groups := sp.groups.Load() - groups0; groups > 0 {
		b.ReportMetric(float64(sp.grouped.Load()-grouped0)/float64(groups), "recs/fsync")
	}
}
