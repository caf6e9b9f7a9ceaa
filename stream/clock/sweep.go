package clock

import (
	"context"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// SweepFunc examines one entry of the group table during a sweep, in the
// entry's partition goroutine, with that partition's watermark. It may
// delete the entry (ctx.Delete), store a trimmed value (ctx.SetValue) or
// leave it; it must not do I/O. value is the decoded entry, never a
// watermark record. With Prefilter it also runs in the goroutine that walks
// the table, on a copy decoded there and with a context that only records
// its effects, concurrently with the partition's callbacks: what it reads
// besides value must be safe to read from several goroutines.
type SweepFunc func(ctx goka.Context, value any, watermark time.Time)

// DeleteExpired is the SweepFunc that deletes an entry once its expiry is
// before the watermark. expiry returns the entry's event time plus its TTL
// plus the allowed slack, or ok false for an entry that does not expire.
func DeleteExpired(expiry func(value any) (at time.Time, ok bool)) SweepFunc {
	return func(ctx goka.Context, value any, watermark time.Time) {
		if at, ok := expiry(value); ok && at.Before(watermark) {
			ctx.Delete()
		}
	}
}

// Defaults of SweepConfig: a full pass takes 8 sweeps, 10s apart. Each
// sweep walks a slice of every partition's table, so sweeps are spaced
// out; expiry windows are hours to days, a pass of a minute or two is soon
// enough.
const (
	DefaultSweepSlices = 8
	DefaultSweepPause  = 10 * time.Second
)

// SweepConfig configures a Sweeper; the zero value is usable.
type SweepConfig struct {
	// Name is the visitor's name in the group graph (default "clock-sweep").
	Name string
	// Slices splits the table: one sweep examines the keys whose CRC-32
	// modulo Slices is the sweep's slice (with Prefilter: one of Slices
	// key ranges of the table), so a full pass takes Slices sweeps
	// (default DefaultSweepSlices).
	Slices int
	// Pause is the least time between two sweeps of a running component
	// (default DefaultSweepPause), so a burst of ticks (a replay) does not
	// turn into back-to-back passes.
	Pause time.Duration
	// OnSweep, when set, is called after every sweep the component runs
	// (for metrics and logs).
	OnSweep func(visited int64, err error)
}

// Sweeper expires a group's table entries by watermark, in slices, through
// goka's visitor: the group declares Visitor() in its graph; Sweep (or the
// component of Component) runs one slice on all active partitions with
// Processor.VisitAll. goka walks every key of a partition on each sweep (a
// callback cannot range-scan), but only the keys of the slice are decoded
// and examined; with Prefilter installed on the table's iterators, the
// walk covers only the slice's key range and only the entries the
// SweepFunc changes reach the visitor. Entries of a
// partition whose watermark is unknown (no tick since it was assigned) are
// left alone. One sweep runs at a time.
type Sweeper struct {
	w    *Watermarks
	fn   SweepFunc
	cfg  SweepConfig
	next atomic.Uint32
	// running is the sweep in progress (Prefilter).
	running atomic.Pointer[sweepRun]
	// ranged says the table's iterators slice the table (Prefilter).
	ranged atomic.Bool
}

// slice is the meta of a sweep's visit: examine keys of slice I of N.
type slice struct{ I, N uint32 }

// NewSweeper returns a sweeper reading watermarks from w.
func NewSweeper(w *Watermarks, fn SweepFunc, cfg SweepConfig) *Sweeper {
	if cfg.Name == "" {
		cfg.Name = "clock-sweep"
	}
	if cfg.Slices <= 0 {
		cfg.Slices = DefaultSweepSlices
	}
	if cfg.Pause <= 0 {
		cfg.Pause = DefaultSweepPause
	}
	return &Sweeper{w: w, fn: fn, cfg: cfg}
}

// Visitor is the edge to declare in the group graph.
func (s *Sweeper) Visitor() goka.Edge { return goka.Visitor(s.cfg.Name, s.visit) }

func (s *Sweeper) visit(ctx goka.Context, meta any) {
	sl, ok := meta.(slice)
	if !ok || (!s.ranged.Load() && !inSlice(ctx.Key(), sl)) {
		return
	}
	wm, ok := s.w.Current(ctx)
	if !ok {
		return
	}
	v := ctx.Value()
	if v == nil {
		return
	}
	if _, isRecord := v.(*Record); isRecord {
		return
	}
	s.fn(ctx, v, wm)
}

// inSlice places keys with CRC-32, not with goka's FNV hash: every key of a
// partition shares its FNV hash modulo the partition count, so slicing by
// the same hash would put a partition's keys in few slices.
func inSlice(key string, sl slice) bool {
	return sl.N <= 1 || crc32.ChecksumIEEE([]byte(key))%sl.N == sl.I
}

// Sweep runs the next slice on every active partition of p and returns the
// number of keys goka visited (with Prefilter: the entries handed on). It
// blocks until the partitions went through the slice, ctx is done or a
// rebalance aborted the visit.
func (s *Sweeper) Sweep(ctx context.Context, p *goka.Processor) (int64, error) {
	n := uint32(s.cfg.Slices)
	i := (s.next.Add(1) - 1) % n
	sl := slice{I: i, N: n}
	s.running.Store(&sweepRun{slice: sl, marks: s.w.marks()})
	defer s.running.Store(nil)
	return p.VisitAllWithStats(ctx, s.cfg.Name, sl)
}

// Component runs the processor build makes, as stream.ProcessorComponent
// does, together with its sweeps: whenever a tick moves a watermark of the
// group, the component runs one full pass (Slices sweeps, Pause apart; a
// later move starts the pass again). A failed sweep (a rebalance aborted
// it) is not retried: the next sweep continues with the next slice. On
// shutdown the sweep in progress finishes before the processor stops.
// opts are those of stream.ProcessorComponent.
func (s *Sweeper) Component(name string, build func() (*goka.Processor, error), opts ...stream.ProcessorOption) stream.Component {
	return stream.Component{Name: name, Run: func(ctx context.Context, ready func()) error {
		p, err := build()
		if err != nil {
			return fmt.Errorf("build processor %s: %w", name, err)
		}
		advanced := s.w.subscribe()
		defer s.w.unsubscribe(advanced)

		// The processor runs on its own context, cancelled only once the
		// sweep loop has returned: goka does not wait for the visits of an
		// aborted VisitAll, so sweeps are not aborted on a clean shutdown.
		procCtx, stopProc := context.WithCancel(context.WithoutCancel(ctx))
		defer stopProc()
		quit, loopDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(loopDone)
			s.loop(quit, p, advanced)
		}()
		var once sync.Once
		stopLoop := func() {
			once.Do(func() { close(quit) })
			<-loopDone
		}
		ran := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				stopLoop()
				stopProc()
			case <-ran:
			}
		}()
		err = stream.ProcessorComponent(name, func() (*goka.Processor, error) { return p, nil }, opts...).Run(procCtx, ready)
		close(ran)
		stopLoop()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}}
}

// sweepTimeout bounds one sweep in case a partition stops answering.
const sweepTimeout = 5 * time.Minute

func (s *Sweeper) loop(quit <-chan struct{}, p *goka.Processor, advanced <-chan struct{}) {
	readyCtx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-quit:
		case <-readyCtx.Done():
		}
		cancel()
	}()
	err := p.WaitForReadyContext(readyCtx)
	cancel()
	if err != nil {
		return
	}
	remaining := 0
	for {
		if remaining == 0 {
			select {
			case <-quit:
				return
			case <-advanced:
				remaining = s.cfg.Slices
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
		visited, err := s.Sweep(ctx, p)
		cancel()
		if s.cfg.OnSweep != nil {
			s.cfg.OnSweep(visited, err)
		}
		remaining--
		pause := time.NewTimer(s.cfg.Pause)
	wait:
		for {
			select {
			case <-quit:
				pause.Stop()
				return
			case <-advanced:
				remaining = s.cfg.Slices
			case <-pause.C:
				break wait
			}
		}
	}
}
