package clock

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

var t0 = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// fakeCtx is the part of goka.Context the watermark code uses; a partition
// processor's session is its context.
type gokaCtx = goka.Context

type fakeCtx struct {
	gokaCtx
	topic   goka.Stream
	key     string
	part    int32
	session context.Context
	table   map[string]any
}

func (c *fakeCtx) Topic() goka.Stream                                   { return c.topic }
func (c *fakeCtx) Key() string                                          { return c.key }
func (c *fakeCtx) Partition() int32                                     { return c.part }
func (c *fakeCtx) Context() context.Context                             { return c.session }
func (c *fakeCtx) Value() any                                           { return c.table[c.key] }
func (c *fakeCtx) SetValue(v any, _ ...goka.ContextOption)              { c.table[c.key] = v }
func (c *fakeCtx) Delete(_ ...goka.ContextOption)                       { delete(c.table, c.key) }
func (c *fakeCtx) Emit(goka.Stream, string, any, ...goka.ContextOption) {}

// sim is one partition of a group as goka runs it: a table and the context
// of the current partition processor.
type sim struct {
	t        *testing.T
	w        *Watermarks
	part     int32
	n        int
	session  context.Context
	table    map[string]any
	writes   int
	sessions int
}

type sessionKey struct{}

func newSim(t *testing.T, w *Watermarks, part int32, n int) *sim {
	return &sim{t: t, w: w, part: part, n: n, session: context.Background(), table: map[string]any{}}
}

// reassign starts a new partition processor (restart or rebalance) on the
// same table, optionally with another tracker (another process).
func (s *sim) reassign(w *Watermarks) {
	s.w = w
	s.sessions++
	s.session = context.WithValue(context.Background(), sessionKey{}, s.sessions)
}

func (s *sim) observe(input string, t time.Time) {
	s.w.Observe(&fakeCtx{topic: goka.Stream(input), key: "p:k", part: s.part, session: s.session, table: s.table}, t)
}

func (s *sim) tick() time.Time {
	s.t.Helper()
	key := TickKey(s.part, s.n)
	before := s.table[key]
	wm, err := s.w.OnTick(&fakeCtx{topic: Ticks, key: key, part: s.part, session: s.session, table: s.table})
	if err != nil {
		s.t.Fatal(err)
	}
	if s.table[key] != before {
		s.writes++
	}
	return wm
}

func (s *sim) current() (time.Time, bool) {
	return s.w.Current(&fakeCtx{topic: "visit", key: "p:k", part: s.part, session: s.session, table: s.table})
}

func (s *sim) record() *Record {
	r, _ := s.table[TickKey(s.part, s.n)].(*Record)
	return r
}

func wantMark(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: watermark %s, want %s", what, got.Format(time.TimeOnly), want.Format(time.TimeOnly))
	}
}

func TestWatermarkIsMinOfInputsAndNeverDecreases(t *testing.T) {
	s := newSim(t, NewWatermarks(WatermarkConfig{}), 0, 1)
	s.observe("a", at(10))
	s.observe("b", at(5))
	wantMark(t, "min of a=10 b=5", s.tick(), at(5))

	s.observe("b", at(20))
	wantMark(t, "b moved past a", s.tick(), at(10))

	// A late record of an input does not lower its latest time.
	s.observe("a", at(3))
	wantMark(t, "late record", s.tick(), at(10))

	s.observe("a", at(30))
	wantMark(t, "both moved", s.tick(), at(20))
	if r := s.record(); r == nil || !r.Watermark.Equal(at(20)) || !r.Inputs["a"].Equal(at(30)) || !r.Inputs["b"].Equal(at(20)) {
		t.Errorf("record %+v", r)
	}
	// Between ticks Current follows the records processed so far.
	s.observe("b", at(25))
	if wm, ok := s.current(); !ok || !wm.Equal(at(25)) {
		t.Errorf("current %s %v, want 10:25", wm, ok)
	}
	// An unchanged watermark is not written again.
	s.tick()
	w := s.writes
	s.tick()
	if s.writes != w {
		t.Error("a tick that changed nothing rewrote the record")
	}
}

