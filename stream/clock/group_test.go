package clock

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/tester"
)

// A small group that keeps its own entries and the watermark records in one
// table: inputs a and b carry entries with their event time, ticks advance
// the watermark, the sweeper expires entries 35 minutes (30 TTL + 5 slack)
// after their event time.
const (
	testGroup goka.Group  = "clocktest"
	inA       goka.Stream = "clocktest-a"
	inB       goka.Stream = "clocktest-b"
	testTTL               = 35 * time.Minute
)

var testTable = goka.GroupTable(testGroup)

type entry struct {
	At time.Time `json:"at"`
	// Forever entries never expire.
	Forever bool `json:"forever,omitempty"`
	// Mark records only advance the input's time; they are not stored.
	Mark bool `json:"mark,omitempty"`
}

func entryExpiry(v any) (time.Time, bool) {
	e := v.(*entry)
	return e.At.Add(testTTL), !e.Forever
}

type testGroupDef struct {
	w     *Watermarks
	s     *Sweeper
	ticks chan time.Time // watermarks handed to the tick callback

	mu   sync.Mutex
	seen map[int32]time.Time // latest event time observed per partition
}

// latestSeen is the latest event time this group instance observed on p.
func (g *testGroupDef) latestSeen(p int32) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[p]
}

func newTestGroup(cfg SweepConfig, examined func(key string)) *testGroupDef {
	g := &testGroupDef{w: NewWatermarks(WatermarkConfig{IdleAfter: 24 * time.Hour}), ticks: make(chan time.Time, 1024), seen: map[int32]time.Time{}}
	del := DeleteExpired(entryExpiry)
	g.s = NewSweeper(g.w, func(ctx goka.Context, v any, wm time.Time) {
		if examined != nil {
			examined(ctx.Key())
		}
		del(ctx, v, wm)
	}, cfg)
	return g
}

func (g *testGroupDef) graph() *goka.GroupGraph {
	in := func(ctx goka.Context, msg any) {
		var e entry
		if err := json.Unmarshal(msg.([]byte), &e); err != nil {
			return
		}
		g.w.Observe(ctx, e.At)
		g.mu.Lock()
		if e.At.After(g.seen[ctx.Partition()]) {
			g.seen[ctx.Partition()] = e.At
		}
		g.mu.Unlock()
		if !e.Mark {
			ctx.SetValue(&e)
		}
	}
	return goka.DefineGroup(testGroup,
		goka.Input(inA, new(codec.Bytes), in),
		goka.Input(inB, new(codec.Bytes), in),
		g.w.TickInput(func(ctx goka.Context, wm time.Time) {
			select {
			case g.ticks <- wm:
			default: // only the tester tests read it
			}
		}),
		g.s.Visitor(),
		Persist(codecs.JSON[entry]{}),
	)
}

func (g *testGroupDef) build(brokers []string, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	return goka.NewProcessor(brokers, g.graph(), opts...)
}

func entryBytes(e entry) []byte { b, _ := json.Marshal(e); return b }

func tickBytes(p int32, n int, seq uint64) []byte {
	b, _ := json.Marshal(Tick{Partition: p, Partitions: n, Seq: seq, At: time.Now()})
	return b
}

// runOnTester runs the group's processor on tt; stop ends it (also at
// cleanup) and fails the test if it stopped with an error.
func runOnTester(t *testing.T, tt *tester.Tester, g *testGroupDef) (p *goka.Processor, stop func()) {
	t.Helper()
	p, err := g.build(nil, goka.WithTester(tt), goka.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor stopped with error: %v", err)
		}
	}
	t.Cleanup(stop)
	return p, stop
}

// The tester runs one partition.
var key0 = TickKey(0, 1)

func tick(tt *tester.Tester) { tt.Consume(string(Ticks), key0, tickBytes(0, 1, 1)) }

func storedRecord(t *testing.T, tt *tester.Tester) *Record {
	t.Helper()
	v := tt.TableValue(testTable, key0)
	r, ok := v.(*Record)
	if !ok {
		t.Fatalf("table value at %s is %T, want *Record", key0, v)
	}
	return r
}

