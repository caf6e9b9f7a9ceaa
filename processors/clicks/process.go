package clicks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

type group struct {
	deps  processors.Deps
	marks *clock.Watermarks
}

// deviceParams are the click params that carry device ids, in the order
// their touchpoint updates are sent.
var deviceParams = []string{"gaid", "idfa", "idfv"}

// load returns the state stored under ctx's key (existed) or a new one,
// stored only if the step writes it.
func load(ctx goka.Context) (st *State, existed bool, err error) {
	switch v := ctx.Value().(type) {
	case nil:
		st = &State{}
	case *State:
		st, existed = v, true
	default:
		return nil, false, fmt.Errorf("clicks: key %q holds %T, not a click", ctx.Key(), v)
	}
	st.ClickID = ctx.Key()
	st.upgrade()
	if st.Absorbed == nil {
		st.Absorbed = map[string]int64{}
	}
	return st, existed, nil
}

// inputOf names the record being processed, for State.Sent: its topic and
// a digest of its content. Once decides by offset whether a record is
// absorbed; the name only finds the answers an absorbed record caused, and
// a redelivered record has the same content (its offset is the same too,
// but the content also holds for a record produced again upstream). A
// byte-identical duplicate of a click, redelivered, therefore re-sends the
// click's outputs: the same content again, which downstream absorbs.
func inputOf(ctx goka.Context, raw []byte) string {
	sum := sha256.Sum256(raw)
	return string(ctx.Topic()) + "#" + hex.EncodeToString(sum[:12])
}

func (g *group) click(ctx goka.Context, raw []byte) error {
	c, err := codecs.Decode[codecs.Click](raw)
	if err != nil {
		return err
	}
	if err := validateClick(ctx.Key(), c); err != nil {
		return err
	}
	st, _, err := load(ctx)
	if err != nil {
		return err
	}
	g.marks.Observe(ctx, c.ReceivedAt)
	input := inputOf(ctx, raw)
	stream.Once(ctx, st.Absorbed, func() []stream.Emission {
		if st.Ref != nil {
			// A duplicate: the click is recorded already and its outputs
			// were sent; only the offset is noted.
			ctx.SetValue(st)
			return nil
		}
		ref := clickRef(c)
		st.Ref, st.ClickInput = &ref, input
		g.arbitrateWaiting(st, input)
		ctx.SetValue(st)
		return clickOutputs(st, c, input)
	}, func() []stream.Emission { return clickOutputs(st, c, input) })
	return nil
}

func validateClick(key string, c *codecs.Click) error {
	switch {
	case c.ClickID == "" || c.ProjectID == "":
		return fmt.Errorf("click: click_id and project_id are required")
	case key != c.ClickID:
		return fmt.Errorf("click: key %q does not match click_id %q", key, c.ClickID)
	case c.ReceivedAt.IsZero():
		return fmt.Errorf("click: received_at is required")
	}
	return nil
}

// arbitrateWaiting answers the claims that waited for the click that just
// arrived: claimants of another project learn it is unknown to them and are
// dropped; the earliest of the others gets it, the rest are denied.
func (g *group) arbitrateWaiting(st *State, input string) {
	project := st.Ref.ProjectID
	var same []Claimant
	for _, cl := range st.Claims {
		if cl.ProjectID != project {
			st.remember(input, reply(st, cl, codecs.ClaimUnknown))
			continue
		}
		same = append(same, cl)
	}
	st.Claims = same
	if len(same) == 0 {
		return
	}
	st.Holder = same[0].InstallID
	for i, cl := range same {
		status := codecs.ClaimDenied
		if i == 0 {
			status = codecs.ClaimGranted
		}
		st.remember(input, reply(st, cl, status))
	}
}

// clickOutputs are what recording the click c sent, rebuilt from the
// state and the input: nothing for a duplicate (input did not record the
// click). A redelivered input has the content that recorded the click.
func clickOutputs(st *State, c *codecs.Click, input string) []stream.Emission {
	var out []stream.Emission
	if st.Ref != nil && st.ClickInput == input {
		ref := *st.Ref
		seen := map[string]bool{}
		touch := func(key, kind string) {
			if seen[key] {
				return
			}
			seen[key] = true
			out = append(out, stream.Emission{Topic: TouchpointUpdates, Key: key,
				Value: codecs.TouchpointUpdate{Key: key, Kind: kind, Click: ref}})
		}
		for _, p := range deviceParams {
			if id := c.Params[p]; usableDeviceID(id) {
				touch(codecs.DeviceKey(c.ProjectID, id), codecs.TouchDevice)
			}
		}
		if c.ClientIP != "" {
			touch(codecs.IPKey(c.ProjectID, c.ClientIP), codecs.TouchIP)
		}
		out = append(out, stream.Emission{Topic: Recorded, Key: c.ClickID, Value: *c})
	}
	return append(out, replies(st, input)...)
}

