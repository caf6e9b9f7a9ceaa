package attribution

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Reasons a candidate did not win (Candidate.Reason).
const (
	reasonNotSeen       = "click_not_seen"
	reasonUnknown       = "click_unknown"
	reasonClaimed       = "claimed_by_earlier_install"
	reasonAfterInstall  = "click_after_install"
	reasonOutsideWindow = "outside_window"
	reasonTooFast       = "click_to_install_too_short"
	reasonAfterBegin    = "click_after_install_begin"
	reasonIPFlooding    = "ip_flooding"
	reasonLaterTouch    = "later_touch_won"
	reasonEarlierTouch  = "earlier_touch_won"
	reasonHigherTier    = "higher_tier_won"
	maxContributors     = 3
	sourceOrganic       = "ORGANIC"
	sourceOwnedMedia    = "OWNED_MEDIA"
	outcomeWon          = "won"
	outcomeContributor  = "contributor"
	outcomeLost         = "lost"
	confidenceDirect    = 1.0
	confidenceDevice    = 0.99
	confidenceIP        = 0.5
	tierDeterministic   = 2
	tierProbabilistic   = 3
	tierOrganic         = 0
)

// judged is a candidate with what the rules say about it.
type judged struct {
	c        *codecs.ClickCandidate
	tier     int
	campaign *codecs.Campaign
	deeplink string
	reason   string // why it cannot win; "" when eligible
}

// evaluate decides once nothing is outstanding: the arbiter ranks the
// eligible candidates, the best one the install holds wins; the best one
// not claimed yet is claimed first (the answer comes back as a reply).
// A decision that differs from the current one is a new version.
// eff are the project's settings as of the install's time.
func (a *attributor) evaluate(key string, st *codecs.InstallState, eff catalog.Effective) []stream.Emission {
	if len(st.Waiting) > 0 {
		return nil
	}
	in := &st.Install
	all := a.judge(st, eff)
	eligible := rank(all)
	var winner *judged
	for _, j := range eligible {
		switch j.c.Claim {
		case codecs.ClaimGranted:
			winner = j
		case "", claimReturned:
			j.c.Claim = claimAsked
			st.Waiting = append(st.Waiting, waitClaim(j.c.Click.ClickID))
			return []stream.Emission{claim(st, codecs.ClaimOp, j.c.Click.ClickID)}
		default:
			continue
		}
		break
	}
	d := build(st, winner, eligible, all)
	var out []stream.Emission
	for i := range st.Candidates {
		c := &st.Candidates[i]
		if c.Claim == codecs.ClaimGranted && (winner == nil || c != winner.c) {
			c.Claim = claimReturned
			out = append(out, claim(st, codecs.ReleaseOp, c.Click.ClickID))
		}
	}
	prev := st.Decision
	if prev.Version > 0 && sameOutcome(prev, d) {
		// The version sent stays as it was (its id names that content);
		// the explanation as it stands now is kept beside it.
		st.Explanation = nil
		if !slices.Equal(prev.Candidates, d.Candidates) {
			st.Explanation = d.Candidates
		}
		return out
	}
	st.Explanation = nil
	d.Version = prev.Version + 1
	d.ID = DecisionID(in.ProjectID, in.InstallID, d.Version)
	st.Retracted = nil
	if prev.Version > 0 {
		d.Retracts = prev.Ref()
		sum := prev.Summary()
		st.Retracted = &sum
	}
	st.Decision = d
	return append(out, decisionOutputs(key, d, st.Retracted)...)
}

