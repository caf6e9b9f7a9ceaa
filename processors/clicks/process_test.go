package clicks

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

var t0 = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// harness runs the group on a goka tester (one partition) and tracks its
// outputs.
type harness struct {
	t       *testing.T
	tt      *tester.Tester
	p       *goka.Processor
	group   processors.Group
	deps    processors.Deps
	touches *tester.QueueTracker
	rec     *tester.QueueTracker
	replies *tester.QueueTracker
	dlq     *tester.QueueTracker
	seq     uint64
}

func start(t *testing.T) *harness {
	t.Helper()
	deps := processors.Deps{Sweep: clock.SweepConfig{Slices: 1}}.WithDefaults()
	g := Define(deps)
	tt := tester.New(t)
	p := gokatest.Run(t, tt, g.Graph)
	return &harness{t: t, tt: tt, p: p, group: g, deps: deps,
		touches: tt.NewQueueTracker(string(TouchpointUpdates)),
		rec:     tt.NewQueueTracker(string(Recorded)),
		replies: tt.NewQueueTracker(string(Replies)),
		dlq:     tt.NewQueueTracker(string(DLQ)),
	}
}

func clickMsg(id, project string, received time.Time) codecs.Click {
	return codecs.Click{ClickID: id, ProjectID: project, CampaignID: "c1", Source: "link", OS: "Android",
		Params: map[string]string{"gclid": "g-1"}, RequestID: "r-" + id, ReceivedAt: received}
}