// usableDeviceID rejects empty ids and the all-zero ids devices report
// when ad tracking is limited: they would join unrelated devices.
func usableDeviceID(id string) bool {
	return strings.Trim(strings.TrimSpace(id), "0-") != ""
}

func clickRef(c *codecs.Click) codecs.ClickRef {
	return codecs.ClickRef{
		ClickID:    c.ClickID,
		ProjectID:  c.ProjectID,
		CampaignID: c.CampaignID,
		Source:     c.Source,
		Platform:   c.OS,
		Params:     refParams(c.Params),
		ClickedAt:  c.ReceivedAt,
	}
}

// refParams are the click parameters a reference carries: the ad
// networks' click ids (gclid, ttclid, …), which network strategies read.
// Device ids are the touchpoint keys already and UTM parameters travel on
// clicks-recorded; leaving them out keeps the touchpoint and claim state,
// which holds up to a hundred references per key, small.
func refParams(p map[string]string) map[string]string {
	var out map[string]string
	for k, v := range p {
		if v == "" || strings.HasPrefix(k, "utm_") || slices.Contains(deviceParams, k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(p))
		}
		out[k] = v
	}
	return out
}

// reply is the claim answer status to claimant cl.
func reply(st *State, cl Claimant, status string) codecs.AttributionReply {
	r := codecs.AttributionReply{
		Type:      codecs.ReplyClaim,
		ProjectID: cl.ProjectID,
		InstallID: cl.InstallID,
		ClickID:   st.ClickID,
		Claim:     status,
		At:        cl.InstalledAt,
	}
	switch status {
	case codecs.ClaimGranted:
		ref := *st.Ref
		r.Click = &ref
	case codecs.ClaimDenied, codecs.ClaimRevoked:
		r.Holder = st.Holder
	}
	return r
}

// replies are input's answers that are still the last ones, as emissions.
func replies(st *State, input string) []stream.Emission {
	var out []stream.Emission
	for _, r := range st.sentBy(input) {
		out = append(out, stream.Emission{Topic: Replies, Key: replyKey(r.ProjectID, r.InstallID), Value: r})
	}
	return out
}

// replyKey is the key of attribution-replies: the install.
func replyKey(project, install string) string { return project + ":" + install }

func (g *group) claim(ctx goka.Context, raw []byte) error {
	in, err := codecs.Decode[codecs.ClickClaim](raw)
	if err != nil {
		return err
	}
	if err := validateClaim(ctx.Key(), in); err != nil {
		return err
	}
	st, existed, err := load(ctx)
	if err != nil {
		return err
	}
	g.marks.Observe(ctx, in.InstalledAt)
	input := inputOf(ctx, raw)
	stream.Once(ctx, st.Absorbed, func() []stream.Emission {
		switch in.Op {
		case codecs.ClaimOp:
			applyClaim(st, in, input)
		case codecs.ReleaseOp:
			applyRelease(st, in, input)
			if !existed {
				// Nothing to release and nothing to remember.
				return nil
			}
		}
		ctx.SetValue(st)
		return replies(st, input)
	}, func() []stream.Emission { return replies(st, input) })
	return nil
}

func validateClaim(key string, in *codecs.ClickClaim) error {
	switch {
	case in.Op != codecs.ClaimOp && in.Op != codecs.ReleaseOp:
		return fmt.Errorf("click claim: unknown op %q", in.Op)
	case in.ClickID == "" || in.ProjectID == "" || in.InstallID == "":
		return fmt.Errorf("click claim: click_id, project_id and install_instance_id are required")
	case key != in.ClickID:
		return fmt.Errorf("click claim: key %q does not match click_id %q", key, in.ClickID)
	case in.Op == codecs.ClaimOp && in.InstalledAt.IsZero():
		return fmt.Errorf("click claim: installed_at is required")
	}
	return nil
}

// applyClaim adds a claimant and answers it; when it is earlier than the
// holder it takes the click over and the holder is told.
func applyClaim(st *State, in *codecs.ClickClaim, input string) {
	cl := Claimant{ProjectID: in.ProjectID, InstallRef: codecs.InstallRef{InstallID: in.InstallID, InstalledAt: in.InstalledAt}}
	switch {
	case st.Ref == nil:
		st.add(cl)
		st.remember(input, reply(st, st.Claims[st.find(cl.ProjectID, cl.InstallID)], codecs.ClaimPending))
		return
	case in.ProjectID != st.Ref.ProjectID:
		st.remember(input, reply(st, cl, codecs.ClaimUnknown))
		return
	}
	st.add(cl)
	cl = st.Claims[st.find(cl.ProjectID, cl.InstallID)] // the earlier time if claimed before
	first, prev := st.Claims[0], st.Holder
	st.Holder = first.InstallID
	if first.InstallID == cl.InstallID {
		st.remember(input, reply(st, cl, codecs.ClaimGranted))
	} else {
		st.remember(input, reply(st, cl, codecs.ClaimDenied))
		if prev != first.InstallID {
			// Only when nobody held the click: its new holder is told.
			st.remember(input, reply(st, first, codecs.ClaimGranted))
		}
	}
	if prev != "" && prev != first.InstallID {
		if i := st.find(st.Ref.ProjectID, prev); i >= 0 {
			st.remember(input, reply(st, st.Claims[i], codecs.ClaimRevoked))
		}
	}
}