// judge applies the windows and fraud rules to every candidate.
func (a *attributor) judge(st *codecs.InstallState, eff catalog.Effective) []*judged {
	in, ids := &st.Install, st.Identifiers
	out := make([]*judged, 0, len(st.Candidates))
	for i := range st.Candidates {
		c := &st.Candidates[i]
		j := &judged{c: c, tier: tierDeterministic}
		if c.MatchType == matchIP {
			j.tier = tierProbabilistic
		}
		var network string
		j.campaign, j.deeplink, network = a.campaign(in.ProjectID, c.Click.CampaignID, in.ReceivedAt)
		ws := eff.Windows.For(network)
		window := time.Duration(ws.DeviceClick)
		switch c.MatchType {
		case matchDirect:
			window = time.Duration(ws.ReferrerClick)
		case matchIP:
			window = time.Duration(ws.IP)
		}
		age := in.ReceivedAt.Sub(c.Click.ClickedAt)
		switch {
		case c.Claim == codecs.ClaimDenied:
			j.reason = reasonClaimed
		case c.Claim == codecs.ClaimUnknown:
			j.reason = reasonUnknown
		case c.Claim == codecs.ClaimPending || c.Click.ClickedAt.IsZero():
			j.reason = reasonNotSeen
		case age < 0:
			j.reason = reasonAfterInstall
		case age > window:
			j.reason = reasonOutsideWindow
		case eff.Fraud.MinClickToInstall > 0 && age < time.Duration(eff.Fraud.MinClickToInstall):
			j.reason = reasonTooFast
		case eff.Fraud.RejectClickAfterInstallBegin && !ids.InstallBegin.IsZero() && c.Click.ClickedAt.After(ids.InstallBegin):
			j.reason = reasonAfterBegin
		case c.MatchType == matchIP && eff.Fraud.IPFloodClicks > 0 && st.IPClicks[c.Key] >= eff.Fraud.IPFloodClicks:
			j.reason = reasonIPFlooding
		}
		out = append(out, j)
	}
	return out
}

// campaign resolves a click's campaign as of the install time.
func (a *attributor) campaign(project, id string, at time.Time) (*codecs.Campaign, string, string) {
	if id == "" || a.deps.Catalog == nil {
		return nil, "", ""
	}
	p, spec, ok, err := a.deps.Catalog.CampaignAt(id, at)
	if err != nil || !ok || p != project {
		return &codecs.Campaign{ID: id}, "", ""
	}
	c := &codecs.Campaign{ID: id, Name: spec.Name, Network: spec.Network}
	if len(spec.NetworkCampaignIDs) > 0 {
		c.NetworkID = spec.NetworkCampaignIDs[0]
	}
	return c, spec.Deeplink, spec.Network
}

// rank orders the eligible candidates, best first: tier 2 (lr_ia_id,
// device) by last touch, then tier 3 (IP) by first touch; equal times by
// match type strength, then click id.
func rank(all []*judged) []*judged {
	var out []*judged
	for _, j := range all {
		if j.reason == "" {
			out = append(out, j)
		}
	}
	slices.SortStableFunc(out, func(x, y *judged) int {
		if x.tier != y.tier {
			return cmp.Compare(x.tier, y.tier)
		}
		tx, ty := x.c.Click.ClickedAt, y.c.Click.ClickedAt
		if !tx.Equal(ty) {
			if x.tier == tierProbabilistic {
				return tx.Compare(ty) // first touch
			}
			return ty.Compare(tx) // last touch
		}
		if s := cmp.Compare(strength(y.c.MatchType), strength(x.c.MatchType)); s != 0 {
			return s
		}
		return strings.Compare(x.c.Click.ClickID, y.c.Click.ClickID)
	})
	return out
}

// build makes the decision with its explanation.
func build(st *codecs.InstallState, winner *judged, eligible, all []*judged) codecs.Decision {
	in := &st.Install
	d := codecs.Decision{Kind: codecs.KindDecision, ProjectID: in.ProjectID, InstallID: in.InstallID,
		Source: sourceOrganic, MatchType: matchOrganic, Tier: tierOrganic, Platform: in.Platform,
		Devices: st.Identifiers.Devices, InstalledAt: in.ReceivedAt, RulesVersion: RulesVersion, RequestID: in.RequestID}
	if n := len(st.Priors); n > 0 {
		d.Reinstall, d.PreviousInstallID = true, st.Priors[n-1].InstallID
	}
	if winner != nil {
		c := winner.c
		d.MatchType, d.Tier = c.MatchType, winner.tier
		d.ClickID, d.ClickedAt = c.Click.ClickID, c.Click.ClickedAt
		d.Campaign, d.Deeplink = winner.campaign, winner.deeplink
		d.Source = sourceOwnedMedia
		if n := network(winner.campaign); n != "" {
			d.Source = n
		}
		d.Confidence = confidence(c.MatchType)
	}
	// Contributors: the best-ranked eligible candidates after the winner.
	contributor := map[*judged]bool{}
	for _, j := range eligible {
		if len(d.Contributors) == maxContributors {
			break
		}
		if j == winner {
			continue
		}
		contributor[j] = true
		d.Contributors = append(d.Contributors, codecs.Contributor{ClickID: j.c.Click.ClickID,
			CampaignID: campaignID(j.campaign), Network: network(j.campaign), MatchType: j.c.MatchType, ClickedAt: j.c.Click.ClickedAt})
	}
	for _, j := range all {
		cand := codecs.Candidate{ClickID: j.c.Click.ClickID, CampaignID: campaignID(j.campaign), Network: network(j.campaign),
			MatchType: j.c.MatchType, Tier: j.tier, ClickedAt: j.c.Click.ClickedAt, Outcome: outcomeLost, Reason: j.reason}
		switch {
		case j == winner:
			cand.Outcome, cand.Reason = outcomeWon, ""
		case contributor[j]:
			cand.Outcome, cand.Reason = outcomeContributor, lossReason(j, winner)
		case j.reason == "":
			cand.Reason = lossReason(j, winner)
		case j.reason == reasonClaimed && j.c.Holder != "":
			cand.Reason = reasonClaimed + ":" + j.c.Holder
		}
		d.Candidates = append(d.Candidates, cand)
	}
	slices.SortFunc(d.Candidates, func(x, y codecs.Candidate) int { return strings.Compare(x.ClickID, y.ClickID) })
	return d
}

