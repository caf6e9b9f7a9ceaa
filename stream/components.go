package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
)

// runUntilReady runs run in the background, calls ready once isReady's
// channel closes (unless run already returned), and returns run's result.
// ready is never called after this function returned.
func runUntilReady(ctx context.Context, run func(context.Context) error, readyCh func(context.Context) <-chan struct{}, done <-chan struct{}, ready func()) error {
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-readyCh(wctx):
			select {
			case <-done:
			case <-wctx.Done():
			default:
				ready()
			}
		case <-wctx.Done():
		}
	}()
	err := run(ctx)
	cancel()
	wg.Wait()
	return err
}

// ProcessorOption configures a ProcessorComponent.
type ProcessorOption func(*procOpts)

type procOpts struct {
	timings   func(kind string, d time.Duration)
	onUnclean func() error
}

// WithTimings reports how long the processor took to become ready after a
// start ("recovery": built until every partition recovered and runs) and
// after a rebalance ("rebalance": from the end of one session until it runs
// again, goka's pause included).
func WithTimings(fn func(kind string, d time.Duration)) ProcessorOption {
	return func(o *procOpts) { o.timings = fn }
}

// WithUncleanStop is called after a run that ended with an error, once the
// processor has closed its storages: state it wrote may never have reached
// the changelog, so the hook discards it (it is rebuilt from the changelog
// at the next start). An error from the hook is fatal.
func WithUncleanStop(fn func() error) ProcessorOption {
	return func(o *procOpts) { o.onUnclean = fn }
}

// ProcessorComponent supervises one goka processor: build makes a new
// processor (it talks to the broker, so it runs inside the restart loop);
// the component is ready once all its partitions have recovered.
func ProcessorComponent(name string, build func() (*goka.Processor, error), opts ...ProcessorOption) Component {
	var o procOpts
	for _, opt := range opts {
		opt(&o)
	}
	return Component{Name: name, Run: func(ctx context.Context, ready func()) error {
		start := time.Now()
		p, err := build()
		if err != nil {
			return fmt.Errorf("build processor %s: %w", name, err)
		}
		if o.timings != nil {
			obs := p.StateReader().ObserveStateChange()
			defer obs.Stop()
			go observeTimings(obs, start, o.timings)
		}
		err = runUntilReady(ctx, p.Run, func(c context.Context) <-chan struct{} {
			ch := make(chan struct{})
			go func() {
				if p.WaitForReadyContext(c) == nil {
					close(ch)
				}
			}()
			return ch
		}, p.Done(), ready)
		if err != nil && ctx.Err() == nil && o.onUnclean != nil {
			if derr := o.onUnclean(); derr != nil {
				return Fatal(fmt.Errorf("discard state of %s after %v: %w", name, err, derr))
			}
		}
		return err
	}}
}

// observeTimings turns processor state changes into durations.
func observeTimings(obs *goka.StateChangeObserver, start time.Time, report func(string, time.Duration)) {
	var rebalanceStart time.Time
	started := false
	for st := range obs.C() {
		switch st {
		case goka.ProcStateRunning:
			if !started {
				started = true
				report("recovery", time.Since(start))
			} else if !rebalanceStart.IsZero() {
				report("rebalance", time.Since(rebalanceStart))
			}
			rebalanceStart = time.Time{}
		case goka.ProcStateStopping:
			if started && rebalanceStart.IsZero() {
				rebalanceStart = time.Now()
			}
		}
	}
}

// ViewHolder keeps the current instance of a supervised goka view so that
// readers always reach the latest one. The zero value holds nothing.
type ViewHolder struct{ v atomic.Pointer[goka.View] }

// ErrNotReady is returned by readers whose component does not serve now.
var ErrNotReady = errors.New("not ready")

// Get reads key from the current view. It returns ErrNotReady while no view
// has recovered.
func (h *ViewHolder) Get(key string) (any, error) {
	v := h.v.Load()
	if v == nil {
		return nil, ErrNotReady
	}
	return v.Get(key)
}

// ViewComponent supervises one goka view; readers use holder. The view is
// published to the holder once it has recovered all partitions.
func ViewComponent(name string, holder *ViewHolder, build func() (*goka.View, error)) Component {
	return Component{Name: name, Run: func(ctx context.Context, ready func()) error {
		v, err := build()
		if err != nil {
			return fmt.Errorf("build view %s: %w", name, err)
		}
		done := make(chan struct{})
		defer holder.v.CompareAndSwap(v, nil)
		return runUntilReady(ctx, func(ctx context.Context) error {
			defer close(done)
			return v.Run(ctx)
		}, func(context.Context) <-chan struct{} { return v.WaitRunning() }, done, func() {
			holder.v.Store(v)
			ready()
		})
	}}
}
