package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/gateway/spool"
	"github.com/hazelnut-mmp/hazelnut/gateway/spool/spooltest"
	"github.com/hazelnut-mmp/hazelnut/internal/loadgen"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// discard is a broker that takes everything at once: the click spool's
// drainer empties it as it would towards a healthy Kafka.
type discard struct{}

func (discard) Send(context.Context, stream.Record) error      { return nil }
func (discard) SendAll(context.Context, []stream.Record) error { return nil }

// reportLatencies reports the p50 and p99 of lat in unit (time.Millisecond
// as "ms", time.Microsecond as "us") under prefix.
func reportLatencies(b *testing.B, prefix string, lat []time.Duration, unit time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(f float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*f))]) / float64(unit)
	}
	name := "ms"
	if unit == time.Microsecond {
		name = "us"
	}
	b.ReportMetric(q(0.50), prefix+"p50-"+name)
	b.ReportMetric(q(0.99), prefix+"p99-"+name)
}

// BenchmarkRedirectLoopback drives GET click links over loopback HTTP
// from 64 (and 8) connections per target (one per goroutine, kept alive) and
// reports, per target, redirects/s and the p50/p99 round trip: the real
// router with a real click spool (pebble, grouped fsync) in a temporary
// directory, drained to a broker that takes everything ("redirect-"), and
// a bare handler that only answers 302 ("bare-"); "nofsync-" is the real
// router with a click spool in memory (what the fsync costs). They take
// turns in slices of 2,000 requests, so that other work on the machine
// weighs on each alike; b.N requests go to each. redirect-server-p99-ms
// is the handler's own time (resolution, click, spool write, answer);
// nofsync-server-p99-ms the same with the spool in memory.
//
//	go test ./gateway -run '^$' -bench BenchmarkRedirectLoopback -benchtime 40000x -count 3
func BenchmarkRedirectLoopback(b *testing.B) {
	for _, conns := range []int{64, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchRedirectLoopback(b, conns) })
	}
}

// redirectRig is the three servers the redirect benchmarks drive.
type redirectRig struct {
	bare, redirect, nofsync string // URLs
	// smu guards the handler times of the redirect and nofsync servers.
	smu               sync.Mutex
	server, serverMem []time.Duration
	// fsyncs times the fsyncs of the click spool's log.
	fsyncs *spooltest.FsyncTimer
}

var (
	benchUAs   = []string{uaPixel, uaIPhone, uaWindows, uaIPad}
	benchPaths = []string{"/c/summer25?gclid=G1&utm_source=google&utm_medium=cpc", "/c/news?fbclid=F1", "/c/summer25"}
)

// newRedirectRig starts the bare 302, the router with a real click spool
// (drained to discard) and the router with a click spool in memory; they
// stop with b.
func newRedirectRig(b *testing.B) *redirectRig {
	r := &redirectRig{fsyncs: spooltest.NewFsyncTimer(vfs.Default)}
	sp, err := spool.Open(b.TempDir(), discard{}, spool.WithFS(r.fsyncs))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sp.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done; _ = sp.Close() })
	cat := linkCatalog(b, time.Now().Add(365*24*time.Hour))
	gw := New(Deps{Publisher: newMem(), Projects: cat, Catalog: datedCatalog{cat}, Clicks: sp, Geo: linkGeo{}}).Handler()
	timed := func(h http.Handler, into *[]time.Duration) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			start := time.Now()
			h.ServeHTTP(w, req)
			d := time.Since(start)
			r.smu.Lock()
			*into = append(*into, d)
			r.smu.Unlock()
		})
	}
	redirect := httptest.NewServer(timed(gw, &r.server))
	b.Cleanup(redirect.Close)
	// the same router with a click spool in memory: what the fsync costs
	mem := New(Deps{Publisher: newMem(), Projects: cat, Catalog: datedCatalog{cat}, Clicks: &fakeSpool{}, Geo: linkGeo{}}).Handler()
	nofsync := httptest.NewServer(timed(mem, &r.serverMem))
	b.Cleanup(nofsync.Close)
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, playURL, http.StatusFound)
	}))
	b.Cleanup(bare.Close)
	r.bare, r.redirect, r.nofsync = bare.URL, redirect.URL, nofsync.URL
	return r
}

// reportServer reports the handler times and the click spool's fsyncs
// recorded since the last call and forgets them.
func (r *redirectRig) reportServer(b *testing.B) {
	r.smu.Lock()
	defer r.smu.Unlock()
	reportLatencies(b, "redirect-server-", r.server, time.Millisecond)
	reportLatencies(b, "nofsync-server-", r.serverMem, time.Millisecond)
	r.server, r.serverMem = nil, nil
	reportLatencies(b, "redirect-fsync-", r.fsyncs.Take(), time.Millisecond)
}

