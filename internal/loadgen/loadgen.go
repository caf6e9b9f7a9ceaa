// Package loadgen is a closed-loop HTTP load generator: a fixed number of
// persistent connections, each sending its next request as soon as the
// previous one is answered. It warms up, then measures the request rate, the
// answers by status and the latency distribution.
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
	}
	slices.Sort(out.Samples)
	out.setPercentiles()
	return out
}

func (r *Result) setPercentiles() {
	r.Requests = int64(len(r.Samples))
	if len(r.Samples) > 0 {
		r.P50, r.P90, r.P99 = quantile(r.Samples, 0.50), quantile(r.Samples, 0.90), quantile(r.Samples, 0.99)
		r.Max = r.Samples[len(r.Samples)-1]
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
	return fmt.Sprintf("conns=%d rate=%.0f/s requests=%d errors=%d statuses=[%s] p50=%s p90=%s p99=%s max=%s",
		r.Conns, r.Rate(), r.Requests, r.Errors, strings.Join(st, " "), ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// worker is one connection's counts; only its goroutine writes it.
type worker struct {
	lat      []time.Duration
	statuses map[int]int64
	errors   int64
	firstErr error
}

// Run drives cfg.URL until the warm-up and the measured period are over or
// ctx is done (then the result covers the measured time so far).
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
	if cfg.ContentType == "" {
		cfg.ContentType = "application/json"
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
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// measuring is set when the warm-up ends; the run stops at end.
	var measuring atomic.Bool
	var seq atomic.Uint64
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	if cfg.Warmup <= 0 {
		measuring.Store(true)
	}

	workers := make([]*worker, cfg.Conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{statuses: map[int]int64{}, lat: make([]time.Duration, 0, 4096)}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil {
				b := body(seq.Add(1) - 1)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(b))
				if err != nil {
					w.fail(err)
					return
				}
				req.Header.Set("Content-Type", cfg.ContentType)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				t1 := time.Now()
				if t1.After(end) {
					// The request in flight at the end is answered, not
					// aborted: servers do not see clients go away.
					return
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					w.fail(err)
					continue
				}
				w.statuses[resp.StatusCode]++
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
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		for c, n := range w.statuses {
			res.Statuses[c] += n
		}
		res.Errors += w.errors
		if res.FirstError == nil {
			res.FirstError = w.firstErr
		}
	}
	slices.Sort(all)
	res.Samples = all
	res.setPercentiles()
	return res, nil
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