func encode[T any](v T) []byte {
	b, err := codecs.JSON[T]{}.Encode(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (h *harness) click(c codecs.Click) { h.tt.Consume(string(Clicks), c.ClickID, encode(c)) }

func claimMsg(op, click, project, install string, installed time.Time) codecs.ClickClaim {
	return codecs.ClickClaim{Op: op, ClickID: click, ProjectID: project, InstallID: install, InstalledAt: installed}
}

func (h *harness) claim(click, project, install string, installed time.Time) {
	h.tt.Consume(string(Claims), click, encode(claimMsg(codecs.ClaimOp, click, project, install, installed)))
}

func (h *harness) release(click, project, install string) {
	h.tt.Consume(string(Claims), click, encode(claimMsg(codecs.ReleaseOp, click, project, install, time.Time{})))
}

// advance makes both inputs report event time wm on keys nobody else uses
// (a click and a release of a click nobody claimed), then ticks: the
// partition's watermark becomes wm.
func (h *harness) advance(wm time.Time) {
	h.t.Helper()
	h.click(clickMsg("mark-click", "pm", wm))
	h.tt.Consume(string(Claims), "mark-claim", encode(claimMsg(codecs.ReleaseOp, "mark-claim", "pm", "nobody", wm)))
	h.seq++
	tick, _ := json.Marshal(clock.Tick{Partition: 0, Partitions: 1, Seq: h.seq})
	h.tt.Consume(string(clock.Ticks), clock.TickKey(0, 1), tick)
	rec, ok := h.tt.TableValue(Table, clock.TickKey(0, 1)).(*clock.Record)
	if !ok || !rec.Watermark.Equal(wm) {
		h.t.Fatalf("watermark record %+v, want %s", rec, wm)
	}
	h.touches.Next() // the mark click's outputs are not what tests look at
	h.rec.Next()
}

// sweep runs a full sweep pass and waits for what it looped back.
func (h *harness) sweep() {
	h.t.Helper()
	if _, err := h.group.Sweeper.Sweep(context.Background(), h.p); err != nil {
		h.t.Fatal(err)
	}
	h.tt.Catchup()
}

type kv struct {
	Key   string
	Value any
}

func drain(q *tester.QueueTracker) []kv {
	var out []kv
	for {
		k, v, ok := q.Next()
		if !ok {
			return out
		}
		out = append(out, kv{k, v})
	}
}

// answer is the gist of a claim reply.
type answer struct {
	Key, Install, Claim, Holder string
	Click                       bool
}

func (h *harness) answers() []answer {
	h.t.Helper()
	var out []answer
	for _, r := range drain(h.replies) {
		rep := gokatest.Decode[codecs.AttributionReply](h.t, r.Value)
		if rep.Type != codecs.ReplyClaim || r.Key != rep.ProjectID+":"+rep.InstallID {
			h.t.Errorf("reply %s: %+v", r.Key, rep)
		}
		if (rep.Claim == codecs.ClaimGranted) != (rep.Click != nil) {
			h.t.Errorf("reply %s: status %s with click %v", r.Key, rep.Claim, rep.Click)
		}
		out = append(out, answer{Key: r.Key, Install: rep.InstallID, Claim: rep.Claim, Holder: rep.Holder, Click: rep.Click != nil})
	}
	return out
}

func (h *harness) wantAnswers(want ...answer) {
	h.t.Helper()
	if diff := cmp.Diff(want, h.answers()); diff != "" {
		h.t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func (h *harness) state(click string) *State {
	h.t.Helper()
	v := h.tt.TableValue(Table, click)
	if v == nil {
		return nil
	}
	st, ok := v.(*State)
	if !ok {
		h.t.Fatalf("table value of %s is %T", click, v)
	}
	return st
}

func (h *harness) noDLQ() {
	h.t.Helper()
	for _, r := range drain(h.dlq) {
		h.t.Errorf("unexpected DLQ record %s: %s", r.Key, r.Value)
	}
}

func granted(p, i string) answer {
	return answer{Key: p + ":" + i, Install: i, Claim: codecs.ClaimGranted, Click: true}
}
func with(status, p, i, holder string) answer {
	return answer{Key: p + ":" + i, Install: i, Claim: status, Holder: holder}
}

func TestNewClickSendsTouchpointsAndRecord(t *testing.T) {
	h := start(t)
	c := clickMsg("k1", "p1", at(0))
	c.ClientIP = "203.0.113.9"
	c.Params = map[string]string{
		"gaid":       "38400000-8CF0-11BD-B23E-10B96E40000D",
		"idfa":       "00000000-0000-0000-0000-000000000000",
		"idfv":       "",
		"gclid":      "g-1",
		"utm_source": "meta",
	}
	h.click(c)

	// The reference keeps the click ids only: device ids are its keys,
	// UTMs travel on clicks-recorded.
	ref := codecs.ClickRef{ClickID: "k1", ProjectID: "p1", CampaignID: "c1", Source: "link", Platform: "Android",
		Params: map[string]string{"gclid": "g-1"}, ClickedAt: at(0)}
	dev := "p1:38400000-8cf0-11bd-b23e-10b96e40000d"
	want := []kv{
		{dev, &codecs.TouchpointUpdate{Key: dev, Kind: codecs.TouchDevice, Click: ref}},
		{"p1:203.0.113.9", &codecs.TouchpointUpdate{Key: "p1:203.0.113.9", Kind: codecs.TouchIP, Click: ref}},
	}
	if diff := cmp.Diff(want, decodeKV[codecs.TouchpointUpdate](t, drain(h.touches))); diff != "" {
		t.Errorf("touchpoint updates (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]kv{{"k1", &c}}, decodeKV[codecs.Click](t, drain(h.rec))); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
	// The state keeps the reference only; the click stays on its topic.
	if st := h.state("k1"); st == nil || st.Ref == nil || st.Click != nil || !cmp.Equal(*st.Ref, ref) || st.ClickInput == "" {
		t.Errorf("state %+v", st)
	}
	h.wantAnswers()
	h.noDLQ()
}

func TestDuplicateClickIsDropped(t *testing.T) {
	h := start(t)
	first := clickMsg("k1", "p1", at(0))
	h.click(first)
	drain(h.touches)
	drain(h.rec)

	dup := clickMsg("k1", "p1", at(5))
	dup.RequestID, dup.ClientIP = "r-other", "198.51.100.1"
	h.click(dup)
	h.click(first)
	if got := drain(h.touches); len(got) != 0 {
		t.Errorf("a duplicate sent touchpoint updates: %v", got)
	}
	if got := drain(h.rec); len(got) != 0 {
		t.Errorf("a duplicate was recorded again: %v", got)
	}
	if st := h.state("k1"); !st.Ref.ClickedAt.Equal(at(0)) {
		t.Errorf("the duplicate replaced the click: %+v", st.Ref)
	}
	h.noDLQ()
}

func TestClaimsBeforeClickWaitForIt(t *testing.T) {
	h := start(t)
	h.claim("k1", "p1", "i2", at(20))
	h.claim("k1", "p1", "i1", at(10))
	h.wantAnswers(with(codecs.ClaimPending, "p1", "i2", ""), with(codecs.ClaimPending, "p1", "i1", ""))

	h.click(clickMsg("k1", "p1", at(0)))
	h.wantAnswers(granted("p1", "i1"), with(codecs.ClaimDenied, "p1", "i2", "i1"))
	if st := h.state("k1"); st.Holder != "i1" || len(st.Claims) != 2 {
		t.Errorf("state %+v", st)
	}
	h.noDLQ()
}

func TestClaimsAfterClickEarliestWins(t *testing.T) {
	h := start(t)
	h.click(clickMsg("k1", "p1", at(0)))
	h.claim("k1", "p1", "i1", at(10))
	h.claim("k1", "p1", "i2", at(20))
	h.claim("k1", "p1", "i1", at(10)) // the holder asking again
	h.wantAnswers(granted("p1", "i1"), with(codecs.ClaimDenied, "p1", "i2", "i1"), granted("p1", "i1"))
	if st := h.state("k1"); st.Holder != "i1" || len(st.Claims) != 2 {
		t.Errorf("state %+v", st)
	}
}

func TestEarlierClaimRevokesHolder(t *testing.T) {
	h := start(t)
	h.click(clickMsg("k1", "p1", at(0)))
	h.claim("k1", "p1", "i2", at(20))
	h.claim("k1", "p1", "i1", at(10))
	// Same installed_at: the install id decides.
	h.claim("k1", "p1", "i0", at(10))
	h.wantAnswers(
		granted("p1", "i2"),
		granted("p1", "i1"), with(codecs.ClaimRevoked, "p1", "i2", "i1"),
		granted("p1", "i0"), with(codecs.ClaimRevoked, "p1", "i1", "i0"),
	)
	if st := h.state("k1"); st.Holder != "i0" {
		t.Errorf("holder %q", st.Holder)
	}
}

func TestReleaseTellsTheOthers(t *testing.T) {
	h := start(t)
	h.click(clickMsg("k1", "p1", at(0)))
	h.claim("k1", "p1", "i1", at(10))
	h.claim("k1", "p1", "i2", at(20))
	h.claim("k1", "p1", "i3", at(30))
	h.answers()

	h.release("k1", "p1", "i9") // not a claimant
	h.release("k1", "p1", "i3") // not the holder: only withdraws
	h.wantAnswers()
	h.claim("k1", "p1", "i3", at(30))
	h.answers()

	h.release("k1", "p1", "i1")
	h.wantAnswers(with(codecs.ClaimReleased, "p1", "i2", ""), with(codecs.ClaimReleased, "p1", "i3", ""))
	if st := h.state("k1"); st.Holder != "" || len(st.Claims) != 0 {
		t.Errorf("state after release %+v", st)
	}

	// Claiming again: the earliest of those that do ends up holding it.
	h.claim("k1", "p1", "i3", at(30))
	h.claim("k1", "p1", "i2", at(20))
	h.wantAnswers(granted("p1", "i3"), granted("p1", "i2"), with(codecs.ClaimRevoked, "p1", "i3", "i2"))
	h.noDLQ()
}

func TestClaimOfAnotherProjectIsUnknown(t *testing.T) {
	h := start(t)
	h.claim("k1", "p2", "i1", at(5)) // waiting, of the wrong project
	h.claim("k1", "p1", "i2", at(6))
	h.answers()
	h.click(clickMsg("k1", "p1", at(0)))
	h.wantAnswers(with(codecs.ClaimUnknown, "p2", "i1", ""), granted("p1", "i2"))

	h.claim("k1", "p2", "i3", at(1))
	h.wantAnswers(with(codecs.ClaimUnknown, "p2", "i3", ""))
	st := h.state("k1")
	if st.Holder != "i2" || len(st.Claims) != 1 {
		t.Errorf("state %+v", st)
	}
}

func TestLateClaimsAreAnsweredUnknown(t *testing.T) {
	h := start(t)
	lateness := h.deps.Lateness
	h.claim("k1", "p1", "i1", at(0))
	h.claim("k1", "p1", "i2", at(20))
	h.claim("k2", "p1", "i3", at(0))
	h.answers()

	// No watermark yet: nothing is answered.
	h.sweep()
	h.wantAnswers()

	// Watermark exactly at i1's deadline: not before it, so i1 still waits.
	h.advance(at(0).Add(lateness))
	h.sweep()
	h.wantAnswers()

	h.advance(at(1).Add(lateness))
	h.sweep()
	got := h.answers()
	want := []answer{with(codecs.ClaimUnknown, "p1", "i1", ""), with(codecs.ClaimUnknown, "p1", "i3", "")}
	if diff := cmp.Diff(want, got, sortAnswers); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if st := h.state("k1"); st == nil || len(st.Claims) != 1 || st.Claims[0].InstallID != "i2" {
		t.Errorf("k1 should still wait for i2: %+v", st)
	}
	// k2 waits for nobody, but keeps the answer it sent for a redelivery
	// of the expiry that sent it.
	if st := h.state("k2"); st == nil || len(st.Claims) != 0 || len(st.Sent) != 1 {
		t.Errorf("k2 after its claim expired: %+v", st)
	}
	h.sweep()
	h.wantAnswers() // nothing is late any more

	h.advance(at(21).Add(lateness))
	h.sweep()
	h.wantAnswers(with(codecs.ClaimUnknown, "p1", "i2", ""))
	if st := h.state("k2"); st == nil {
		t.Error("k2 deleted before its answer was older than the lateness plus the slack")
	}

	// Once the last answer is older than the lateness plus the slack, the
	// entries go.
	h.advance(at(0).Add(lateness + h.deps.Slack))
	h.sweep()
	if h.state("k2") == nil {
		t.Error("k2 deleted at its answer's deadline")
	}
	h.advance(at(1).Add(lateness + h.deps.Slack))
	h.sweep()
	if st := h.state("k2"); st != nil {
		t.Errorf("k2 kept: %+v", st)
	}
	if h.state("k1") == nil {
		t.Error("k1 deleted before its last answer (i2's, installed at 20) was old enough")
	}
	h.advance(at(21).Add(lateness + h.deps.Slack))
	h.sweep()
	if st := h.state("k1"); st != nil {
		t.Errorf("k1 kept: %+v", st)
	}
	h.wantAnswers()
	h.noDLQ()
}

// The answer of an expiry is sent at least once: an expiry delivered again
// after a crash (its effect in the table, its answer perhaps not sent)
// sends the same answer again and changes nothing; a sweep that runs
// before the expiry is applied loops it again, and the second one finds
// nothing left to answer.
func TestExpiryRedeliveredResendsItsAnswers(t *testing.T) {
	h := start(t)
	h.claim("k1", "p1", "i1", at(0))
	h.claim("k1", "p1", "i2", at(1))
	h.answers()
	h.advance(at(2).Add(h.deps.Lateness))
	h.sweep()
	first := h.outputs()
	if len(first[2]) != 2 {
		t.Fatalf("expiry sent %v", first)
	}

	before, restore := h.absorbAll("k1")
	expiry := encode(codecs.ClaimExpiry{ClickID: "k1", Watermark: at(2).Add(h.deps.Lateness)})
	h.tt.Consume(string(Loop), "k1", expiry)
	if diff := cmp.Diff(first, h.outputs()); diff != "" {
		t.Errorf("redelivered expiry sent (-first +again):\n%s", diff)
	}
	if diff := cmp.Diff(before, h.state("k1")); diff != "" {
		t.Errorf("redelivered expiry changed state (-before +after):\n%s", diff)
	}
	restore()

	// A second expiry, applied: nothing is late any more.
	h.tt.Consume(string(Loop), "k1", expiry)
	h.wantAnswers()
	// An expiry for an entry swept since, or of another key, does nothing
	// or is refused.
	h.tt.Consume(string(Loop), "gone", encode(codecs.ClaimExpiry{ClickID: "gone", Watermark: at(2)}))
	h.wantAnswers()
	if h.state("gone") != nil {
		t.Error("an expiry created an entry")
	}
	h.noDLQ()
	h.tt.Consume(string(Loop), "k1", encode(codecs.ClaimExpiry{ClickID: "k2", Watermark: at(2)}))
	if got := drain(h.dlq); len(got) != 1 {
		t.Errorf("an expiry of another key: %d DLQ records", len(got))
	}
}

// A claim answered while an expiry is on its way is not answered again: a
// click that comes first answers it, and the expiry finds the click.
func TestExpiryAfterTheClickCameDoesNothing(t *testing.T) {
	h := start(t)
	h.claim("k1", "p1", "i1", at(0))
	h.answers()
	h.click(clickMsg("k1", "p1", at(0)))
	h.wantAnswers(granted("p1", "i1"))
	h.tt.Consume(string(Loop), "k1", encode(codecs.ClaimExpiry{ClickID: "k1", Watermark: at(0).Add(2 * h.deps.Lateness)}))
	h.wantAnswers()
	if st := h.state("k1"); st == nil || st.Holder != "i1" {
		t.Errorf("state after a stale expiry: %+v", st)
	}
}

var sortAnswers = cmp.Transformer("sort", func(in []answer) []answer {
	out := append([]answer(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Key < out[i].Key {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestOldClicksExpire(t *testing.T) {
	h := start(t)
	h.click(clickMsg("k1", "p1", at(0)))
	h.click(clickMsg("k2", "p1", at(60)))
	h.claim("k1", "p1", "i1", at(10))
	h.answers()
	keep, err := h.deps.Retention("p1", at(0))
	if err != nil {
		t.Fatal(err)
	}

	h.advance(at(0).Add(keep))
	h.sweep()
	if h.state("k1") == nil {
		t.Fatal("k1 expired at its deadline")
	}
	h.advance(at(1).Add(keep))
	h.sweep()
	if st := h.state("k1"); st != nil {
		t.Errorf("k1 kept after retention: %+v", st)
	}
	if h.state("k2") == nil {
		t.Error("k2 expired early")
	}
	h.wantAnswers() // expiry is quiet
}

func TestBadInputGoesToDLQ(t *testing.T) {
	h := start(t)
	good := clickMsg("k1", "p1", at(0))
	noTime := good
	noTime.ReceivedAt = time.Time{}
	cases := []struct {
		topic goka.Stream
		key   string
		raw   []byte
	}{
		{Clicks, "bad1", []byte("{not json")},
		{Clicks, "other", encode(good)},   // key is not the click id
		{Clicks, "k1", encode(noTime)},    // no received_at
		{Claims, "bad2", []byte("[1,2]")}, // not an object
		{Claims, "k1", encode(claimMsg("steal", "k1", "p1", "i1", at(1)))},
		{Claims, "k1", encode(claimMsg(codecs.ClaimOp, "k1", "p1", "", at(1)))},
		{Claims, "k1", encode(claimMsg(codecs.ClaimOp, "k1", "p1", "i1", time.Time{}))},
		{Claims, "k2", encode(claimMsg(codecs.ClaimOp, "k1", "p1", "i1", at(1)))},
	}
	for _, c := range cases {
		h.tt.Consume(string(c.topic), c.key, c.raw)
	}
	got := drain(h.dlq)
	if len(got) != len(cases) {
		t.Fatalf("DLQ got %d records, want %d: %v", len(got), len(cases), got)
	}
	for i, r := range got {
		if r.Key != cases[i].key || string(r.Value.([]byte)) != string(cases[i].raw) {
			t.Errorf("DLQ record %d: %s %s", i, r.Key, r.Value)
		}
	}
	if len(drain(h.touches))+len(drain(h.rec))+len(h.answers()) != 0 {
		t.Error("bad input had outputs")
	}
	if h.state("k1") != nil {
		t.Error("bad input changed state")
	}
	// The partition goes on.
	h.click(good)
	if len(drain(h.rec)) != 1 {
		t.Error("a good click after bad input was not recorded")
	}
}

// outputs drains every output tracker.
func (h *harness) outputs() [][]kv {
	return [][]kv{drain(h.touches), drain(h.rec), drain(h.replies)}
}

// absorbAll pretends the state of click absorbed every offset so far and
// the next ones, as after a crash between its changelog write and the
// input commit (the tester gives a record consumed again a new offset).
// restore puts the real offsets back.
func (h *harness) absorbAll(click string) (before *State, restore func()) {
	st := h.state(click)
	real := maps.Clone(st.Absorbed)
	st.Absorbed[string(Clicks)] = 1 << 40
	st.Absorbed[string(Claims)] = 1 << 40
	st.Absorbed[string(Loop)] = 1 << 40
	h.tt.SetTableValue(Table, click, st)
	return h.state(click), func() {
		st := h.state(click)
		st.Absorbed = real
		h.tt.SetTableValue(Table, click, st)
	}
}

// A state written before the group kept only the click's reference (the
// whole click under "click") is read as that reference: a claim is granted
// with it, and the state written back holds the reference alone.
func TestStateWithWholeClickIsReadAsReference(t *testing.T) {
	h := start(t)
	c := clickMsg("k1", "p1", at(0))
	c.ClientIP, c.UserAgent, c.URL = "203.0.113.9", "Mozilla/5.0 (Linux; Android 14)", "https://example.com/?gclid=g-1&utm_source=x"
	c.Params["utm_source"] = "x"
	h.tt.SetTableValue(Table, "k1", &State{ClickID: "k1", Click: &c, ClickInput: "clicks#0123", Absorbed: map[string]int64{}})

	h.claim("k1", "p1", "i1", at(10))
	want := codecs.ClickRef{ClickID: "k1", ProjectID: "p1", CampaignID: "c1", Source: "link", Platform: "Android",
		Params: map[string]string{"gclid": "g-1"}, ClickedAt: at(0)}
	got := decodeKV[codecs.AttributionReply](t, drain(h.replies))
	if len(got) != 1 {
		t.Fatalf("replies %+v", got)
	}
	if r := got[0].Value.(*codecs.AttributionReply); r.Claim != codecs.ClaimGranted || r.Click == nil || !cmp.Equal(*r.Click, want) {
		t.Fatalf("reply %+v", r)
	}
	st := h.state("k1")
	if st.Click != nil || st.Ref == nil || !cmp.Equal(*st.Ref, want) || st.Holder != "i1" {
		t.Fatalf("state written back %+v", st)
	}
	raw, err := json.Marshal(st)
	var fields map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(raw, &fields)
	}
	if _, whole := fields["click"]; err != nil || whole {
		t.Fatalf("state JSON %s (%v) still holds the whole click", raw, err)
	}
	h.noDLQ()
}

// A sweep keeps a click of an older state (the whole click, no reference)
// until its retention has passed, as it keeps any other click.
func TestSweepKeepsWholeClickStateWithinRetention(t *testing.T) {
	h := start(t)
	c := clickMsg("k1", "p1", at(0))
	h.tt.SetTableValue(Table, "k1", &State{ClickID: "k1", Click: &c, ClickInput: "clicks#0123", Absorbed: map[string]int64{}})
	h.advance(at(60))
	h.sweep()
	if h.state("k1") == nil {
		t.Fatal("the sweep deleted a click an hour old")
	}
	h.noDLQ()
}

// An input redelivered after a crash is not applied again and sends again
// what it sent, with the same content.
func TestRedeliveryResendsWithoutApplying(t *testing.T) {
	h := start(t)
	c := clickMsg("k1", "p1", at(0))
	c.ClientIP = "203.0.113.9"
	h.claim("k1", "p1", "i2", at(20))
	h.claim("k1", "p2", "i9", at(20))
	h.claim("k1", "p1", "i1", at(10))
	drain(h.replies)
	h.click(c)
	first := h.outputs()
	if len(first[0]) != 1 || len(first[1]) != 1 || len(first[2]) != 3 {
		t.Fatalf("first delivery sent %v", first)
	}
	before, restore := h.absorbAll("k1")
	h.click(c)
	if diff := cmp.Diff(first, h.outputs()); diff != "" {
		t.Errorf("redelivered click sent (-first +again):\n%s", diff)
	}
	if diff := cmp.Diff(before, h.state("k1")); diff != "" {
		t.Errorf("redelivered click changed state (-before +after):\n%s", diff)
	}
	restore()

	// A claim that took the click over: granted and revoked again, once.
	h.claim("k1", "p1", "i0", at(5))
	first = h.outputs()
	if len(first[2]) != 2 {
		t.Fatalf("takeover sent %v", first)
	}
	before, restore = h.absorbAll("k1")
	h.claim("k1", "p1", "i0", at(5))
	if diff := cmp.Diff(first, h.outputs()); diff != "" {
		t.Errorf("redelivered claim sent (-first +again):\n%s", diff)
	}
	if diff := cmp.Diff(before, h.state("k1")); diff != "" {
		t.Errorf("redelivered claim changed state (-before +after):\n%s", diff)
	}
	restore()

	// A release applied once: redelivered, the released claimants are
	// told again and the releaser stays out.
	h.release("k1", "p1", "i0")
	first = h.outputs()
	before, restore = h.absorbAll("k1")
	h.release("k1", "p1", "i0")
	if diff := cmp.Diff(first, h.outputs()); diff != "" {
		t.Errorf("redelivered release sent (-first +again):\n%s", diff)
	}
	if diff := cmp.Diff(before, h.state("k1")); diff != "" {
		t.Errorf("redelivered release changed state (-before +after):\n%s", diff)
	}
	// The claim the release superseded sends nothing stale when it comes
	// again: i0 gave the click back.
	h.claim("k1", "p1", "i0", at(5))
	if got := h.outputs(); len(got[2]) != 0 {
		t.Errorf("superseded claim re-sent %v", got[2])
	}
	restore()
	// Applied for real, the same claim is a new claim.
	h.claim("k1", "p1", "i0", at(5))
	h.wantAnswers(granted("p1", "i0"))
}

// Whatever order one click and its claims arrive in, the earliest claimant
// ends up holding the click, its last answer is granted and every other
// claimant's last answer is denied or revoked (naming the holder as of
// that answer: a takeover tells only the previous holder).
func TestHolderDoesNotDependOnOrder(t *testing.T) {
	h := start(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 40 {
		click := fmt.Sprintf("k%d", trial)
		n := 2 + rng.IntN(5)
		type event struct {
			install string
			at      time.Time
		}
		events := []event{{install: ""}} // the click
		earliest := codecs.InstallRef{}
		for i := range n {
			e := event{install: fmt.Sprintf("i%d", i), at: at(rng.IntN(4))} // ties happen
			events = append(events, e)
			ref := codecs.InstallRef{InstallID: e.install, InstalledAt: e.at}
			if earliest.InstallID == "" || ref.Before(earliest) {
				earliest = ref
			}
		}
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		var order []string
		for _, e := range events {
			if e.install == "" {
				h.click(clickMsg(click, "p1", at(0)))
				order = append(order, "click")
				continue
			}
			h.claim(click, "p1", e.install, e.at)
			order = append(order, e.install)
		}
		last := map[string]answer{}
		for _, a := range h.answers() {
			last[a.Install] = a
		}
		if st := h.state(click); st.Holder != earliest.InstallID {
			t.Errorf("order %v: holder %q, want %q", order, st.Holder, earliest.InstallID)
		}
		for i := range n {
			id := fmt.Sprintf("i%d", i)
			a := last[id]
			switch {
			case id == earliest.InstallID && a.Claim != codecs.ClaimGranted:
				t.Errorf("order %v: earliest %s last heard %+v", order, id, a)
			case id != earliest.InstallID && ((a.Claim != codecs.ClaimDenied && a.Claim != codecs.ClaimRevoked) || a.Holder == "" || a.Holder == id):
				t.Errorf("order %v: %s last heard %+v", order, id, a)
			}
		}
		drain(h.touches)
		drain(h.rec)
	}
	h.noDLQ()
}

func TestNewRunsTheGroup(t *testing.T) {
	tt := tester.New(t)
	gokatest.Run(t, tt, Define(processors.Deps{}).Graph)
	rec := tt.NewQueueTracker(string(Recorded))
	tt.Consume(string(Clicks), "k1", encode(clickMsg("k1", "p1", at(0))))
	if k, _, ok := rec.Next(); !ok || k != "k1" {
		t.Errorf("recorded %q %v", k, ok)
	}
}

// decodeKV decodes the raw values of records drained from a tracker.
func decodeKV[T any](t testing.TB, in []kv) []kv {
	t.Helper()
	out := make([]kv, len(in))
	for i, r := range in {
		out[i] = kv{r.Key, gokatest.Decode[T](t, r.Value)}
	}
	return out
}
