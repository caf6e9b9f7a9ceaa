package touchpoints

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

func TestMatchCandidatesInsideWindowOnly(t *testing.T) {
	h := start(t)
	for _, c := range []codecs.ClickRef{
		click("before", at(59)),                  // one minute before the window
		click("edge", at(60)),                    // exactly installed_at-window: inside
		click("mid", at(90)),                     //
		click("at", at(120)),                     // exactly installed_at: inside
		click("after", at(120).Add(time.Second)), // after the install
	} {
		h.click(devKey, c)
	}
	if rs := h.drain(); len(rs) != 0 {
		t.Fatalf("clicks without installs sent replies: %s", encode(rs))
	}
	h.request(matchReq(devKey, "i1", at(120), time.Hour, 10))
	r := h.only()
	want := &codecs.AttributionReply{Type: codecs.ReplyMatch, ProjectID: "p1", InstallID: "i1", Key: devKey,
		Kind: codecs.TouchDevice, Candidates: []codecs.ClickRef{click("edge", at(60)), click("mid", at(90)), click("at", at(120))},
		Clicks: 3, At: at(120)}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

// A match is answered also when nothing matches: the install waits for it.
func TestMatchAnsweredWithoutCandidates(t *testing.T) {
	h := start(t)
	h.request(matchReq(ipKey, "i1", at(120), time.Hour, 1))
	r := h.only()
	if r.Type != codecs.ReplyMatch || r.InstallID != "i1" || len(r.Candidates) != 0 || r.Clicks != 0 || !r.At.Equal(at(120)) {
		t.Errorf("empty match: %s", encode(r))
	}
}

func TestLimitNewestForDeviceOldestForIP(t *testing.T) {
	h := start(t)
	for _, key := range []string{devKey, ipKey} {
		for i := 5; i >= 1; i-- { // out of order on purpose
			h.click(key, click(fmt.Sprintf("c%d", i), at(100+i)))
		}
	}
	h.request(matchReq(devKey, "i1", at(120), time.Hour, 2))
	dev := h.only()
	h.request(matchReq(ipKey, "i1", at(120), time.Hour, 2))
	ip := h.only()
	if got := ids(dev.Candidates); !slices.Equal(got, []string{"c4", "c5"}) || dev.Clicks != 5 {
		t.Errorf("device: candidates %v clicks %d, want the newest two [c4 c5] of 5", got, dev.Clicks)
	}
	if got := ids(ip.Candidates); !slices.Equal(got, []string{"c1", "c2"}) || ip.Clicks != 5 {
		t.Errorf("ip: candidates %v clicks %d, want the oldest two [c1 c2] of 5", got, ip.Clicks)
	}
}

// With a flood window the reply counts the clicks of that span only; the
// candidates still come from the whole window.
func TestFloodWindowCountsItsOwnSpan(t *testing.T) {
	h := start(t)
	for i := 1; i <= 5; i++ {
		h.click(ipKey, click(fmt.Sprintf("c%d", i), at(100+5*i))) // minutes 105…125
	}
	req := matchReq(ipKey, "i1", at(125), time.Hour, 10)
	req.FloodWindow = 11 * time.Minute
	h.request(req)
	r := h.only()
	if len(r.Candidates) != 5 || r.Clicks != 3 {
		t.Errorf("candidates %v clicks %d, want all 5 candidates and the 3 clicks of the last 11 minutes", ids(r.Candidates), r.Clicks)
	}
}

// More than 2K clicks: the oldest K and the newest K stay, the ones between
// are counted, and the count is reported as inside any window.
func TestClickListIsBounded(t *testing.T) {
	h := start(t)
	const extra = 3
	n := 2*K + extra
	// Arrive in a scrambled order: the bound keeps the oldest and newest
	// K of what it has seen, and the last arrivals here are the extremes.
	var order []int
	for i := K; i < n-K; i++ {
		order = append(order, i)
	}
	for i := 0; i < K; i++ {
		order = append(order, i, n-1-i)
	}
	for _, i := range order {
		h.click(ipKey, click(fmt.Sprintf("c%03d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	st := h.state(ipKey)
	if len(st.Clicks) != 2*K || st.Overflow != extra {
		t.Fatalf("%d clicks kept, overflow %d; want %d and %d", len(st.Clicks), st.Overflow, 2*K, extra)
	}
	for i := 0; i < K; i++ {
		if old, want := st.Clicks[i].ClickID, fmt.Sprintf("c%03d", i); old != want {
			t.Errorf("oldest %d: %s, want %s", i, old, want)
		}
		if nw, want := st.Clicks[K+i].ClickID, fmt.Sprintf("c%03d", n-K+i); nw != want {
			t.Errorf("newest %d: %s, want %s", i, nw, want)
		}
	}
	if !slices.IsSortedFunc(st.Clicks, codecs.CompareClicks) {
		t.Error("clicks not sorted")
	}

	// A window holding only the last ten clicks still counts the overflow.
	last := t0.Add(time.Duration(n-1) * time.Second)
	h.request(matchReq(ipKey, "i1", last, 9*time.Second, 0))
	r := h.only()
	if r.Clicks != 10+extra || len(r.Candidates) != 10 {
		t.Errorf("clicks %d candidates %d, want %d and 10", r.Clicks, len(r.Candidates), 10+extra)
	}
}

func TestInstallListIsBounded(t *testing.T) {
	h := start(t)
	for i := range MaxInstalls + 2 {
		h.request(matchReq(devKey, fmt.Sprintf("i%02d", i), at(i), time.Hour, 1))
	}
	h.drain()
	st := h.state(devKey)
	if len(st.Installs) != MaxInstalls || st.InstallOverflow != 2 || st.Installs[0].InstallID != "i02" {
		t.Errorf("installs %d (first %s) overflow %d", len(st.Installs), st.Installs[0].InstallID, st.InstallOverflow)
	}
}

func TestLateClickTouchesInstallsWhoseWindowHoldsIt(t *testing.T) {
	h := start(t)
	h.request(matchReq(devKey, "i1", at(120), time.Hour, 1))
	h.request(matchReq(devKey, "i2", at(100), 30*time.Minute, 1))
	h.drain()

	h.click(devKey, click("late", at(90)))
	rs := h.drain()
	var got []string
	for _, r := range rs {
		got = append(got, r.InstallID)
		if r.Type != codecs.ReplyTouch || !slices.Equal(ids(r.Candidates), []string{"late"}) ||
			!r.At.Equal(at(90)) || r.Key != devKey || r.Kind != codecs.TouchDevice {
			t.Errorf("touch: %s", encode(r))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"i1", "i2"}) {
		t.Errorf("touched %v, want [i1 i2]", got)
	}

	h.click(devKey, click("early", at(59)))  // before both windows
	h.click(devKey, click("after", at(121))) // after both installs
	if rs := h.drain(); len(rs) != 0 {
		t.Errorf("clicks outside every window sent %s", encode(rs))
	}
	h.click(devKey, click("only-i1", at(115)))
	if r := h.only(); r.InstallID != "i1" || r.Type != codecs.ReplyTouch {
		t.Errorf("touch: %s", encode(r))
	}
}

func TestPriorInstalls(t *testing.T) {
	for _, key := range []string{devKey, ipKey} {
		t.Run(kindOf(key), func(t *testing.T) {
			h := start(t)
			h.request(matchReq(key, "i2", at(120), time.Hour, 1))
			if r := h.only(); len(r.PriorInstalls) != 0 {
				t.Errorf("first install has priors %v", r.PriorInstalls)
			}

			// i1 comes late: it learns nothing prior; on a device key i2
			// is told of it.
			h.request(matchReq(key, "i1", at(60), time.Hour, 1))
			byInstall := map[string]*codecs.AttributionReply{}
			for _, r := range h.drain() {
				byInstall[r.InstallID+"/"+r.Type] = r
			}
			if r := byInstall["i1/match"]; r == nil || len(r.PriorInstalls) != 0 {
				t.Errorf("i1 match: %s", encode(r))
			}
			prior := byInstall["i2/prior"]
			if key == devKey {
				want := &codecs.AttributionReply{Type: codecs.ReplyPrior, ProjectID: "p1", InstallID: "i2", Key: key,
					Kind: codecs.TouchDevice, PriorInstalls: []codecs.InstallRef{{InstallID: "i1", InstalledAt: at(60)}}, At: at(60)}
				if diff := cmp.Diff(want, prior); diff != "" {
					t.Errorf("prior (-want +got):\n%s", diff)
				}
				if len(byInstall) != 2 {
					t.Errorf("replies %v", byInstall)
				}
			} else if prior != nil || len(byInstall) != 1 {
				t.Errorf("an ip key sent prior notices: %v", byInstall)
			}

			// i3 comes last: both are prior, oldest first; nobody is told.
			h.request(matchReq(key, "i3", at(180), time.Hour, 1))
			r := h.only()
			if got := installIDs(r.PriorInstalls); !slices.Equal(got, []string{"i1", "i2"}) {
				t.Errorf("i3 priors %v, want [i1 i2]", got)
			}
		})
	}
}

func TestDuplicatesAreRecordedOnce(t *testing.T) {
	h := start(t)
	h.request(matchReq(devKey, "i1", at(120), time.Hour, 5))
	h.only()
	h.click(devKey, click("c1", at(100)))
	h.only() // the touch
	h.click(devKey, click("c1", at(100)))
	if rs := h.drain(); len(rs) != 0 {
		t.Errorf("a duplicate click touched again: %s", encode(rs))
	}

	// A repeated request is answered again and widens the window.
	h.request(matchReq(devKey, "i1", at(120), 2*time.Hour, 5))
	if r := h.only(); r.Type != codecs.ReplyMatch || !slices.Equal(ids(r.Candidates), []string{"c1"}) || len(r.PriorInstalls) != 0 {
		t.Errorf("repeated match: %s", encode(r))
	}
	st := h.state(devKey)
	if len(st.Clicks) != 1 || len(st.Installs) != 1 || st.Installs[0].Window != 2*time.Hour {
		t.Errorf("state %s", encode(st))
	}
	h.click(devKey, click("c0", at(30))) // only inside the wider window
	if r := h.only(); r.Type != codecs.ReplyTouch || r.InstallID != "i1" {
		t.Errorf("touch: %s", encode(r))
	}
}

func TestBadInputGoesToDLQ(t *testing.T) {
	h := start(t)
	h.click(devKey, click("c1", at(0))) // makes devKey a device key
	other := matchReq(ipKey, "i1", at(10), time.Hour, 1)
	other.Key = "p1:other"
	wrongKind := matchReq(devKey, "i1", at(10), time.Hour, 1)
	wrongKind.Kind = codecs.TouchIP
	noTime := matchReq(devKey, "i1", time.Time{}, time.Hour, 1)
	negative := matchReq(devKey, "i1", at(10), -time.Hour, 1)
	otherProject := matchReq("p2:x", "i1", at(10), time.Hour, 1)
	cases := []struct {
		topic, key string
		raw        []byte
	}{
		{string(Updates), devKey, []byte("{not json")},
		{string(Updates), "p1:x", encode(codecs.TouchpointUpdate{Key: devKey, Kind: codecs.TouchDevice, Click: click("c2", at(1))})},
		{string(Updates), devKey, encode(codecs.TouchpointUpdate{Key: devKey, Kind: "cookie", Click: click("c2", at(1))})},
		{string(Updates), devKey, encode(codecs.TouchpointUpdate{Key: devKey, Kind: codecs.TouchDevice, Click: click("c2", time.Time{})})},
		{string(Updates), devKey, encode(codecs.TouchpointUpdate{Key: devKey, Kind: codecs.TouchDevice, Click: codecs.ClickRef{ProjectID: "p1", ClickedAt: at(1)}})},
		{string(Requests), devKey, []byte(`[]`)},
		{string(Requests), ipKey, encode(other)},
		{string(Requests), devKey, encode(wrongKind)},
		{string(Requests), devKey, encode(noTime)},
		{string(Requests), devKey, encode(negative)},
		{string(Requests), "p2:x", encode(otherProject)},
	}
	for _, c := range cases {
		h.tt.Consume(c.topic, c.key, c.raw)
	}
	n := 0
	for {
		k, v, ok := h.dlq.Next()
		if !ok {
			break
		}
		if c := cases[n]; k != c.key || string(v.([]byte)) != string(c.raw) {
			t.Errorf("DLQ record %d: %s %s, want %s %s", n, k, v, c.key, c.raw)
		}
		n++
	}
	if n != len(cases) {
		t.Errorf("%d records in the DLQ, want %d", n, len(cases))
	}
	if rs := h.drain(); len(rs) != 0 {
		t.Errorf("bad input answered: %s", encode(rs))
	}
	if st := h.state(devKey); len(st.Clicks) != 1 || len(st.Installs) != 0 {
		t.Errorf("bad input changed state: %s", encode(st))
	}
	// The partition goes on.
	h.request(matchReq(devKey, "i1", at(10), time.Hour, 1))
	if r := h.only(); !slices.Equal(ids(r.Candidates), []string{"c1"}) {
		t.Errorf("after the DLQ: %s", encode(r))
	}
}

// An input already in the state (redelivered after a crash) is not applied
// again, and the replies it produced are sent again, computed from the
// state: the same replies when nothing else changed the key since.
func TestRedeliveredInputResendsWithoutApplying(t *testing.T) {
	h := start(t)
	absorbAll := func(topic string) {
		st := h.state(devKey)
		st.Absorbed[topic] = 1 << 40 // pretend everything up to here was absorbed
		h.tt.SetTableValue(Table, devKey, st)
	}
	h.click(devKey, click("c1", at(100)))
	req := matchReq(devKey, "i1", at(120), time.Hour, 5)
	h.request(req)
	first := h.only()
	absorbAll(string(Requests))
	h.request(req)
	if diff := cmp.Diff(first, h.only()); diff != "" {
		t.Errorf("re-sent match differs (-first +again):\n%s", diff)
	}

	late := click("c2", at(110))
	h.click(devKey, late)
	touch := h.only()
	absorbAll(string(Updates))
	h.click(devKey, late)
	if diff := cmp.Diff(touch, h.only()); diff != "" {
		t.Errorf("re-sent touch differs (-first +again):\n%s", diff)
	}

	// Take the effects out of the state: a re-application would show as
	// them coming back.
	st := h.state(devKey)
	st.Clicks = st.Clicks[:1]
	st.Installs = nil
	h.tt.SetTableValue(Table, devKey, st)
	h.request(req)
	h.click(devKey, late)
	h.drain()
	if got := h.state(devKey); len(got.Clicks) != 1 || len(got.Installs) != 0 {
		t.Errorf("a redelivered input was applied again: %s", encode(got))
	}
}

// An install is prior to another only while it is kept at the other's
// install time (its window plus the slack): the answer is the same whether
// or not a sweep removed it yet.
func TestPriorInstallsOnlyWhileKept(t *testing.T) {
	h := start(t) // slack: processors.DefaultSlack, an hour
	priors := func() map[string][]string {
		out := map[string][]string{}
		for _, r := range h.drain() {
			out[r.InstallID+"/"+r.Type] = installIDs(r.PriorInstalls)
		}
		return out
	}
	check := func(step string, want map[string][]string) {
		t.Helper()
		if got := priors(); !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
			t.Errorf("%s: replies %v, want %v", step, got, want)
		}
	}
	h.request(matchReq(devKey, "i1", at(0), time.Hour, 1)) // kept until 12:00
	check("i1", map[string][]string{"i1/match": nil})
	h.request(matchReq(devKey, "i2", at(120), time.Hour, 1))
	check("i2 at the last minute i1 is kept", map[string][]string{"i2/match": {"i1"}})
	h.request(matchReq(devKey, "i3", at(121), time.Hour, 1))
	check("i3 after i1 is gone", map[string][]string{"i3/match": {"i2"}})

	// Earlier installs that come late are told to the later ones that
	// would have kept them.
	h.request(matchReq(devKey, "i0", at(-200), time.Hour, 1)) // kept until 08:00
	check("i0", map[string][]string{"i0/match": nil})
	h.request(matchReq(devKey, "i-1", at(-100), time.Hour, 1)) // kept until 09:40
	check("i-1", map[string][]string{"i-1/match": {"i0"}, "i1/prior": {"i-1"}})
	if st := h.state(devKey); len(st.Installs) != 5 {
		t.Errorf("recorded %d installs, want all 5 until a sweep", len(st.Installs))
	}
}