// confidence is how sure a match of the type is.
func confidence(matchType string) float64 {
	switch matchType {
	case matchDirect:
		return confidenceDirect
	case matchDevice:
		return confidenceDevice
	case matchIP:
		return confidenceIP
	}
	return 0
}

// lossReason says why an eligible candidate lost to the winner.
func lossReason(j, winner *judged) string {
	switch {
	case winner == nil:
		return reasonClaimed
	case j.tier > winner.tier:
		return reasonHigherTier
	case j.tier == tierProbabilistic:
		return reasonEarlierTouch
	default:
		return reasonLaterTouch
	}
}

func campaignID(c *codecs.Campaign) string {
	if c == nil {
		return ""
	}
	return c.ID
}

func network(c *codecs.Campaign) string {
	if c == nil {
		return ""
	}
	return c.Network
}

// sameOutcome reports whether two decisions credit the same thing; a new
// version is made only when they do not.
func sameOutcome(a, b codecs.Decision) bool {
	return a.Source == b.Source && a.MatchType == b.MatchType && a.Tier == b.Tier && a.ClickID == b.ClickID &&
		a.InstalledAt.Equal(b.InstalledAt) && a.RequestID == b.RequestID &&
		campaignID(a.Campaign) == campaignID(b.Campaign) && a.Reinstall == b.Reinstall &&
		a.PreviousInstallID == b.PreviousInstallID && slices.Equal(a.Contributors, b.Contributors)
}

// decisionOutputs are what a decision version sends: the decision, its
// summary for the events group, an analytics job and, for an ad network,
// a postback job; a correction first withdraws what the previous version
// sent.
func decisionOutputs(key string, d codecs.Decision, prev *codecs.Decision) []stream.Emission {
	out := []stream.Emission{{Topic: Attributions, Key: key, Value: &d}}
	sum := d.Summary()
	out = append(out, stream.Emission{Topic: InstallAttributed, Key: key, Value: &sum})
	if prev != nil && prev.Version > 0 {
		old := prev.Summary()
		out = append(out, stream.Emission{Topic: Analytics, Key: key, Value: job(codecs.JobAnalytics, old, "", true, d.InstalledAt)})
		if n := network(old.Campaign); n != "" {
			out = append(out, stream.Emission{Topic: Postbacks, Key: key, Value: job(codecs.JobPostback, old, n, true, d.InstalledAt)})
		}
	}
	out = append(out, stream.Emission{Topic: Analytics, Key: key, Value: job(codecs.JobAnalytics, sum, "", false, d.InstalledAt)})
	if n := network(d.Campaign); n != "" {
		out = append(out, stream.Emission{Topic: Postbacks, Key: key, Value: job(codecs.JobPostback, sum, n, false, d.InstalledAt)})
	}
	return out
}

func job(kind string, d codecs.Decision, network string, retraction bool, at time.Time) *codecs.Job {
	r := "state"
	if retraction {
		r = "retract"
	}
	return &codecs.Job{ID: contentID("job", d.ID, kind, network, r), Kind: kind, ProjectID: d.ProjectID, InstallID: d.InstallID,
		Event: "install", Network: network, Retraction: retraction, Decision: d, At: at}
}
