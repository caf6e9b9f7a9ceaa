package attribution

import (
	"errors"
	"sync"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

// states keeps the install states of the installs that wait for answers
// in memory, for the consumer group session that delivers their inputs:
//
//   - an answer reads the state from memory, not from the table (no read,
//     no decoding);
//   - an answer after which the install still waits for another does not
//     write the table: the state stays in memory only and the answer's
//     commit is held (commit.Scope) until a later input of the install
//     writes the state, which then carries both. The click side answers
//     every request at once (a claim for a click it has not seen yet with
//     "pending"), so an install is written twice: at its first init and
//     once nothing is outstanding, when it is decided.
//
// A crash or a rebalance loses what was only in memory, and the held
// answers are delivered again to the table's state (their offsets are
// above its absorbed ones, so they apply). The first init is always
// written: an answer that comes again never finds no install.
//
// Without a session (goka's tester) every state is read from and written
// to the table, as if states did not exist.
type states struct {
	scope *commit.Scope

	mu    sync.Mutex
	gen   uint64
	parts map[int32]map[string]*kept
}

// kept is an install's state as the session last left it.
type kept struct {
	st *codecs.InstallState
	// holds are the inputs whose effects are in st but not in the table.
	holds []commit.Hold
}

// maxKept bounds the states a partition keeps that are also in the table
// (an install whose answers stopped coming, e.g. while the click side is
// down); beyond it they are dropped, never those only in memory.
const maxKept = 5000

// maxHeld bounds the answers one install's state may hold in memory; the
// next one writes it.
const maxHeld = 16

var errStateLost = errors.New("attribution: an install's state held in memory only was lost")

func newStates(scope *commit.Scope) *states {
	return &states{scope: scope, parts: map[int32]map[string]*kept{}}
}

// part returns the partition's states of the running session, or nil
// without a session.
func (s *states) part(p int32) map[string]*kept {
	gen, ok := s.scope.Session()
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		clear(s.parts) // an earlier session's: the table is current
		s.gen = gen
	}
	if !ok {
		return nil
	}
	m := s.parts[p]
	if m == nil {
		m = map[string]*kept{}
		s.parts[p] = m
	}
	return m
}

// load is the install's state, from memory when the session kept it.
// The partition's states are only used from its goroutine.
func (s *states) load(ctx goka.Context) (*codecs.InstallState, *kept) {
	if m := s.part(ctx.Partition()); m != nil {
		if k := m[ctx.Key()]; k != nil {
			return k.st, k
		}
	}
	st, _ := ctx.Value().(*codecs.InstallState)
	return st, nil
}

// store makes st the install's state after the current input: kept in
// memory only when the input is an answer (deferrable) after which the
// install still waits for one, and the session holds its commit; else
// written to the table, releasing the inputs held for it once this input
// is committed.
func (s *states) store(ctx goka.Context, st *codecs.InstallState, deferrable bool) {
	m := s.part(ctx.Partition())
	if m == nil {
		ctx.SetValue(st)
		return
	}
	key := ctx.Key()
	k := m[key]
	if k == nil {
		k = &kept{}
	}
	k.st = st
	if deferrable && len(st.Waiting) > 0 && len(k.holds) < maxHeld {
		if h, ok := s.scope.Hold(string(ctx.Topic()), ctx.Partition(), ctx.Offset()); ok {
			k.holds = append(k.holds, h)
			m[key] = k
			return
		}
	}
	ctx.SetValue(st)
	s.scope.ReleaseWith(k.holds, string(ctx.Topic()), ctx.Partition(), ctx.Offset())
	k.holds = nil
	if len(st.Waiting) == 0 {
		delete(m, key) // decided: later inputs are rare
		return
	}
	m[key] = k
	if len(m) > maxKept {
		for other, o := range m {
			if len(o.holds) == 0 {
				delete(m, other)
			}
			if len(m) <= maxKept/2 {
				break
			}
		}
	}
}

// guard runs step, an input's handling of the state it loaded: if step
// panics, a state kept from earlier inputs may be half changed, so it is
// dropped; when it held effects that are not in the table, the processor
// restarts (stream.Restart) so that the held inputs come again, instead of
// later inputs applying to the table's older state.
func (s *states) guard(ctx goka.Context, k *kept, step func()) (err error) {
	if k == nil {
		step()
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			if m := s.part(ctx.Partition()); m != nil {
				delete(m, ctx.Key())
			}
			if len(k.holds) > 0 {
				err = stream.Restart(errStateLost)
				return
			}
			panic(r)
		}
	}()
	step()
	return nil
}
