package attribution

import (
	"errors"
	"testing"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

// keyCtx is the part of a goka context states.guard uses.
type keyCtx struct{ gokaContext }

type gokaContext = goka.Context

func (keyCtx) Partition() int32 { return 0 }
func (keyCtx) Key() string      { return "p:i" }

// TestStatesGuardRestartsWhenHeldStateMayBeBroken: a step that panics on a
// state holding effects that are only in memory stops the processor
// (stream.Restart); on a state that is also in the table the panic goes on
// to the DLQ; a state read from the table is not guarded.
func TestStatesGuardRestartsWhenHeldStateMayBeBroken(t *testing.T) {
	s := newStates(commit.NewScope())
	boom := func() { panic("boom") }

	held := &kept{st: &codecs.InstallState{}, holds: make([]commit.Hold, 1)}
	if err := s.guard(keyCtx{}, held, boom); !errors.Is(err, stream.ErrRestart) {
		t.Fatalf("held state: %v, want a restart", err)
	}

	clean := &kept{st: &codecs.InstallState{}}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("clean state: recovered %v, want the panic passed on", r)
			}
		}()
		_ = s.guard(keyCtx{}, clean, boom)
		t.Fatal("clean state: the panic was swallowed")
	}()

	ran := false
	if err := s.guard(keyCtx{}, nil, func() { ran = true }); err != nil || !ran {
		t.Fatalf("no kept state: err %v, ran %v", err, ran)
	}
}
