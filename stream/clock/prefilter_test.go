package clock

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

func TestPrefilterPassesOnlyWhatTheSweepChanges(t *testing.T) {
	g := newTestGroup(SweepConfig{Slices: 2}, nil)
	table := string(testTable)
	codec := TableCodec(codecs.JSON[entry]{})
	pre := g.s.Prefilter(table, codec)
	if !pre(table, 0).everything() {
		t.Fatal("a scope outside a sweep")
	}

	// Any key: the iterator's slice is a key range the store chooses.
	const in = "p:k1"
	g.s.running.Store(&sweepRun{slice: slice{I: 1, N: 2}, marks: map[int32]time.Time{0: at(150)}})
	enc := func(v any) []byte {
		b, err := codec.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	expired, fresh := enc(&entry{At: at(100)}), enc(&entry{At: at(140)})
	scope := pre(table, 0)
	if scope.Slice != 1 || scope.Slices != 2 {
		t.Errorf("scope of slice 1 of 2: %+v", scope)
	}
	keep := scope.Keep
	for _, c := range []struct {
		name  string
		key   string
		value []byte
		want  bool
	}{
		{"expired, in the slice", in, expired, true},
		{"not expired", in, fresh, false},
		{"never expires", in, enc(&entry{At: at(0), Forever: true}), false},
		{"expiry equal to the watermark", in, enc(&entry{At: at(115)}), false},
		{"a watermark record", in, enc(&Record{Watermark: at(150)}), false},
		{"undecodable: its visit reports it", in, []byte("{"), true},
	} {
		if got := keep([]byte(c.key), c.value); got != c.want {
			t.Errorf("%s: passed %v, want %v", c.name, got, c.want)
		}
	}
	if pre(table, 1).Keep([]byte(in), expired) {
		t.Error("passed an entry of a partition without a watermark")
	}
	if !pre("other", 0).everything() {
		t.Error("a scope for another topic")
	}

	// Effects other than a delete count too, and so does a panic.
	for name, fn := range map[string]SweepFunc{
		"set":   func(ctx goka.Context, v any, _ time.Time) { ctx.SetValue(v) },
		"emit":  func(ctx goka.Context, _ any, _ time.Time) { ctx.Emit("out", ctx.Key(), nil) },
		"panic": func(goka.Context, any, time.Time) { panic("boom") },
		"none":  func(goka.Context, any, time.Time) {},
	} {
		s := NewSweeper(g.w, fn, SweepConfig{Slices: 1})
		s.running.Store(&sweepRun{slice: slice{I: 0, N: 1}, marks: map[int32]time.Time{0: at(150)}})
		if got := s.Prefilter(table, codec)(table, 0).Keep([]byte(in), fresh); got != (name != "none") {
			t.Errorf("SweepFunc %s: passed %v", name, got)
		}
	}

	g.s.running.Store(nil)
	if !pre(table, 0).everything() {
		t.Error("a scope after the sweep")
	}
}

// On pebble tables with the prefilter installed, as a role runs its groups:
// the sweeps expire what they did before, and goka visits only that.
func TestPrefilteredSweepsVisitOnlyExpiredEntries(t *testing.T) {
	k := embedded(t, string(Ticks), string(inA), string(inB))
	emitA, emitB := emitter(t, k, inA), emitter(t, k, inB)

	var visited atomic.Int64
	g := newTestGroup(SweepConfig{Slices: 2, Pause: 10 * time.Millisecond, OnSweep: func(n int64, err error) {
		visited.Add(n)
	}}, nil)
	tables := pebblestore.New(t.TempDir(), pebblestore.WithCacheSize(1<<20))
	pre := g.s.Prefilter(string(testTable), TableCodec(codecs.JSON[entry]{}))
	tables.FilterIterators(func(topic string, partition int32) pebblestore.IterScope {
		return pebblestore.IterScope(pre(topic, partition))
	})
	cur, _ := superviseSwept(t, k, g, tables.Builder())
	get := func(key string) (any, bool) {
		p := cur.Load()
		if p == nil || !p.Recovered() {
			return nil, false
		}
		v, err := p.Get(key)
		return v, err == nil
	}
	for p := int32(0); p < 4; p++ {
		emitA(keyOn("p:old", p), entry{At: at(0)})
		emitB(keyOn("p:fresh", p), entry{At: at(180)})
		emitB(keyOn("p:forever", p), entry{At: at(0), Forever: true})
		emitA(keyOn("p:mark", p), entry{At: at(200), Mark: true})
		emitB(keyOn("p:mark", p), entry{At: at(200), Mark: true})
	}
	// The marks come after the old entries on their partitions: a
	// watermark at 200 says the old entry was stored.
	marked := func(p int32, want time.Time) bool {
		v, _ := get(TickKey(p, 4))
		r, ok := v.(*Record)
		return ok && r.Watermark.Equal(want)
	}
	poll.Until(t, 30*time.Second, "watermarks at 13:20 and old entries swept on all partitions", func() bool {
		for p := int32(0); p < 4; p++ {
			if v, ok := get(keyOn("p:old", p)); !marked(p, at(200)) || !ok || v != nil {
				return false
			}
		}
		return true
	})
	// A later move of the watermarks starts another pass over what is
	// left.
	expiredAt, sweeps := visited.Load(), g.s.next.Load()
	for p := int32(0); p < 4; p++ {
		emitA(keyOn("p:mark", p), entry{At: at(210), Mark: true})
		emitB(keyOn("p:mark", p), entry{At: at(210), Mark: true})
	}
	poll.Until(t, 20*time.Second, "a full pass after the watermarks moved again", func() bool {
		for p := int32(0); p < 4; p++ {
			if !marked(p, at(210)) {
				return false
			}
		}
		return g.s.next.Load() >= sweeps+2
	})
	for p := int32(0); p < 4; p++ {
		for _, prefix := range []string{"p:fresh", "p:forever"} {
			if v, _ := get(keyOn(prefix, p)); v == nil {
				t.Errorf("partition %d: %s was swept", p, prefix)
			}
		}
	}
	if n := visited.Load(); n != 4 {
		t.Errorf("goka visited %d entries (%d when the expired ones were gone), want the 4 expired ones", n, expiredAt)
	}
}

func (s IterScope) everything() bool { return s.Slices <= 1 && s.Keep == nil }