func TestWatermarkUnknownUntilFirstTick(t *testing.T) {
	s := newSim(t, NewWatermarks(WatermarkConfig{}), 0, 1)
	if _, ok := s.current(); ok {
		t.Error("no input, no tick: watermark must be unknown")
	}
	s.observe("a", at(1))
	if _, ok := s.current(); ok {
		t.Error("before the first tick the stored record is not loaded: watermark must be unknown")
	}
	wantMark(t, "first tick", s.tick(), at(1))
	if wm, ok := s.current(); !ok || !wm.Equal(at(1)) {
		t.Errorf("after tick: %s %v", wm, ok)
	}
	// A tick before any input: nothing known, nothing written.
	e := newSim(t, NewWatermarks(WatermarkConfig{}), 0, 1)
	if wm := e.tick(); !wm.IsZero() || e.record() != nil {
		t.Errorf("empty partition: watermark %s record %+v", wm, e.record())
	}
	if _, ok := e.current(); ok {
		t.Error("empty partition must have no watermark")
	}
}

// An input the group reads but that never delivers on a partition does not
// hold that partition's watermark.
func TestInputThatNeverDeliversDoesNotHold(t *testing.T) {
	s := newSim(t, NewWatermarks(WatermarkConfig{}), 0, 1)
	s.observe("a", at(10))
	wantMark(t, "only a delivered", s.tick(), at(10))
}

// A quiet input holds the watermark at most IdleAfter behind the most
// advanced input.
func TestIdleInputReleasesWatermark(t *testing.T) {
	s := newSim(t, NewWatermarks(WatermarkConfig{IdleAfter: time.Hour}), 0, 1)
	s.observe("a", at(0))
	s.observe("b", at(30))
	wantMark(t, "inside idle bound", s.tick(), at(0))
	s.observe("b", at(150))
	wantMark(t, "a idle", s.tick(), at(90))
	s.observe("a", at(100))
	wantMark(t, "a back but behind the bound", s.tick(), at(100))
	s.observe("a", at(200))
	wantMark(t, "a ahead again", s.tick(), at(150))
}

func TestDeclaredInputHoldsUntilItDelivers(t *testing.T) {
	s := newSim(t, NewWatermarks(WatermarkConfig{IdleAfter: time.Hour, Inputs: []goka.Stream{"a", "b"}}), 0, 1)
	s.observe("a", at(10))
	if wm := s.tick(); !wm.IsZero() && wm.After(at(10-60)) {
		t.Errorf("b has not delivered: watermark %s must stay an hour behind a", wm)
	}
	s.observe("a", at(200))
	wantMark(t, "b still silent", s.tick(), at(140))
	s.observe("b", at(170))
	wantMark(t, "b delivered", s.tick(), at(170))
}

// A restart or rebalance (a new partition processor) drops what the
// tracker knew about the partition and reloads the stored record at the
// next tick, so neither stale memory nor a partial view moves the
// watermark.
func TestWatermarkReloadsOnReassignment(t *testing.T) {
	for _, newProcess := range []bool{false, true} {
		w := NewWatermarks(WatermarkConfig{})
		s := newSim(t, w, 2, 4)
		s.observe("a", at(10))
		s.observe("b", at(40))
		wantMark(t, "before restart", s.tick(), at(10))

		if newProcess {
			w = NewWatermarks(WatermarkConfig{})
		}
		s.reassign(w)
		if _, ok := s.current(); ok {
			t.Error("after reassignment the watermark is unknown until a tick")
		}
		// Only b delivers: without the stored record the watermark would
		// jump to b's time.
		s.observe("b", at(50))
		if _, ok := s.current(); ok {
			t.Error("still unknown before the tick")
		}
		wantMark(t, "after reload", s.tick(), at(10))
		s.observe("a", at(45))
		wantMark(t, "a moved", s.tick(), at(45))

		// Meanwhile another instance takes the partition and advances it;
		// the stale memory of the first must not win when it comes back.
		other := newSim(t, NewWatermarks(WatermarkConfig{}), 2, 4)
		other.table = s.table
		other.observe("a", at(90))
		other.observe("b", at(95))
		wantMark(t, "other instance", other.tick(), at(90))
		s.reassign(w)
		s.observe("a", at(60)) // reprocessed, older than stored
		wantMark(t, "back on the first instance", s.tick(), at(90))
		if r := s.record(); !r.Inputs["a"].Equal(at(90)) || !r.Inputs["b"].Equal(at(95)) {
			t.Errorf("inputs went backwards: %+v", r)
		}
	}
}

