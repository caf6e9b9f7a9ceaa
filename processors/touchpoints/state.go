package touchpoints

import (
	"slices"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Bounds of a State.
const (
	// K is how many of the oldest and of the newest clicks an entry keeps:
	// at most 2K clicks in all.
	K = 50
	// MaxInstalls is how many installs an entry keeps, the newest.
	MaxInstalls = 32
)

// State is the table value of one touchpoint key.
type State struct {
	// Kind is the key family (codecs.TouchDevice or codecs.TouchIP).
	Kind string `json:"kind"`
	// Clicks are the clicks seen on the key, sorted by ClickRef.Earlier,
	// one per click id, at most 2K.
	Clicks []codecs.ClickRef `json:"clicks,omitempty"`
	// Overflow counts the clicks dropped to keep the bound; the latest of
	// them was made at OverflowUntil, and the count expires with it.
	Overflow      int       `json:"overflow,omitempty"`
	OverflowUntil time.Time `json:"overflow_until,omitzero"`
	// Installs are the installs that asked about the key, sorted by
	// InstallRef.Before, one per install id, at most MaxInstalls.
	Installs []Recorded `json:"installs,omitempty"`
	// InstallOverflow counts the installs dropped to keep the bound.
	InstallOverflow int `json:"install_overflow,omitempty"`
	// Absorbed is, per input topic, the highest offset whose effect is in
	// this state (stream.Once).
	Absorbed stream.Offsets `json:"absorbed,omitempty"`
}

// Recorded is an install that asked about the key, with the window it asked
// for: later clicks inside the window are told to it.
type Recorded struct {
	codecs.InstallRef
	ProjectID string        `json:"project_id"`
	Window    time.Duration `json:"window"`
}

// keptAt reports whether the install is kept at event time t: until its
// window and the slack have passed. The sweep removes it once the watermark
// is past that.
func (r Recorded) keptAt(t time.Time, slack time.Duration) bool {
	return !r.InstalledAt.Add(r.Window + slack).Before(t)
}

// covers reports whether the install's window holds t:
// installed_at-window <= t <= installed_at.
func (r Recorded) covers(t time.Time) bool {
	return !t.Before(r.InstalledAt.Add(-r.Window)) && !t.After(r.InstalledAt)
}

// addClick records c and reports whether it was new (no click with its id
// is kept). A new click that makes the list longer than 2K drops the one in
// the middle, which may be c itself.
func (s *State) addClick(c codecs.ClickRef) bool {
	for _, have := range s.Clicks {
		if have.ClickID == c.ClickID {
			return false
		}
	}
	i, _ := slices.BinarySearchFunc(s.Clicks, c, codecs.CompareClicks)
	s.Clicks = slices.Insert(s.Clicks, i, c)
	if len(s.Clicks) > 2*K {
		// Indexes 0..K-1 are the oldest K, K+1..2K the newest K.
		dropped := s.Clicks[K]
		s.Clicks = slices.Delete(s.Clicks, K, K+1)
		s.Overflow++
		if dropped.ClickedAt.After(s.OverflowUntil) {
			s.OverflowUntil = dropped.ClickedAt
		}
	}
	return true
}

// addInstall records r, replacing the record of the same install, and drops
// the oldest install beyond MaxInstalls.
func (s *State) addInstall(r Recorded) {
	s.Installs = slices.DeleteFunc(s.Installs, func(have Recorded) bool { return have.InstallID == r.InstallID })
	i, _ := slices.BinarySearchFunc(s.Installs, r, compareInstalls)
	s.Installs = slices.Insert(s.Installs, i, r)
	if n := len(s.Installs) - MaxInstalls; n > 0 {
		s.Installs = slices.Delete(s.Installs, 0, n)
		s.InstallOverflow += n
	}
}

func compareInstalls(a, b Recorded) int { return codecs.CompareInstalls(a.InstallRef, b.InstallRef) }
