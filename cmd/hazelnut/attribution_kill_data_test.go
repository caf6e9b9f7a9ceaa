//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// killEvent is one input record of the kill test.
type killEvent struct {
	topic string // "clicks" or "installs"
	key   string
	value []byte
	at    time.Time // event time
	after string    // a late click is published after this install
}

type killExpectation struct {
	scenario     string
	clickID      string
	matchType    string
	contributors []string
}

type killInput struct {
	events   []killEvent // in publication order
	expected map[string]killExpectation
}

// buildKillInput makes the input of one run: its own project, click ids
// and device ids (the broker and the groups are shared with other tests),
// event times from t0 over about ten minutes, so neither a watermark left
// by an earlier run nor the lateness of a late click decides anything.
// Scenarios: lr_ia_id, device and IP matches, organic installs, contested
// clicks (two installs claiming one click by lr_ia_id or device id), late
// clicks (published after their install) and installs with contributors.
func buildKillInput(run string, t0 time.Time, scenarios int) killInput {
	rng := rand.New(rand.NewPCG(7, 9))
	project := "kill-" + run
	in := killInput{expected: map[string]killExpectation{}}
	var n int
	next := func(prefix string) string { n++; return fmt.Sprintf("%s-%s-%04d", prefix, run, n) }
	ip := func() string { n++; return fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256) }
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	var events []killEvent
	click := func(at time.Time, gaid, addr string) string {
		c := codecs.Click{ClickID: next("click"), ProjectID: project, CampaignID: "camp-" + run, Source: "link",
			Platform: "ANDROID", ClientIP: addr, Params: map[string]string{"utm_source": "kill"}, RequestID: next("req"), ReceivedAt: at}
		if gaid != "" {
			c.Params["gaid"] = gaid
		}
		raw, _ := json.Marshal(c)
		events = append(events, killEvent{topic: "clicks", key: c.ClickID, value: raw, at: at})
		return c.ClickID
	}
	install := func(at time.Time, gaid, addr, lrIaID string) string {
		id := next("install")
		dd := map[string]any{"gaid": gaid}
		if lrIaID != "" {
			dd["install_ref"] = "utm_source=kill&lr_ia_id=" + lrIaID
		}
		raw, _ := json.Marshal(dd)
		v, _ := json.Marshal(codecs.Install{RequestID: next("req"), ProjectID: project, InstallID: id, Platform: "ANDROID",
			Source: "GENERAL", DeviceData: raw, ClientIP: addr, ReceivedAt: at})
		key := project + ":" + id
		events = append(events, killEvent{topic: "installs", key: key, value: v, at: at})
		return key
	}
	expect := func(key, scenario, clickID, matchType string, contributors ...string) {
		if matchType == "" {
			matchType = "organic"
		}
		in.expected[key] = killExpectation{scenario, clickID, matchType, contributors}
	}
	for i := range scenarios {
		tc := t0.Add(between(0, 8*time.Minute))
		soon := func() time.Time { return tc.Add(between(15*time.Second, 2*time.Minute)) }
		switch i % 8 {
		case 0, 1:
			c := click(tc, "", ip())
			expect(install(soon(), next("gaid"), ip(), c), "direct", c, "lr_ia_id")
		case 2:
			g := next("gaid")
			c := click(tc, g, ip())
			expect(install(soon(), g, ip(), ""), "device", c, "device")
		case 3:
			addr := ip()
			c := click(tc, "", addr)
			expect(install(soon(), next("gaid"), addr, ""), "ip", c, "ip")
		case 4:
			expect(install(soon(), next("gaid"), ip(), ""), "organic", "", "")
		case 5: // contested: by lr_ia_id on even rounds, by device id on odd ones
			g := next("gaid")
			a := soon()
			b := a.Add(between(time.Second, time.Minute))
			if i%16 == 5 {
				c := click(tc, "", ip())
				expect(install(a, next("gaid"), ip(), c), "contested-lr_ia_id", c, "lr_ia_id")
				expect(install(b, next("gaid"), ip(), c), "contested-lr_ia_id-loser", "", "")
			} else {
				c := click(tc, g, ip())
				expect(install(a, g, ip(), ""), "contested-device", c, "device")
				expect(install(b, g, ip(), ""), "contested-device-loser", "", "")
			}
		case 6: // late click
			g := next("gaid")
			c := click(tc, g, ip())
			key := install(soon(), g, ip(), "")
			expect(key, "late-device", c, "device")
			for j := range events {
				if events[j].key == c {
					events[j].after = key
				}
			}
		case 7:
			g, addr := next("gaid"), ip()
			c1 := click(tc, g, ip())
			c2 := click(tc.Add(20*time.Second), "", addr)
			c3 := click(tc.Add(40*time.Second), g, ip())
			at := tc.Add(2 * time.Minute)
			click(at.Add(-5*time.Second), g, ip())
			expect(install(at, g, addr, ""), "contributors", c3, "device", c1, c2)
		}
	}
	// Publication order: event time plus up to a minute, late clicks just
	// after their install.
	pub := map[string]time.Time{}
	for _, e := range events {
		pub[e.key] = e.at.Add(between(0, time.Minute))
	}
	for _, e := range events {
		if e.after != "" && !pub[e.key].After(pub[e.after]) {
			pub[e.key] = pub[e.after].Add(time.Millisecond)
		}
	}
	slices.SortStableFunc(events, func(a, b killEvent) int {
		if c := pub[a.key].Compare(pub[b.key]); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	in.events = events
	return in
}
