package pipeline_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// replayProject is the only project of the recorded input.
const replayProject = "replay"

// replayCatalog resolves the campaigns of the recorded input; every
// project has the default settings.
type replayCatalog struct{}

var replayCampaigns = map[string]catalog.CampaignSpec{
	"camp-meta":   {Name: "Meta spring", Network: "META"},
	"camp-tiktok": {Name: "TikTok launch", Network: "TIKTOK"},
	"camp-news":   {Name: "Newsletter"}, // owned media
}

func (replayCatalog) ProjectSettingsAt(string, time.Time) (catalog.Effective, bool, error) {
	return catalog.Effective{}, false, nil
}

func (replayCatalog) CampaignAt(id string, _ time.Time) (string, catalog.CampaignSpec, bool, error) {
	s, ok := replayCampaigns[id]
	return replayProject, s, ok, nil
}

// replayEvent is one record of the recorded input.
type replayEvent struct {
	topic string // "clicks" or "installs"
	key   string
	value any
	at    time.Time // event time
	// after is the key of an install this click must be published after
	// (a late click), "" otherwise.
	after string
}

// expectation is what the rules must decide for an install, whatever the
// order its inputs arrive in.
type expectation struct {
	scenario     string
	clickID      string // "" for organic
	matchType    string
	contributors []string
}

// replayInput is the recorded input: the clicks and installs, and the
// expected decision of every install (keyed project:install id).
type replayInput struct {
	events   []replayEvent
	expected map[string]expectation
	// phantoms are installs whose lr_ia_id names a click that never comes:
	// their claims are answered unknown once the clicks group's watermark
	// passes installed_at plus the lateness, which needs ticks.
	phantoms []string
	late     int
}

