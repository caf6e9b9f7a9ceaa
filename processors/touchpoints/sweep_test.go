package touchpoints

import (
	"testing"
	"time"
)

func TestSweepExpiresByWatermark(t *testing.T) {
	h := start(t)
	retention := 7*24*time.Hour + time.Hour // default longest window + default slack
	wm := t0.Add(retention + time.Minute)

	h.click(devKey, click("old", t0))                       // expired: the entry goes
	h.request(matchReq(ipKey, "i1", t0, time.Hour, 1))      // expired at t0+2h
	h.click(ipKey, click("recent", t0.Add(7*24*time.Hour))) // kept
	h.click("p1:edge", click("edge", wm.Add(-retention)))   // expires exactly at the watermark: kept
	overflowed := &State{Kind: "device", Clicks: h.state(ipKey).Clicks, Overflow: 5, OverflowUntil: t0}
	h.tt.SetTableValue(Table, "p1:ov", overflowed)
	// Both inputs reach the watermark.
	h.click("p1:mark", click("mark", wm))
	h.request(matchReq("p1:mark", "mark", wm, time.Hour, 1))
	h.drain()

	h.sweep() // no tick yet: the watermark is unknown, nothing goes
	for _, k := range []string{devKey, ipKey, "p1:edge", "p1:ov", "p1:mark"} {
		if h.state(k) == nil {
			t.Fatalf("%s swept without a watermark", k)
		}
	}

	h.tick()
	h.sweep()
	if st := h.state(devKey); st != nil {
		t.Errorf("expired entry kept: %s", encode(st))
	}
	if st := h.state(ipKey); st == nil || len(st.Installs) != 0 || len(st.Clicks) != 1 || st.Clicks[0].ClickID != "recent" {
		t.Errorf("ip entry: %s", encode(st))
	}
	if st := h.state("p1:edge"); st == nil || len(st.Clicks) != 1 {
		t.Errorf("edge entry: %s", encode(st))
	}
	if st := h.state("p1:ov"); st == nil || st.Overflow != 0 || len(st.Clicks) != 1 {
		t.Errorf("overflow entry: %s", encode(st))
	}
	if st := h.state("p1:mark"); st == nil || len(st.Clicks) != 1 || len(st.Installs) != 1 {
		t.Errorf("mark entry: %s", encode(st))
	}
}