func TestGroupKeepsWatermarkInItsTable(t *testing.T) {
	tt := tester.New(t)
	g := newTestGroup(SweepConfig{}, nil)
	runOnTester(t, tt, g)

	tt.Consume(string(inA), "p:1", entryBytes(entry{At: at(10)}))
	tt.Consume(string(inB), "p:2", entryBytes(entry{At: at(4)}))
	tick(tt)
	if r := storedRecord(t, tt); !r.Watermark.Equal(at(4)) || !r.Inputs[string(inA)].Equal(at(10)) {
		t.Errorf("record %+v", r)
	}
	select {
	case wm := <-g.ticks:
		wantMark(t, "tick callback", wm, at(4))
	default:
		t.Error("the tick callback did not get the watermark")
	}
	if e, ok := tt.TableValue(testTable, "p:1").(*entry); !ok || !e.At.Equal(at(10)) {
		t.Errorf("own value: %#v", tt.TableValue(testTable, "p:1"))
	}

	// Foreign or malformed records on the ticks topic are skipped.
	tt.Consume(string(inB), "p:3", entryBytes(entry{At: at(30)}))
	tt.Consume(string(Ticks), "not-a-tick-key", tickBytes(0, 1, 2))
	tt.Consume(string(Ticks), key0, []byte("{garbage"))
	tt.Consume(string(Ticks), key0, tickBytes(1, 2, 3)) // written for another partition count
	if r := storedRecord(t, tt); !r.Watermark.Equal(at(4)) {
		t.Errorf("a foreign tick moved the watermark: %+v", r)
	}
	if tt.TableValue(testTable, "not-a-tick-key") != nil {
		t.Error("a foreign tick key got a record")
	}
	tick(tt)
	if r := storedRecord(t, tt); !r.Watermark.Equal(at(10)) {
		t.Errorf("record after tick %+v", r)
	}
}

// The watermark survives a processor restart: the new processor (with a
// new tracker, as after a process restart) finds the record in the table
// (here carried over to a new tester, as goka recovers it from the
// changelog) and continues from it; inputs that have not delivered again
// since still hold it.
func TestWatermarkSurvivesProcessorRestart(t *testing.T) {
	tt := tester.New(t)
	g := newTestGroup(SweepConfig{}, nil)
	_, stop := runOnTester(t, tt, g)
	tt.Consume(string(inA), "p:1", entryBytes(entry{At: at(10)}))
	tt.Consume(string(inB), "p:2", entryBytes(entry{At: at(40)}))
	tick(tt)
	before := storedRecord(t, tt)
	wantMark(t, "before restart", before.Watermark, at(10))
	stop()

	tt2 := tester.New(t)
	g2 := newTestGroup(SweepConfig{}, nil)
	runOnTester(t, tt2, g2)
	tt2.SetTableValue(testTable, key0, before)

	// Only b delivers, older than its stored latest, and a has nothing new.
	tt2.Consume(string(inB), "p:3", entryBytes(entry{At: at(20)}))
	tick(tt2)
	r := storedRecord(t, tt2)
	wantMark(t, "after restart", r.Watermark, at(10))
	if !r.Inputs[string(inB)].Equal(at(40)) {
		t.Errorf("b's latest time went backwards: %+v", r)
	}
	tt2.Consume(string(inA), "p:4", entryBytes(entry{At: at(50)}))
	tick(tt2)
	wantMark(t, "a moved", storedRecord(t, tt2).Watermark, at(40))
}

// quiet discards goka's lifecycle logs.
type quiet struct{}

func (quiet) Print(...any)          {}
func (quiet) Println(...any)        {}
func (quiet) Printf(string, ...any) {}

// The tracker tells partition processors apart by the context goka runs
// their callbacks with: the same for every input and visit callback of one
// run, another one in the next run.
func TestGokaGivesEachRunItsOwnCallbackContext(t *testing.T) {
	var ctxs []context.Context
	graph := func() *goka.GroupGraph {
		cb := func(ctx goka.Context, _ any) { ctxs = append(ctxs, ctx.Context()) }
		return goka.DefineGroup(testGroup,
			goka.Input(inA, new(codec.Bytes), func(ctx goka.Context, msg any) { cb(ctx, msg); ctx.SetValue(&entry{}) }),
			goka.Input(inB, new(codec.Bytes), cb),
			goka.Visitor("v", cb),
			Persist(codecs.JSON[entry]{}),
		)
	}
	runs := 0
	for range 2 {
		tt := tester.New(t)
		p, err := goka.NewProcessor(nil, graph(), goka.WithTester(tt), goka.WithLogger(quiet{}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		tt.Consume(string(inA), "k", []byte("x"))
		tt.Consume(string(inB), "k", []byte("x"))
		if err := p.VisitAll(ctx, "v", nil); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		runs++
		if len(ctxs) != 3*runs {
			t.Fatalf("run %d: %d callbacks", runs, len(ctxs))
		}
		first := ctxs[3*(runs-1)]
		for _, c := range ctxs[3*(runs-1):] {
			if c != first {
				t.Errorf("run %d: callbacks of one run got different contexts", runs)
			}
		}
	}
	if ctxs[0] == ctxs[3] {
		t.Error("two runs shared a callback context")
	}
}
