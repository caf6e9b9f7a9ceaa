package touchpoints

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

var t0 = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

var (
	devKey = codecs.DeviceKey("p1", "GAID-1")
	ipKey  = codecs.IPKey("p1", "10.0.0.1")
)

// harness runs the group on goka's tester (one partition).
type harness struct {
	t       *testing.T
	tt      *tester.Tester
	p       *goka.Processor
	g       processors.Group
	replies *tester.QueueTracker
	dlq     *tester.QueueTracker
	seq     uint64
}

func start(t *testing.T) *harness {
	t.Helper()
	tt := tester.New(t)
	g := Define(processors.Deps{Sweep: clock.SweepConfig{Slices: 1}})
	p := gokatest.Run(t, tt, g.Graph)
	return &harness{t: t, tt: tt, p: p, g: g,
		replies: tt.NewQueueTracker(string(Replies)), dlq: tt.NewQueueTracker(string(DLQ))}
}

func click(id string, t time.Time) codecs.ClickRef {
	return codecs.ClickRef{ClickID: id, ProjectID: "p1", CampaignID: "c1", ClickedAt: t}
}

func kindOf(key string) string {
	if key == ipKey {
		return codecs.TouchIP
	}
	return codecs.TouchDevice
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (h *harness) click(key string, c codecs.ClickRef) {
	h.tt.Consume(string(Updates), key, encode(codecs.TouchpointUpdate{Key: key, Kind: kindOf(key), Click: c}))
}

func matchReq(key, install string, installed time.Time, window time.Duration, limit int) codecs.MatchRequest {
	return codecs.MatchRequest{Key: key, Kind: kindOf(key), ProjectID: "p1", InstallID: install,
		InstalledAt: installed, Window: window, Limit: limit, Oldest: kindOf(key) == codecs.TouchIP}
}

func (h *harness) request(r codecs.MatchRequest) {
	h.tt.Consume(string(Requests), r.Key, encode(r))
}

func (h *harness) tick() {
	h.seq++
	h.tt.Consume(string(clock.Ticks), clock.TickKey(0, 1), encode(clock.Tick{Partition: 0, Partitions: 1, Seq: h.seq, At: t0}))
}

func (h *harness) sweep() {
	h.t.Helper()
	if _, err := h.g.Sweeper.Sweep(context.Background(), h.p); err != nil {
		h.t.Fatal(err)
	}
}

// drain returns every reply emitted since the last drain, with its key.
func (h *harness) drain() []*codecs.AttributionReply {
	h.t.Helper()
	var out []*codecs.AttributionReply
	for {
		k, v, ok := h.replies.Next()
		if !ok {
			return out
		}
		r := gokatest.Decode[codecs.AttributionReply](h.t, v)
		if want := r.ProjectID + ":" + r.InstallID; k != want {
			h.t.Errorf("reply keyed %q, want %q", k, want)
		}
		out = append(out, r)
	}
}

// only drains and returns the one reply expected.
func (h *harness) only() *codecs.AttributionReply {
	h.t.Helper()
	rs := h.drain()
	if len(rs) != 1 {
		h.t.Fatalf("got %d replies, want 1: %s", len(rs), encode(rs))
	}
	return rs[0]
}

func (h *harness) state(key string) *State {
	h.t.Helper()
	v := h.tt.TableValue(Table, key)
	if v == nil {
		return nil
	}
	st, ok := v.(*State)
	if !ok {
		h.t.Fatalf("table value at %s is %T", key, v)
	}
	return st
}

func ids(cs []codecs.ClickRef) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ClickID)
	}
	return out
}

func installIDs(rs []codecs.InstallRef) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.InstallID)
	}
	return out
}