// applyRelease withdraws a claim. When the holder releases the click, the
// other claims end too: their claimants are told it was released and may
// claim it again, the earliest of those that do getting it.
func applyRelease(st *State, in *codecs.ClickClaim, input string) {
	i := st.find(in.ProjectID, in.InstallID)
	if i < 0 {
		return
	}
	st.Claims = slices.Delete(st.Claims, i, i+1)
	st.forget(in.ProjectID, in.InstallID)
	if st.Ref == nil || st.Holder != in.InstallID {
		return
	}
	st.Holder = ""
	for _, cl := range st.Claims {
		st.remember(input, reply(st, cl, codecs.ClaimReleased))
	}
	st.Claims = nil
}

// sweep deletes a click past its retention (with its claims, quietly:
// attribution stopped asking about it). For a click that has not come, it
// loops an expiry back to the group once a claim's installed_at plus the
// lateness is before the watermark: the expiry, an input, answers it
// unknown (expire), so the answer is sent at least once like any input's,
// which a sweep's own emit would not be (it has no input to be delivered
// again after a crash). The sweep changes nothing itself, so until the
// expiry is applied each sweep loops it again; an expiry that finds nothing
// late does nothing. The entry is deleted once nobody waits and the
// answers it sent are older than the lateness plus the slack: by then the
// expiry that sent them was committed, so it never comes again to find
// nothing to re-send.
func (g *group) sweep(ctx goka.Context, value any, watermark time.Time) {
	st, ok := value.(*State)
	if !ok {
		return
	}
	st.upgrade()
	if st.Ref != nil {
		keep, err := g.deps.Retention(st.Ref.ProjectID, st.Ref.ClickedAt)
		if err != nil {
			return // the catalog will answer on a later sweep
		}
		if st.Ref.ClickedAt.Add(keep).Before(watermark) {
			ctx.Delete()
		}
		return
	}
	for _, cl := range st.Claims {
		if g.late(cl.InstalledAt, watermark) {
			ctx.Loopback(ctx.Key(), &codecs.ClaimExpiry{ClickID: ctx.Key(), Watermark: watermark})
			return
		}
	}
	if len(st.Claims) > 0 {
		return
	}
	for _, a := range st.Sent {
		if !a.Reply.At.Add(g.deps.Lateness + g.deps.Slack).Before(watermark) {
			return
		}
	}
	ctx.Delete()
}

// late reports whether a claim of an install at installedAt waited for its
// click longer than the lateness by watermark.
func (g *group) late(installedAt, watermark time.Time) bool {
	return installedAt.Add(g.deps.Lateness).Before(watermark)
}

// expire answers unknown to the claims that are late by the expiry's
// watermark and stops waiting for them; the entry stays, with the answers,
// for a redelivery of the expiry (see sweep).
func (g *group) expire(ctx goka.Context, raw []byte) error {
	in, err := codecs.Decode[codecs.ClaimExpiry](raw)
	if err != nil {
		return err
	}
	if in.ClickID != ctx.Key() || in.Watermark.IsZero() {
		return fmt.Errorf("claim expiry: key %q, click_id %q, watermark %s", ctx.Key(), in.ClickID, in.Watermark)
	}
	st, existed, err := load(ctx)
	if err != nil {
		return err
	}
	if !existed {
		return nil // swept since: nothing waits
	}
	input := inputOf(ctx, raw)
	stream.Once(ctx, st.Absorbed, func() []stream.Emission {
		if st.Ref != nil {
			// The click came: the claims were answered with it.
			return nil
		}
		var waiting []Claimant
		for _, cl := range st.Claims {
			if g.late(cl.InstalledAt, in.Watermark) {
				st.remember(input, reply(st, cl, codecs.ClaimUnknown))
				continue
			}
			waiting = append(waiting, cl)
		}
		if len(waiting) == len(st.Claims) {
			return nil // answered by an earlier expiry
		}
		st.Claims = waiting
		ctx.SetValue(st)
		return replies(st, input)
	}, func() []stream.Emission { return replies(st, input) })
	return nil
}
