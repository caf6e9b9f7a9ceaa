package attribution

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Match types of a candidate.
const (
	matchDirect  = "lr_ia_id"
	matchDevice  = codecs.TouchDevice
	matchIP      = codecs.TouchIP
	matchOrganic = "organic"
)

// Claim states of a candidate beyond the claim statuses: claimReturned
// marks a click the install held and gave back.
const (
	claimAsked    = "claiming"
	claimReturned = "returned"
)

var errNoInstall = errors.New("reply for an install this group has not seen")

// reply handles an answer of the click side: it updates what the install
// knows and, once nothing is outstanding, decides again.
func (a *attributor) reply(ctx goka.Context, raw []byte) error {
	r, err := codecs.Decode[codecs.AttributionReply](raw)
	if err != nil {
		return err
	}
	if r.ProjectID == "" || r.InstallID == "" || ctx.Key() != Key(r.ProjectID, r.InstallID) {
		return fmt.Errorf("reply: key %q does not match project %q and install %q", ctx.Key(), r.ProjectID, r.InstallID)
	}
	st, kept := a.states.load(ctx)
	if st == nil {
		return errNoInstall
	}
	defer a.waiting(ctx, st)
	eff, err := a.deps.Settings(st.Install.ProjectID, st.Install.ReceivedAt)
	if err != nil {
		return err
	}
	return a.states.guard(ctx, kept, func() {
		if st.Absorbed == nil {
			st.Absorbed = map[string]int64{}
		}
		stream.Once(ctx, stream.Offsets(st.Absorbed), func() []stream.Emission {
			absorb(st, r)
			out := a.evaluate(ctx.Key(), st, eff)
			a.states.store(ctx, st, true)
			return out
		}, func() []stream.Emission { return a.resend(ctx.Key(), st, eff) })
	})
}

// absorb folds a reply into the state.
func absorb(st *codecs.InstallState, r *codecs.AttributionReply) {
	switch r.Type {
	case codecs.ReplyMatch:
		st.Waiting = slices.DeleteFunc(st.Waiting, func(w string) bool { return w == waitMatch(r.Kind, r.Key) })
		for _, c := range r.Candidates {
			addCandidate(st, c, r.Kind, r.Key)
		}
		if r.Kind == codecs.TouchIP {
			if st.IPClicks == nil {
				st.IPClicks = map[string]int{}
			}
			st.IPClicks[r.Key] = r.Clicks
		} else {
			addPriors(st, r.PriorInstalls)
		}
	case codecs.ReplyTouch:
		for _, c := range r.Candidates {
			addCandidate(st, c, r.Kind, r.Key)
		}
	case codecs.ReplyPrior:
		if r.Kind == codecs.TouchDevice {
			addPriors(st, r.PriorInstalls)
		}
	case codecs.ReplyClaim:
		absorbClaim(st, r)
	}
}

func absorbClaim(st *codecs.InstallState, r *codecs.AttributionReply) {
	wasAsked := slices.Contains(st.Waiting, waitClaim(r.ClickID))
	st.Waiting = slices.DeleteFunc(st.Waiting, func(w string) bool { return w == waitClaim(r.ClickID) })
	i := slices.IndexFunc(st.Candidates, func(c codecs.ClickCandidate) bool { return c.Click.ClickID == r.ClickID })
	if i < 0 {
		if r.ClickID != st.Direct {
			return // an answer about a click this install no longer tracks
		}
		ref := codecs.ClickRef{ClickID: r.ClickID, ProjectID: st.Install.ProjectID}
		if r.Click != nil {
			ref = *r.Click
		}
		st.Candidates = append(st.Candidates, codecs.ClickCandidate{Click: ref, MatchType: matchDirect})
		i = len(st.Candidates) - 1
	}
	c := &st.Candidates[i]
	if r.Click != nil {
		c.Click = *r.Click
	}
	if r.ClickID == st.Direct {
		c.MatchType = matchDirect
	}
	switch r.Claim {
	case codecs.ClaimGranted:
		// A grant for a click given back meanwhile is answered when the
		// release arrives; until then the install holds it.
		c.Claim, c.Holder = codecs.ClaimGranted, ""
	case codecs.ClaimDenied, codecs.ClaimRevoked:
		c.Claim, c.Holder = codecs.ClaimDenied, r.Holder
	case codecs.ClaimPending:
		if wasAsked || c.Claim == claimAsked {
			c.Claim = codecs.ClaimPending
		}
	case codecs.ClaimUnknown:
		c.Claim = codecs.ClaimUnknown
	case codecs.ClaimReleased:
		if c.Claim == codecs.ClaimDenied {
			c.Claim, c.Holder = "", ""
		}
	}
}

// addCandidate records a click found on a key; a click found several ways
// keeps the strongest (lr_ia_id, then device, then IP).
func addCandidate(st *codecs.InstallState, ref codecs.ClickRef, kind, key string) {
	if ref.ProjectID != st.Install.ProjectID {
		return
	}
	for i := range st.Candidates {
		c := &st.Candidates[i]
		if c.Click.ClickID != ref.ClickID {
			continue
		}
		if c.Click.ClickedAt.IsZero() {
			c.Click = ref
		}
		if strength(kind) > strength(c.MatchType) {
			c.MatchType, c.Key = kind, key
		}
		return
	}
	st.Candidates = append(st.Candidates, codecs.ClickCandidate{Click: ref, MatchType: kind, Key: key})
}

func strength(matchType string) int {
	switch matchType {
	case matchDirect:
		return 3
	case matchDevice:
		return 2
	case matchIP:
		return 1
	}
	return 0
}

func addPriors(st *codecs.InstallState, priors []codecs.InstallRef) {
	self := codecs.InstallRef{InstallID: st.Install.InstallID, InstalledAt: st.Install.ReceivedAt}
	for _, p := range priors {
		if p.InstallID == self.InstallID || !p.Before(self) {
			continue
		}
		if !slices.ContainsFunc(st.Priors, func(q codecs.InstallRef) bool { return q.InstallID == p.InstallID }) {
			st.Priors = append(st.Priors, p)
		}
	}
	slices.SortFunc(st.Priors, codecs.CompareInstalls)
}
