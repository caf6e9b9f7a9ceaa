// Package loadgen is an HTTP load generator over a fixed number of
// persistent connections. It warms up, then measures the request rate, the
// answers by status and the latency distribution.
//
// By default the loop is closed: each connection sends its next request as
// soon as the previous one is answered, which finds the saturation rate but
// hides a slow server (a stalled connection simply sends less). With a Rate
// the loop is open: requests are due on a fixed schedule, spread evenly over
// the connections, and each latency runs from the time its request was due,
// not from the time it could be sent. A request that finds its connection
// still waiting for the previous answer starts late, and the wait counts in
// its latency: a stall of the server shows in every request due during it.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one run.
type Config struct {
	// URL receives every request (POST).
	URL string
	// Conns is the number of persistent connections, one sender each.
	Conns int
	// Body is the request body when BodyFunc is nil.
	Body []byte
	// BodyFunc, when set, returns the body of the seq-th request (seq counts
	// from 0 over all connections). It is called concurrently.
	BodyFunc func(seq uint64) []byte
	// ContentType of the requests (default application/json).
	ContentType string
	// Warmup runs before the measured period; its requests are not counted.
	Warmup time.Duration
	// Duration is the measured period.
	Duration time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// Rate, when > 0, is the offered rate in requests per second over all
	// connections (open loop); 0 keeps the closed loop.
	Rate float64
	// Method of the requests (default POST). Redirects are never followed:
	// a 3xx answer is counted by its status.
	Method string
	// Prepare, when set, adjusts the seq-th request (seq as for BodyFunc)
	// before it is sent: its URL, its headers. It is called concurrently.
	Prepare func(seq uint64, req *http.Request)
}

// Result is what the measured period saw.
type Result struct {
	Conns    int
	Duration time.Duration // measured wall time
	// Requests counts answered requests (any status) and Errors those that
	// got no answer (connection or timeout errors).
	Requests, Errors int64
	// Statuses counts answers by HTTP status.
	Statuses map[int]int64
	// Latencies of answered requests.
	P50, P90, P99, Max time.Duration
	// FirstError is an example of the errors counted.
	FirstError error
	// Samples are the latencies of the answered requests, sorted.
	Samples []time.Duration

	// Open loop only (Offered > 0). Offered is the configured rate; the
	// achieved one is Rate(). Late counts the measured requests that were
	// sent after they were due because their connection was still waiting
	// for the previous answer. Service holds the latencies counted from the
	// actual send instead of the due time (what a closed loop would see),
	// sorted; ServiceP50 and ServiceP99 are its percentiles.
	Offered                float64
	Late                   int64
	Service                []time.Duration
	ServiceP50, ServiceP99 time.Duration
}

// Merge combines the results of several runs over the same connections
// (e.g. slices of one measurement interleaved with another's): counts and
// durations add up, percentiles come from all samples.
func Merge(rs ...Result) Result {
	out := Result{Statuses: map[int]int64{}}
	for _, r := range rs {
		out.Conns = max(out.Conns, r.Conns)
		out.Duration += r.Duration
		out.Errors += r.Errors
		for c, n := range r.Statuses {
			out.Statuses[c] += n
		}
		if out.FirstError == nil {
			out.FirstError = r.FirstError
		}
		out.Samples = append(out.Samples, r.Samples...)
		out.Offered = max(out.Offered, r.Offered)
		out.Late += r.Late
		out.Service = append(out.Service, r.Service...)
	}
	slices.Sort(out.Samples)
	slices.Sort(out.Service)
	out.setPercentiles()
	return out
}

func (r *Result) setPercentiles() {
	r.Requests = int64(len(r.Samples))
	if len(r.Samples) > 0 {
		r.P50, r.P90, r.P99 = quantile(r.Samples, 0.50), quantile(r.Samples, 0.90), quantile(r.Samples, 0.99)
		r.Max = r.Samples[len(r.Samples)-1]
	}
	if len(r.Service) > 0 {
		r.ServiceP50, r.ServiceP99 = quantile(r.Service, 0.50), quantile(r.Service, 0.99)
	}
}

// Rate is answered requests per second.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// OK counts 2xx answers.
func (r Result) OK() int64 {
	var n int64
	for code, c := range r.Statuses {
		if code >= 200 && code < 300 {
			n += c
		}
	}
	return n
}

// Non2xx counts answers whose status is not 2xx.
func (r Result) Non2xx() int64 { return r.Requests - r.OK() }

