package spool

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hazelnut-mmp/hazelnut/gateway/spool/spooltest"
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

// BenchmarkEnqueuePaced appends at a fixed offered rate from 64 goroutines:
// the j-th append is due at j/rate and goes to goroutine j mod 64; its
// latency counts from the due time, so an append that waited for its
// goroutine's previous one counts that wait. Nothing drains the spool.
// Reported: p50/p99 of one Enqueue, the p50/p99 of the fsyncs of the
// spool's log in the same run and the mean number of records per fsync.
//
//	go test ./gateway/spool -run '^$' -bench BenchmarkEnqueuePaced -benchtime 20000x
func BenchmarkEnqueuePaced(b *testing.B) {
	for _, rate := range []int{1000, 3000, 6000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchEnqueuePaced(b, float64(rate)) })
	}
}

func benchEnqueuePaced(b *testing.B, rate float64) {
	const goroutines = 64
	fs := spooltest.NewFsyncTimer(vfs.Default)
	sp, err := Open(b.TempDir(), newFake(false), WithMaxBytes(1<<40), WithFS(fs))
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	r := stream.Record{Topic: "clicks", Key: "app-1:device-1", Value: make([]byte, 400),
		Headers: map[string][]byte{"request-id": []byte("0f8fad5b-d9cb-469f-a165-70867728950e")}}
	groups0, grouped0 := sp.groups.Load(), sp.grouped.Load()
	fs.Take() // the appends before the measurement
	lat := make([][]time.Duration, goroutines)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for j := g; j < b.N; j += goroutines {
				due := start.Add(time.Duration(float64(j) / rate * float64(time.Second)))
				time.Sleep(time.Until(due))
				if err := sp.Enqueue(ctx, r); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(due))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	all := slices.Concat(lat...)
	reportQuantiles(b, "", all)
	reportQuantiles(b, "fsync-", fs.Take())
	if groups := sp.groups.Load() - groups0; groups > 0 {
		b.ReportMetric(float64(sp.grouped.Load()-grouped0)/float64(groups), "recs/fsync")
	}
}

// reportQuantiles reports the p50 and p99 of lat in milliseconds.
func reportQuantiles(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	for _, q := range []struct {
		name string
		f    float64
	}{{"p50-ms", 0.50}, {"p99-ms", 0.99}} {
		d := lat[min(len(lat)-1, int(float64(len(lat))*q.f))]
		b.ReportMetric(float64(d)/float64(time.Millisecond), prefix+q.name)
	}
}
