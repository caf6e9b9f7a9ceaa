package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// ErrFatal marks errors that a restart cannot fix (bad configuration). A
// component returning an error wrapping ErrFatal stops the whole supervisor.
var ErrFatal = errors.New("fatal")

// Fatal wraps err so that the supervisor gives up instead of restarting.
func Fatal(err error) error { return fmt.Errorf("%w: %w", ErrFatal, err) }

// Component is one restartable part of a role: a goka processor, a view, an
// emitter, a listener. Run blocks until ctx is done (returning nil) or the
// component fails. ready must be called once the component serves; the
// supervisor marks it not ready whenever Run returns.
type Component struct {
	Name string
	Run  func(ctx context.Context, ready func()) error
}

// Supervisor runs components and restarts each one with exponential backoff
// when it stops with an error other than ErrFatal. goka processors and
// views stop on any broker or emit error and never restart themselves;
// this is what brings them back.
type Supervisor struct {
	log *zap.Logger
	// MinBackoff and MaxBackoff bound the restart delay (defaults 200ms, 10s).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter resets the backoff once a run lasted that long (default 30s).
	StableAfter time.Duration
	// OnRestart, when set, is called before each restart (for metrics).
	OnRestart func(name string, err error)

	mu      sync.Mutex
	started bool
	ready   map[string]bool
}

// NewSupervisor returns a supervisor; log may be nil.
func NewSupervisor(log *zap.Logger) *Supervisor {
	if log == nil {
		log = zap.NewNop()
	}
	return &Supervisor{log: log, MinBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second,
		StableAfter: 30 * time.Second, ready: map[string]bool{}}
}

// Run runs all components until ctx is done or one fails fatally. It
// returns nil after a clean shutdown.
func (s *Supervisor) Run(ctx context.Context, comps ...Component) error {
	s.mu.Lock()
	s.started = true
	for _, c := range comps {
		s.ready[c.Name] = false
	}
	s.mu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		g.Go(func() error { return s.loop(ctx, c) })
	}
	return g.Wait()
}

func (s *Supervisor) loop(ctx context.Context, c Component) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = s.MinBackoff
	b.MaxInterval = s.MaxBackoff
	log := s.log.With(zap.String("component", c.Name))
	for {
		start := time.Now()
		err := s.runOnce(ctx, c)
		s.setReady(c.Name, false)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrFatal) {
			log.Error("component failed, not restarting", zap.Error(err))
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		if time.Since(start) >= s.StableAfter {
			b.Reset()
		}
		wait := b.NextBackOff()
		if err == nil {
			err = errors.New("stopped without error")
		}
		log.Warn("component stopped, restarting", zap.Error(err), zap.Duration("backoff", wait))
		if s.OnRestart != nil {
			s.OnRestart(c.Name, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (s *Supervisor) runOnce(ctx context.Context, c Component) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Run(ctx, func() { s.setReady(c.Name, true) })
}

func (s *Supervisor) setReady(name string, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready[name] = v
}

// NotReady lists the components that do not serve right now, sorted; empty
// means all serve. Before Run it reports "supervisor".
func (s *Supervisor) NotReady() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return []string{"supervisor"}
	}
	var out []string
	for n, r := range s.ready {
		if !r {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