func TestPartitionsAreIndependent(t *testing.T) {
	w := NewWatermarks(WatermarkConfig{})
	const n = 8
	var wg sync.WaitGroup
	marks := make([]time.Time, n)
	for p := 0; p < n; p++ {
		s := newSim(t, w, int32(p), n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s.observe("a", at(p*1000+i))
				s.observe("b", at(p*1000+i+1))
				if i%10 == 0 {
					s.tick()
					s.current()
				}
			}
			marks[p] = s.tick()
		}()
	}
	wg.Wait()
	for p, m := range marks {
		wantMark(t, "partition", m, at(p*1000+199))
	}
}

func TestTableCodec(t *testing.T) {
	c := TableCodec(new(codec.String))
	rec := &Record{Watermark: at(5), Inputs: map[string]time.Time{"a": at(5), "b": at(9)}}
	b, err := c.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Errorf("record round trip: %+v", back)
	}
	if b2, _ := c.Encode(*rec); string(b2) != string(b) {
		t.Error("Record and *Record encode differently")
	}
	own, err := c.Encode("value")
	if err != nil || string(own) != "value" {
		t.Fatalf("inner value encoded as %q, %v", own, err)
	}
	if v, err := c.Decode(own); err != nil || v != "value" {
		t.Errorf("inner value decoded as %v, %v", v, err)
	}
	j := TableCodec(codecs.JSON[entry]{})
	if v, err := j.Decode([]byte(`{"at":"2026-06-14T10:00:00Z"}`)); err != nil || !v.(*entry).At.Equal(t0) {
		t.Errorf("JSON inner value: %v, %v", v, err)
	}
	if _, err := j.Decode(append(append([]byte{}, recordPrefix...), "{broken"...)); err == nil {
		t.Error("a broken record must not decode")
	}
}

// A move that Current saw between ticks (a sweep reads Current) is still
// announced to sweepers at the next tick.
func TestTickAnnouncesMovesSeenBetweenTicks(t *testing.T) {
	w := NewWatermarks(WatermarkConfig{})
	moved := w.subscribe()
	defer w.unsubscribe(moved)
	announced := func() bool {
		select {
		case <-moved:
			return true
		default:
			return false
		}
	}
	s := newSim(t, w, 0, 1)
	s.observe("a", at(10))
	s.tick()
	if !announced() {
		t.Fatal("first watermark not announced")
	}
	s.tick()
	if announced() {
		t.Error("a tick that moved nothing was announced")
	}
	s.observe("a", at(20))
	if wm, _ := s.current(); !wm.Equal(at(20)) {
		t.Fatalf("current %s", wm)
	}
	wantMark(t, "tick after current", s.tick(), at(20))
	if !announced() {
		t.Error("the move seen by Current was not announced")
	}
}

// An input that delivers for the first time with an old event time does
// not move the watermark back.
func TestLateFirstInputDoesNotLowerWatermark(t *testing.T) {
	s := newSim(t, NewWatermarks(WatermarkConfig{}), 0, 1)
	s.observe("a", at(100))
	s.observe("b", at(100))
	wantMark(t, "a and b", s.tick(), at(100))
	s.observe("a", at(120))
	s.observe("b", at(110))
	if wm, _ := s.current(); !wm.Equal(at(110)) {
		t.Errorf("current %s", wm)
	}
	s.observe("c", at(50))
	if wm, _ := s.current(); !wm.Equal(at(110)) {
		t.Errorf("current after c: %s", wm)
	}
	wantMark(t, "after c", s.tick(), at(110))
	s.observe("c", at(130))
	s.observe("b", at(125))
	wantMark(t, "c caught up", s.tick(), at(120))
}