// buildReplayInput makes the deterministic input: scenarios cycle through
// direct (lr_ia_id), device and IP matches, organic installs, contested
// clicks (two installs claiming one click by lr_ia_id or by device id,
// sometimes at the same instant), late clicks (published after the
// install they belong to), installs with several candidates (contributors
// and a click too close to the install) and lr_ia_ids of clicks that never
// arrive. Every event time lies within 75 minutes, so the watermark (whose
// idle rule trails the fastest input by an hour) never declares a claim
// for a late click unknown.
func buildReplayInput(scenarios int) replayInput {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	in := replayInput{expected: map[string]expectation{}}
	var n int
	next := func(prefix string) string { n++; return fmt.Sprintf("%s-%04d", prefix, n) }
	ip := func() string { n++; return fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256) }
	campaigns := []string{"camp-meta", "camp-tiktok", "camp-news"}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }

	click := func(at time.Time, gaid, addr string) *codecs.Click {
		c := &codecs.Click{ClickID: next("click"), ProjectID: replayProject, CampaignID: campaigns[rng.IntN(len(campaigns))],
			Source: "link", Platform: "ANDROID", ClientIP: addr, Params: map[string]string{"utm_source": "replay"},
			RequestID: next("req"), ReceivedAt: at}
		if gaid != "" {
			c.Params["gaid"] = gaid
		}
		in.events = append(in.events, replayEvent{topic: "clicks", key: c.ClickID, value: c, at: at})
		return c
	}
	install := func(at time.Time, gaid, addr, lrIaID string) string {
		id := next("install")
		dd := map[string]any{"gaid": gaid, "device_name": "Pixel 8"}
		if lrIaID != "" {
			dd["install_ref"] = "utm_source=replay&lr_ia_id=" + lrIaID
		}
		raw, _ := json.Marshal(dd)
		i := &codecs.Install{RequestID: next("req"), ProjectID: replayProject, InstallID: id, Platform: "ANDROID",
			Source: "GENERAL", DeviceData: raw, ClientIP: addr, ReceivedAt: at}
		key := replayProject + ":" + id
		in.events = append(in.events, replayEvent{topic: "installs", key: key, value: i, at: at})
		return key
	}
	expect := func(key, scenario, clickID, matchType string, contributors ...string) {
		if matchType == "" {
			matchType = "organic"
		}
		in.expected[key] = expectation{scenario: scenario, clickID: clickID, matchType: matchType, contributors: contributors}
	}

	for i := range scenarios {
		tc := t0.Add(between(0, 55*time.Minute))
		soon := func() time.Time { return tc.Add(between(15*time.Second, 15*time.Minute)) }
		switch i % 10 {
		case 0, 1: // lr_ia_id: the click carries no device id
			c := click(tc, "", ip())
			expect(install(soon(), next("gaid"), ip(), c.ClickID), "direct", c.ClickID, "lr_ia_id")
		case 2, 3: // device id
			g := next("gaid")
			c := click(tc, g, ip())
			expect(install(soon(), g, ip(), ""), "device", c.ClickID, "device")
		case 4: // client address only
			addr := ip()
			c := click(tc, "", addr)
			expect(install(soon(), next("gaid"), addr, ""), "ip", c.ClickID, "ip")
		case 5: // organic
			expect(install(soon(), next("gaid"), ip(), ""), "organic", "", "")
		case 6: // two installs carry the lr_ia_id of one click
			c := click(tc, "", ip())
			a := soon()
			b := a.Add(between(time.Second, 10*time.Minute))
			if i%3 == 0 {
				b = a // same instant: the lower install id wins
			}
			ka := install(a, next("gaid"), ip(), c.ClickID)
			kb := install(b, next("gaid"), ip(), c.ClickID)
			expect(ka, "contested-lr_ia_id", c.ClickID, "lr_ia_id")
			expect(kb, "contested-lr_ia_id-loser", "", "")
		case 7: // two installs of one device id after one click
			g := next("gaid")
			c := click(tc, g, ip())
			a := soon()
			ka := install(a, g, ip(), "")
			kb := install(a.Add(between(time.Second, 10*time.Minute)), g, ip(), "")
			expect(ka, "contested-device", c.ClickID, "device")
			expect(kb, "contested-device-loser", "", "")
		case 8: // a late click: published after its install
			g := next("gaid")
			var c *codecs.Click
			var key string
			if i%20 == 8 {
				c = click(tc, "", ip())
				key = install(tc.Add(between(15*time.Second, 10*time.Minute)), g, ip(), c.ClickID)
				expect(key, "late-lr_ia_id", c.ClickID, "lr_ia_id")
			} else {
				c = click(tc, g, ip())
				key = install(tc.Add(between(15*time.Second, 10*time.Minute)), g, ip(), "")
				expect(key, "late-device", c.ClickID, "device")
			}
			for j := range in.events {
				if in.events[j].key == c.ClickID {
					in.events[j].after = key
				}
			}
			in.late++
		case 9: // several candidates: the last device click wins, the
			// earlier one and an IP click contribute, a click 5 s before
			// the install is too close to count
			g, addr := next("gaid"), ip()
			c1 := click(tc, g, ip())
			c2 := click(tc.Add(time.Minute), "", addr)
			c3 := click(tc.Add(2*time.Minute), g, ip())
			at := tc.Add(5 * time.Minute)
			click(at.Add(-5*time.Second), g, ip())
			expect(install(at, g, addr, ""), "contributors", c3.ClickID, "device", c1.ClickID, c2.ClickID)
		}
		if i%25 == 24 { // an lr_ia_id whose click never comes
			key := install(t0.Add(between(0, 20*time.Minute)), next("gaid"), ip(), next("phantom"))
			expect(key, "phantom", "", "")
			in.phantoms = append(in.phantoms, key)
		}
	}
	return in
}

// interleave is one publication order of the input: each record is
// published at its event time plus a random delay of up to 15 minutes
// (event time), late clicks right after their install. Records of
// different topics mix; each key is published once. The event times stay
// as recorded.
func (in replayInput) interleave(seed uint64) []replayEvent {
	rng := rand.New(rand.NewPCG(seed, seed*7919+1))
	pub := map[string]time.Time{}
	for _, e := range in.events {
		pub[e.key] = e.at.Add(time.Duration(rng.Int64N(int64(15 * time.Minute))))
	}
	for _, e := range in.events {
		if e.after != "" && !pub[e.key].After(pub[e.after]) {
			pub[e.key] = pub[e.after].Add(time.Millisecond)
		}
	}
	out := slices.Clone(in.events)
	slices.SortStableFunc(out, func(a, b replayEvent) int {
		if c := pub[a.key].Compare(pub[b.key]); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}
