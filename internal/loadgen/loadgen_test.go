package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndConnections(t *testing.T) {
	var conns sync.Map
	var requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		requests.Add(1)
		time.Sleep(time.Millisecond)
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Store(c.RemoteAddr().String(), true)
		}
	}
	srv.Start()
	defer srv.Close()

	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 4, Body: []byte(`{"a":1}`),
		Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Requests == 0 || res.Errors != 0 || res.Non2xx() != 0 || res.OK() != res.Statuses[202] {
		t.Fatalf("unexpected result %v", res)
	}
	if res.Requests > requests.Load() {
		t.Fatalf("counted %d requests, server saw %d", res.Requests, requests.Load())
	}
	if res.Duration < 250*time.Millisecond || res.Duration > 400*time.Millisecond {
		t.Fatalf("measured %s, want about 300ms", res.Duration)
	}
	if !(res.P50 <= res.P90 && res.P90 <= res.P99 && res.P99 <= res.Max) || res.P50 < time.Millisecond {
		t.Fatalf("percentiles out of order: %v", res)
	}
	n := 0
	conns.Range(func(_, _ any) bool { n++; return true })
	if n != 4 {
		t.Fatalf("server saw %d connections, want 4 persistent ones", n)
	}
	if r := res.Rate(); r < 500 || r > 4*1000 {
		t.Fatalf("rate %.0f/s, want between 500 and 4000 with 4 conns of ≥1ms", r)
	}
}

func TestRunCountsNon2xxAndErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 1, Body: []byte(`{}`), Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Statuses[503] == 0 || res.Statuses[202] == 0 || res.Non2xx() != res.Statuses[503] {
		t.Fatalf("statuses %v", res.Statuses)
	}
	if d := res.Statuses[503] - res.Statuses[202]; d < -1 || d > 1 {
		t.Fatalf("one connection alternating 202/503 counted %v", res.Statuses)
	}

	// A server that is gone: every request is an error, none is answered.
	url := srv.URL
	srv.Close()
	res, err = Run(context.Background(), Config{URL: url, Conns: 2, Body: []byte(`{}`), Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Requests != 0 || res.FirstError == nil {
		t.Fatalf("closed server: %v", res)
	}
}

func TestRunBodyFunc(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[string(b)] = true
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 3, Duration: 100 * time.Millisecond,
		BodyFunc: func(seq uint64) []byte { return fmt.Appendf(nil, `{"id":%d}`, seq) }})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(len(seen)) < res.Requests {
		t.Fatalf("%d distinct bodies for %d requests", len(seen), res.Requests)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	res, err := Run(ctx, Config{URL: srv.URL, Conns: 2, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) > 2*time.Second || res.Requests == 0 || res.Duration > time.Second {
		t.Fatalf("run did not stop with its context: %v after %s", res, time.Since(t0))
	}
}

func TestQuantile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	if quantile(s, 0.5) != 50 || quantile(s, 0.99) != 99 || quantile(s, 0.9) != 90 {
		t.Fatal(quantile(s, 0.5), quantile(s, 0.99))
	}
	if quantile(s[:1], 0.99) != 1 {
		t.Fatal("one sample")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {URL: "http://x", Duration: time.Second}, {URL: "http://x", Conns: 1}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestMerge(t *testing.T) {
	a := Result{Conns: 2, Duration: time.Second, Statuses: map[int]int64{202: 2}, Samples: []time.Duration{1, 3}}
	b := Result{Conns: 2, Duration: time.Second, Errors: 1, Statuses: map[int]int64{202: 1, 503: 1}, Samples: []time.Duration{2, 4}}
	m := Merge(a, b)
	if m.Requests != 4 || m.Errors != 1 || m.Duration != 2*time.Second || m.Statuses[202] != 3 || m.Statuses[503] != 1 ||
		m.Rate() != 2 || m.P50 != 2 || m.Max != 4 || !slices.IsSorted(m.Samples) {
		t.Fatalf("%+v", m)
	}
}