func benchRedirectLoopback(b *testing.B, workers int) {
	const slice = 2000
	uas, paths := benchUAs, benchPaths
	rig := newRedirectRig(b)

	type target struct {
		name    string
		url     string
		lat     []time.Duration
		elapsed time.Duration
		done    int
	}
	targets := []*target{{name: "bare-", url: rig.bare}, {name: "redirect-", url: rig.redirect}, {name: "nofsync-", url: rig.nofsync}}
	clients := make([][]*http.Client, workers)
	for w := range clients {
		for range targets {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			clients[w] = append(clients[w], &http.Client{Transport: tr,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
		}
	}
	var failed atomic.Bool
	rig.reportServer(b) // nothing yet; starts the handler times afresh
	b.ResetTimer()
	for turn := 0; !failed.Load(); turn++ {
		ti := turn % len(targets)
		t := targets[ti]
		if !slices.ContainsFunc(targets, func(t *target) bool { return t.done < b.N }) {
			break
		}
		if t.done >= b.N {
			continue
		}
		n := min(slice, b.N-t.done)
		var left atomic.Int64
		left.Store(int64(n))
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, n/workers+1)
				for i := w + turn; left.Add(-1) >= 0; i++ {
					req, _ := http.NewRequest(http.MethodGet, t.url+paths[i%len(paths)], nil)
					req.Header.Set("User-Agent", uas[i%len(uas)])
					t0 := time.Now()
					resp, err := clients[w][ti].Do(req)
					if err != nil {
						b.Error(err)
						failed.Store(true)
						return
					}
					resp.Body.Close()
					local = append(local, time.Since(t0))
					if resp.StatusCode != http.StatusFound {
						b.Errorf("%s: status %d", t.name, resp.StatusCode)
						failed.Store(true)
						return
					}
				}
				mu.Lock()
				t.lat = append(t.lat, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		t.elapsed += time.Since(start)
		t.done += n
	}
	b.StopTimer()
	for _, t := range targets {
		b.ReportMetric(float64(len(t.lat))/t.elapsed.Seconds(), t.name+"redirects/s")
		reportLatencies(b, t.name, t.lat, time.Millisecond)
	}
	rig.reportServer(b)
}

// BenchmarkRedirectPaced offers the three targets of
// BenchmarkRedirectLoopback a fixed rate from 64 connections (an open
// loop: each request is due at its time on a schedule spread evenly over
// the connections, and its latency counts from then, so time a request
// spent waiting for its connection is not hidden). Per rate, b.N requests
// go to each target, in turns of up to 2,000 requests per target, each
// turn after a 250ms warm-up of its own. Reported per target: the achieved
// rate ("redirects/s"), p50/p99 of the latency from the due time, p99 from
// the actual send ("service-p99-ms") and the share of requests that were
// due while their connection was still waiting ("late-%"), and the
// handler's own time for the two routers and the p50/p99 of the click
// spool's fsyncs ("redirect-fsync-").
//
//	go test ./gateway -run '^$' -bench 'BenchmarkRedirectPaced' -benchtime 6000x
func BenchmarkRedirectPaced(b *testing.B) {
	for _, rate := range []int{500, 1000, 2000, 3000} {
		b.Run(fmt.Sprintf("conns=64/rate=%d", rate), func(b *testing.B) { benchRedirectPaced(b, 64, float64(rate)) })
	}
}

func benchRedirectPaced(b *testing.B, conns int, rate float64) {
	const slice = 2000
	rig := newRedirectRig(b)
	type target struct {
		name string
		url  string
		runs []loadgen.Result
		done int
	}
	targets := []*target{{name: "bare-", url: rig.bare}, {name: "redirect-", url: rig.redirect}, {name: "nofsync-", url: rig.nofsync}}
	type link struct{ path, query string }
	links := make([]link, len(benchPaths))
	for i, p := range benchPaths {
		u, err := url.Parse(p)
		if err != nil {
			b.Fatal(err)
		}
		links[i] = link{u.Path, u.RawQuery}
	}
	prepare := func(seq uint64, r *http.Request) {
		l := links[seq%uint64(len(links))]
		r.URL.Path, r.URL.RawQuery = l.path, l.query
		r.Header.Set("User-Agent", benchUAs[seq%uint64(len(benchUAs))])
	}
	rig.reportServer(b) // starts the handler times afresh
	b.ResetTimer()
	for slices.ContainsFunc(targets, func(t *target) bool { return t.done < b.N }) {
		for _, t := range targets {
			n := min(slice, b.N-t.done)
			if n <= 0 {
				continue
			}
			res, err := loadgen.Run(context.Background(), loadgen.Config{URL: t.url, Conns: conns, Rate: rate,
				Method: http.MethodGet, Prepare: prepare, Warmup: 250 * time.Millisecond,
				Duration: time.Duration(float64(n) / rate * float64(time.Second)), Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			if res.Errors > 0 || res.Statuses[http.StatusFound] != res.Requests {
				b.Fatalf("%s: %v (%v)", t.name, res, res.FirstError)
			}
			t.runs = append(t.runs, res)
			t.done += n
		}
	}
	b.StopTimer()
	for _, t := range targets {
		r := loadgen.Merge(t.runs...)
		b.ReportMetric(r.Rate(), t.name+"redirects/s")
		b.ReportMetric(float64(r.P50)/float64(time.Millisecond), t.name+"p50-ms")
		b.ReportMetric(float64(r.P99)/float64(time.Millisecond), t.name+"p99-ms")
		b.ReportMetric(float64(r.ServiceP99)/float64(time.Millisecond), t.name+"service-p99-ms")
		b.ReportMetric(100*float64(r.Late)/float64(max(1, r.Requests)), t.name+"late-%")
	}
	rig.reportServer(b)
}

// BenchmarkLinkResolution resolves click links through the in-process
// LRU from 64 goroutines, over 10,000 campaigns (display ids spread
// evenly), and reports the p50/p99 of one resolution in microseconds. cache=off looks
// every link up in the in-memory catalog instead.
//
//	go test ./gateway -run '^$' -bench BenchmarkLinkResolution -benchtime 1000000x
func BenchmarkLinkResolution(b *testing.B) {
	const n = 10_000
	c := &catalog.Catalog{Projects: []catalog.ProjectRecord{{ID: "demo", Secrets: catalog.Secrets{Token: "tok-demo-0123456789", ServerKey: "key-demo-0123456789"}}}}
	for i := range n {
		c.Campaigns = append(c.Campaigns, catalog.Campaign{ID: fmt.Sprintf("c%d", i), ProjectID: "demo",
			Spec: catalog.Always(catalog.CampaignSpec{Name: "C", DisplayID: fmt.Sprintf("d%d", i),
				StoreURLs: map[catalog.Platform]string{catalog.Android: playURL}, DesktopURL: desktopURL})})
	}
	c.Domains = []catalog.Domain{{Host: "go.demo.example", Spec: catalog.Always(catalog.DomainSpec{ProjectID: "demo", DefaultCampaign: "c0"})}}
	if err := c.Build(); err != nil {
		b.Fatal(err)
	}
	displays := make([]string, n)
	for i := range displays {
		displays[i] = fmt.Sprintf("d%d", i)
	}
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cache=lru", DefaultLinkTTL}, {"cache=off", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			s := New(Deps{Projects: c, Catalog: c}, WithLinkCache(tc.ttl, DefaultLinkEntries))
			now := time.Now()
			for _, d := range displays { // warm
				if _, _, _, ok, _ := s.resolveLink("go.demo.example", d, now); !ok {
					b.Fatalf("%s does not resolve", d)
				}
			}
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			var mu sync.Mutex
			var lat []time.Duration
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(worker.Add(1)) * 7919
				local := make([]time.Duration, 0, 4096)
				for pb.Next() {
					i++
					t0 := time.Now()
					_, _, _, ok, _ := s.resolveLink("go.demo.example", displays[i%n], now)
					local = append(local, time.Since(t0))
					if !ok {
						b.Error("unresolved")
						return
					}
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
			b.StopTimer()
			reportLatencies(b, "", lat, time.Microsecond)
		})
	}
}

// BenchmarkRedirectHandler is the router's own work per click link
// (resolution through the LRU, user agent, click encoding, answer) with
// an in-memory click spool: no network, no fsync.
func BenchmarkRedirectHandler(b *testing.B) {
	e := newLinkEnv(b, now.Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		w := e.get("links.hazelnut.example", "/c/summer25?gclid=G1&utm_source=google", uaPixel)
		if w.Code != http.StatusFound {
			b.Fatalf("status %d", w.Code)
		}
		e.spool.mu.Lock()
		e.spool.recs = e.spool.recs[:0]
		e.spool.mu.Unlock()
	}
}
