package touchpoints

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
)

// view is what one install learned from its replies.
type view struct {
	matches    int
	candidates map[string]codecs.ClickRef // match and touch
	prior      map[string]bool            // match and prior
	clicks     int                        // of the match
}

// The same clicks and match requests in different orders give every install
// the same view: the union of the candidates it was told (cut to the newest
// or oldest Limit, as the install cuts it) and, on a device key, the union
// of its prior installs still kept at its install time.
func TestViewsDoNotDependOnOrder(t *testing.T) {
	var clicks []codecs.ClickRef
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 14 {
		clicks = append(clicks, click(fmt.Sprintf("c%02d", i), at(rnd.IntN(320))))
	}
	clicks = append(clicks, click("edge", at(40)), click("tie", at(200))) // i1's window start; i2 and i3's time
	type install struct {
		id     string
		at     time.Time
		window time.Duration
	}
	installs := []install{
		{"i1", at(100), time.Hour},
		{"i2", at(200), 90 * time.Minute},
		{"i3", at(200), 3 * time.Hour}, // same time as i2: after it by id
		{"i4", at(300), 30 * time.Minute},
	}

	for _, key := range []string{devKey, ipKey} {
		for _, limit := range []int{0, 3} {
			t.Run(fmt.Sprintf("%s/limit=%d", kindOf(key), limit), func(t *testing.T) {
				oldest := key == ipKey
				for seed := range uint64(6) {
					h := start(t)
					type event struct {
						c *codecs.ClickRef
						r *codecs.MatchRequest
					}
					var events []event
					for i := range clicks {
						events = append(events, event{c: &clicks[i]})
					}
					for _, in := range installs {
						r := matchReq(key, in.id, in.at, in.window, limit)
						events = append(events, event{r: &r})
					}
					if seed > 0 { // seed 0 is clicks first, then installs
						rand.New(rand.NewPCG(seed, 99)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
					}
					for _, e := range events {
						if e.c != nil {
							h.click(key, *e.c)
						} else {
							h.request(*e.r)
						}
					}

					views := map[string]*view{}
					for _, r := range h.drain() {
						v := views[r.InstallID]
						if v == nil {
							v = &view{candidates: map[string]codecs.ClickRef{}, prior: map[string]bool{}}
							views[r.InstallID] = v
						}
						if r.Type == codecs.ReplyMatch {
							v.matches++
							v.clicks = r.Clicks
						}
						for _, c := range r.Candidates {
							v.candidates[c.ClickID] = c
						}
						for _, p := range r.PriorInstalls {
							v.prior[p.InstallID] = true
						}
					}

					for _, in := range installs {
						v := views[in.id]
						if v == nil || v.matches != 1 {
							t.Fatalf("seed %d: %s got no single match answer: %+v", seed, in.id, v)
						}
						win := Recorded{InstallRef: codecs.InstallRef{InstallID: in.id, InstalledAt: in.at}, ProjectID: "p1", Window: in.window}
						var inWindow []codecs.ClickRef
						for _, c := range clicks {
							if win.covers(c.ClickedAt) {
								inWindow = append(inWindow, c)
							}
						}
						slices.SortFunc(inWindow, codecs.CompareClicks)
						var got []codecs.ClickRef
						for _, c := range v.candidates {
							if !win.covers(c.ClickedAt) {
								t.Errorf("seed %d: %s told of %s outside its window", seed, in.id, c.ClickID)
							}
							got = append(got, c)
						}
						slices.SortFunc(got, codecs.CompareClicks)
						if want, got := ids(cut(inWindow, limit, oldest)), ids(cut(got, limit, oldest)); !slices.Equal(want, got) {
							t.Errorf("seed %d: %s sees %v, want %v", seed, in.id, got, want)
						}
						if v.clicks > len(inWindow) {
							t.Errorf("seed %d: %s counted %d clicks, %d are in its window", seed, in.id, v.clicks, len(inWindow))
						}
						if key != devKey {
							continue
						}
						var wantPrior, gotPrior []string
						for _, o := range installs {
							prior := Recorded{InstallRef: codecs.InstallRef{InstallID: o.id, InstalledAt: o.at}, Window: o.window}
							if prior.Before(win.InstallRef) && prior.keptAt(in.at, processors.DefaultSlack) {
								wantPrior = append(wantPrior, o.id)
							}
						}
						for id := range v.prior {
							gotPrior = append(gotPrior, id)
						}
						slices.Sort(gotPrior)
						if !slices.Equal(wantPrior, gotPrior) {
							t.Errorf("seed %d: %s has priors %v, want %v", seed, in.id, gotPrior, wantPrior)
						}
					}
				}
			})
		}
	}
}

// cut keeps the newest limit clicks of a sorted list, or the oldest.
func cut(cs []codecs.ClickRef, limit int, oldest bool) []codecs.ClickRef {
	if limit <= 0 || len(cs) <= limit {
		return cs
	}
	if oldest {
		return cs[:limit]
	}
	return cs[len(cs)-limit:]
}
