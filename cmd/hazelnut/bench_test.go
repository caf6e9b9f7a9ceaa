package main

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkInitEmbedded measures init end to end on `hazelnut dev` with the
// embedded broker: HTTP, publish with acks=all, broker acknowledgement. It
// reports the p50 and p99 latency of the requests it sent.
func BenchmarkInitEmbedded(b *testing.B) {
	n := startNode(b, testConfig(b, nil), roleDev)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := fmt.Appendf(nil, `{"token":"test-token","platform":"ANDROID","install_instance_id":"bench-%d"}`, seq.Add(1))
			start := time.Now()
			resp, err := client.Post(n.base+"/api/client/init", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
