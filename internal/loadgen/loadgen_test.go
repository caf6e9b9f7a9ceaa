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
	for _, c := range []Config{{}, {URL: "http://x", Duration: time.Second}, {URL: "http://x", Conns: 1},
		{URL: "http://x", Conns: 1, Duration: time.Second, Rate: -1}} {
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

func TestOpenLoopKeepsTheOfferedRate(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		time.Sleep(2 * time.Millisecond)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	const rate = 400.0
	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 8, Rate: rate,
		Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	// 200 requests are due in the measured half second, whatever the
	// connections could do in a closed loop (8 × 1/2ms = 4000/s).
	if res.Requests < 190 || res.Requests > 210 || res.Errors != 0 || res.OK() != res.Requests {
		t.Fatalf("%d requests answered, %d errors; want 200 due in 500ms at %.0f/s", res.Requests, res.Errors, rate)
	}
	if res.Offered != rate || res.Rate() < 0.9*rate || res.Rate() > 1.1*rate {
		t.Fatalf("offered %.0f/s, achieved %.0f/s; want about %.0f/s", res.Offered, res.Rate(), rate)
	}
	if requests.Load() < res.Requests+30 {
		t.Fatalf("server saw %d requests: the warm-up (40 due) was not sent", requests.Load())
	}
	// The known delay is in every latency; nothing waits for its connection
	// (each one sends every 20ms).
	if res.P50 < 2*time.Millisecond || res.ServiceP50 < 2*time.Millisecond || res.P50 < res.ServiceP50 {
		t.Fatalf("p50 %s, service p50 %s: want ≥ the server's 2ms, from the due time", res.P50, res.ServiceP50)
	}
	if res.Late > res.Requests/10 {
		t.Fatalf("%d of %d requests late with 18ms to spare each", res.Late, res.Requests)
	}
}

// A server stalls 200ms once. The open loop counts every request due during
// the stall from its due time; the closed loop sees only the one request
// that was waiting.
func TestOpenLoopShowsAStall(t *testing.T) {
	stall := func() (*httptest.Server, *atomic.Int64) {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 40 {
				time.Sleep(200 * time.Millisecond)
			}
			w.WriteHeader(http.StatusOK)
		}))
		return srv, &n
	}
	slow := func(lat []time.Duration) (n int) {
		for _, d := range lat {
			if d >= 50*time.Millisecond {
				n++
			}
		}
		return n
	}

	srv, _ := stall()
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 1, Rate: 100, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	// Requests 41–59 were due during the stall (every 10ms); those due in
	// its first 150ms waited ≥ 50ms.
	if n := slow(res.Samples); n < 12 {
		t.Fatalf("%d requests of ≥ 50ms, want ≥ 12 due during a 200ms stall", n)
	}
	if res.Late < 15 || res.Max < 190*time.Millisecond {
		t.Fatalf("late %d, max %s: want ≥ 15 requests sent late and the whole stall in the max", res.Late, res.Max)
	}
	if n := slow(res.Service); n != 1 {
		t.Fatalf("%d service times of ≥ 50ms, want only the stalled request's", n)
	}
	if res.Requests < 95 || res.Requests > 101 || res.Rate() < 85 {
		t.Fatalf("%d requests at %.0f/s: the schedule did not catch up after the stall", res.Requests, res.Rate())
	}

	srv2, _ := stall()
	defer srv2.Close()
	closed, err := Run(context.Background(), Config{URL: srv2.URL, Conns: 1, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := slow(closed.Samples); n != 1 || closed.Late != 0 || closed.Offered != 0 || closed.Service != nil {
		t.Fatalf("closed loop: %d requests of ≥ 50ms, late %d, offered %.0f; want 1, 0, 0", n, closed.Late, closed.Offered)
	}
}

// An offered rate the server cannot reach: the achieved rate is the
// server's, the run lasts until the due requests are answered and the
// latencies grow with the backlog.
func TestOpenLoopOverload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t0 := time.Now()
	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 2, Rate: 400, Duration: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	// 100 requests due, 2 connections of ≤ 100/s each: ≥ 500ms.
	if res.Requests != 100 || res.Duration < 450*time.Millisecond || time.Since(t0) < 450*time.Millisecond {
		t.Fatalf("%d requests in %s, want all 100 due, answered in ≥ 450ms", res.Requests, res.Duration)
	}
	if res.Rate() > 220 || res.Late < 90 || res.P99 < 200*time.Millisecond {
		t.Fatalf("achieved %.0f/s, late %d, p99 %s: want ≤ 200/s, nearly all late, a growing backlog", res.Rate(), res.Late, res.P99)
	}
}

func TestRunMethodAndPrepare(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Method + " " + r.Header.Get("User-Agent") + " " + r.Header.Get("Content-Type")
		mu.Unlock()
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Conns: 2, Rate: 200, Method: http.MethodGet,
		Duration: 100 * time.Millisecond, Prepare: func(seq uint64, r *http.Request) {
			r.URL.Path = fmt.Sprintf("/c/%d", seq)
			r.Header.Set("User-Agent", fmt.Sprintf("ua-%d", seq%2))
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Statuses[http.StatusFound] != res.Requests || res.Requests < 15 || got["/elsewhere"] != "" {
		t.Fatalf("statuses %v, requests %d, paths %v: want 302s, not followed", res.Statuses, res.Requests, got)
	}
	if got["/c/3"] != "GET ua-1 " || got["/c/4"] != "GET ua-0 " {
		t.Fatalf("requests seen: %v", got)
	}
}

func TestMergeOpenLoop(t *testing.T) {
	a := Result{Duration: time.Second, Offered: 100, Late: 1, Samples: []time.Duration{3, 5}, Service: []time.Duration{2, 4}}
	b := Result{Duration: time.Second, Offered: 100, Late: 2, Samples: []time.Duration{1, 9}, Service: []time.Duration{1, 3}}
	m := Merge(a, b)
	if m.Offered != 100 || m.Late != 3 || m.ServiceP50 != 2 || m.ServiceP99 != 4 || m.P99 != 9 || !slices.IsSorted(m.Service) {
		t.Fatalf("%+v", m)
	}
}
