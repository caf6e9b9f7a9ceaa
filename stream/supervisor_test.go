package stream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

func fastSupervisor() *Supervisor {
	s := NewSupervisor(nil)
	s.MinBackoff, s.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return s
}

func TestSupervisorRestartsFailedComponents(t *testing.T) {
	s := fastSupervisor()
	var runs, restarts atomic.Int32
	s.OnRestart = func(string, error) { restarts.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, Component{Name: "flaky", Run: func(ctx context.Context, ready func()) error {
			if runs.Add(1) < 3 {
				return errors.New("broker gone")
			}
			ready()
			<-ctx.Done()
			return nil
		}})
	}()
	poll.Until(t, 5*time.Second, "third run to be ready", func() bool { return len(s.NotReady()) == 0 && runs.Load() == 3 })
	if restarts.Load() != 2 {
		t.Errorf("restarts = %d, want 2", restarts.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("clean stop returned %v", err)
	}
	if got := s.NotReady(); len(got) != 1 || got[0] != "flaky" {
		t.Errorf("after stop NotReady = %v", got)
	}
}

func TestSupervisorStopsOnFatal(t *testing.T) {
	s := fastSupervisor()
	var other atomic.Bool
	err := s.Run(context.Background(),
		Component{Name: "bad-config", Run: func(context.Context, func()) error { return Fatal(errors.New("no brokers")) }},
		Component{Name: "other", Run: func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			other.Store(true)
			return nil
		}},
	)
	if !errors.Is(err, ErrFatal) {
		t.Fatalf("got %v, want a fatal error", err)
	}
	if !other.Load() {
		t.Error("other components must be stopped when one fails fatally")
	}
}

func TestSupervisorRecoversPanics(t *testing.T) {
	s := fastSupervisor()
	var runs atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = s.Run(ctx, Component{Name: "panicky", Run: func(ctx context.Context, ready func()) error {
			if runs.Add(1) == 1 {
				panic("boom")
			}
			ready()
			<-ctx.Done()
			return nil
		}})
	}()
	poll.Until(t, 5*time.Second, "restart after panic", func() bool { return runs.Load() == 2 && len(s.NotReady()) == 0 })
}

func TestNotReadyBeforeRun(t *testing.T) {
	s := NewSupervisor(nil)
	if len(s.NotReady()) == 0 {
		t.Fatal("a supervisor that runs nothing yet must not report ready")
	}
}
