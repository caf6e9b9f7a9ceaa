package clicks

import (
	"slices"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// State is the table value of one click id.
type State struct {
	// ClickID is the table key.
	ClickID string `json:"click_id"`
	// Ref is what the group keeps of the click (what claim answers and
	// expiry need), nil while only claims for it have arrived. The rest of
	// the click stays on the clicks topic: a redelivered click rebuilds
	// its outputs from the record itself.
	Ref *codecs.ClickRef `json:"ref,omitempty"`
	// Click is the whole click as states written before Ref existed hold
	// it; load turns it into Ref, so it is never written again.
	Click *codecs.Click `json:"click,omitempty"`
	// ClickInput is the input (topic#digest) that recorded the click, so a
	// redelivery of it re-sends the click's outputs and a duplicate does
	// not.
	ClickInput string `json:"click_input,omitempty"`
	// Claims are the installs claiming the click, earliest first. While the
	// click is unknown they may be of any project; once it is known, only
	// claimants of its project are kept.
	Claims []Claimant `json:"claims,omitempty"`
	// Holder is the install id of the claimant the click is granted to
	// (always Claims[0] when set), empty when nobody holds it.
	Holder string `json:"holder,omitempty"`
	// Sent is the last answer sent to each install about this click, in
	// the order sent, with the input that caused it: what a redelivered
	// input re-sends. An answer superseded by a later one is not re-sent.
	Sent []Answer `json:"sent,omitempty"`
	// Absorbed is, per input topic, the highest offset whose effect is in
	// this state (stream.Offsets).
	Absorbed map[string]int64 `json:"absorbed"`
}

// upgrade turns the whole click of a state written before Ref existed into
// its reference.
func (st *State) upgrade() {
	if st.Click == nil {
		return
	}
	if st.Ref == nil {
		ref := clickRef(st.Click)
		st.Ref = &ref
	}
	st.Click = nil
}

// Claimant is an install claiming the click.
type Claimant struct {
	ProjectID string `json:"project_id"`
	codecs.InstallRef
}

// Answer is a reply sent about the click and the input that caused it
// (topic#digest of its content; "sweep" in states written when the sweep
// sent the late claims' answers itself, never re-sent).
type Answer struct {
	Input string                  `json:"input"`
	Reply codecs.AttributionReply `json:"reply"`
}

// find returns the index of the claimant (project, install), or -1.
func (st *State) find(project, install string) int {
	return slices.IndexFunc(st.Claims, func(c Claimant) bool {
		return c.ProjectID == project && c.InstallID == install
	})
}

// add records a claimant, keeping Claims earliest first. A claimant already
// there keeps the earlier of its two times, so the order does not depend on
// which of two claims of one install came first.
func (st *State) add(c Claimant) {
	if i := st.find(c.ProjectID, c.InstallID); i >= 0 {
		if !c.InstalledAt.Before(st.Claims[i].InstalledAt) {
			return
		}
		st.Claims = slices.Delete(st.Claims, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(st.Claims, c, func(a, b Claimant) int { return codecs.CompareInstalls(a.InstallRef, b.InstallRef) })
	st.Claims = slices.Insert(st.Claims, i, c)
}

// remember records reply as the last answer sent to its install.
func (st *State) remember(input string, reply codecs.AttributionReply) {
	st.forget(reply.ProjectID, reply.InstallID)
	st.Sent = append(st.Sent, Answer{Input: input, Reply: reply})
}

// forget drops the last answer sent to an install.
func (st *State) forget(project, install string) {
	st.Sent = slices.DeleteFunc(st.Sent, func(a Answer) bool {
		return a.Reply.ProjectID == project && a.Reply.InstallID == install
	})
}

// sentBy returns the answers input caused that are still the last ones.
func (st *State) sentBy(input string) []codecs.AttributionReply {
	var out []codecs.AttributionReply
	for _, a := range st.Sent {
		if a.Input == input {
			out = append(out, a.Reply)
		}
	}
	return out
}