// String is a one-line summary.
func (r Result) String() string {
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%d×%d", r.Statuses[c], c))
	}
	s := fmt.Sprintf("conns=%d rate=%.0f/s requests=%d errors=%d statuses=[%s] p50=%s p90=%s p99=%s max=%s",
		r.Conns, r.Rate(), r.Requests, r.Errors, strings.Join(st, " "), ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max))
	if r.Offered > 0 {
		s += fmt.Sprintf(" offered=%.0f/s late=%d service-p50=%s service-p99=%s", r.Offered, r.Late, ms(r.ServiceP50), ms(r.ServiceP99))
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// worker is one connection's counts; only its goroutine writes it.
type worker struct {
	lat      []time.Duration
	service  []time.Duration
	late     int64
	statuses map[int]int64
	errors   int64
	firstErr error
}

// Run drives cfg.URL until the warm-up and the measured period are over or
// ctx is done (then the result covers the measured time so far). In the
// open loop (cfg.Rate > 0) the requests due in the measured period are all
// waited for, so the run lasts longer than Warmup+Duration when the server
// falls behind; Duration then runs to the last answer.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.URL == "" {
		return Result{}, errors.New("loadgen: no URL")
	}
	if cfg.Conns <= 0 {
		return Result{}, errors.New("loadgen: conns must be > 0")
	}
	if cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: duration must be > 0")
	}
	if cfg.Rate < 0 {
		return Result{}, errors.New("loadgen: rate must be >= 0")
	}
	if cfg.ContentType == "" {
		cfg.ContentType = "application/json"
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	body := cfg.BodyFunc
	if body == nil {
		b := cfg.Body
		body = func(uint64) []byte { return b }
	}
	tr := &http.Transport{
		MaxConnsPerHost:     cfg.Conns,
		MaxIdleConnsPerHost: cfg.Conns,
		MaxIdleConns:        cfg.Conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// do sends the seq-th request and reads its answer.
	do := func(seq uint64) (*http.Response, error) {
		b := body(seq)
		req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if len(b) > 0 || cfg.Method == http.MethodPost {
			req.Header.Set("Content-Type", cfg.ContentType)
		}
		if cfg.Prepare != nil {
			cfg.Prepare(seq, req)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	workers := make([]*worker, cfg.Conns)
	for i := range workers {
		workers[i] = &worker{statuses: map[int]int64{}, lat: make([]time.Duration, 0, 4096)}
	}
	if cfg.Rate > 0 {
		return runOpen(ctx, cfg, workers, do, start, measureFrom, end)
	}

	// measuring is set when the warm-up ends; the run stops at end.
	var measuring atomic.Bool
	var seq atomic.Uint64
	if cfg.Warmup <= 0 {
		measuring.Store(true)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := do(seq.Add(1) - 1)
				t1 := time.Now()
				if t1.After(end) {
					// The request in flight at the end is answered, not
					// aborted: servers do not see clients go away.
					return
				}
				if !measuring.Load() {
					continue
				}
				if stop, ok := w.answered(ctx, resp, err); stop {
					return
				} else if !ok {
					continue
				}
				w.lat = append(w.lat, t1.Sub(t0))
			}
		})
	}
	var measuredFrom time.Time
	if cfg.Warmup > 0 {
		select {
		case <-time.After(time.Until(measureFrom)):
			measuredFrom = time.Now()
			measuring.Store(true)
		case <-ctx.Done():
		}
	} else {
		measuredFrom = start
	}
	wg.Wait()
	stopped := time.Now()

	res := Result{Conns: cfg.Conns, Statuses: map[int]int64{}}
	if measuredFrom.IsZero() {
		return res, ctx.Err()
	}
	if stopped.After(end) {
		stopped = end
	}
	res.Duration = stopped.Sub(measuredFrom)
	res.collect(workers)
	return res, nil
}

// runOpen is the open loop: the j-th request (j from 0 over all
// connections) is due at start + j/Rate and goes to connection j mod Conns.
// A request due before measureFrom warms up; the requests due before end
// are sent and all of them are waited for.
func runOpen(ctx context.Context, cfg Config, workers []*worker, do func(uint64) (*http.Response, error),
	start, measureFrom, end time.Time) (Result, error) {
	due := func(j uint64) time.Time {
		return start.Add(time.Duration(float64(j) * float64(time.Second) / cfg.Rate))
	}
	conns := uint64(len(workers))
	last := make([]time.Time, len(workers)) // each connection's last measured answer
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			var prev time.Time // the previous answer on this connection
			for j := uint64(i); ; j += conns {
				at := due(j)
				if !at.Before(end) {
					return
				}
				if wait := time.Until(at); wait > 0 {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-ctx.Done():
						return
					}
				}
				measured := !at.Before(measureFrom)
				if measured && prev.After(at) {
					w.late++
				}
				t0 := time.Now()
				resp, err := do(j)
				t1 := time.Now()
				prev = t1
				if !measured {
					continue
				}
				if stop, ok := w.answered(ctx, resp, err); stop {
					return
				} else if !ok {
					continue
				}
				last[i] = t1
				w.lat = append(w.lat, t1.Sub(at))
				w.service = append(w.service, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	stopped := time.Now()
	res := Result{Conns: len(workers), Statuses: map[int]int64{}, Offered: cfg.Rate}
	if ctx.Err() == nil {
		// Every request due in the measured period was answered (or
		// failed): the period lasts at least Duration, longer when answers
		// came after its end.
		stopped = end
		for _, t := range last {
			stopped = later(stopped, t)
		}
	}
	if !stopped.After(measureFrom) {
		return res, ctx.Err()
	}
	res.Duration = stopped.Sub(measureFrom)
	res.collect(workers)
	return res, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// collect adds up the workers' counts and samples.
func (r *Result) collect(workers []*worker) {
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		r.Service = append(r.Service, w.service...)
		for c, n := range w.statuses {
			r.Statuses[c] += n
		}
		r.Errors += w.errors
		r.Late += w.late
		if r.FirstError == nil {
			r.FirstError = w.firstErr
		}
	}
	slices.Sort(all)
	slices.Sort(r.Service)
	r.Samples = all
	r.setPercentiles()
}

// answered counts the outcome of one measured request: its status when it
// got an answer (ok), else the error, unless ctx ended, which stops the
// worker.
func (w *worker) answered(ctx context.Context, resp *http.Response, err error) (stop, ok bool) {
	if err != nil {
		if ctx.Err() != nil {
			return true, false
		}
		w.fail(err)
		return false, false
	}
	w.statuses[resp.StatusCode]++
	return false, true
}

func (w *worker) fail(err error) {
	w.errors++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// quantile is the nearest-rank quantile q of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
