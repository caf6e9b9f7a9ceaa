package touchpoints

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// update records a click and tells the installs whose window holds it.
func (g *group) update(ctx goka.Context, raw []byte) error {
	u, err := codecs.Decode[codecs.TouchpointUpdate](raw)
	if err != nil {
		return err
	}
	if err := validateUpdate(ctx.Key(), u); err != nil {
		return err
	}
	st, err := load(ctx, u.Kind)
	if err != nil {
		return err
	}
	g.marks.Observe(ctx, u.Click.ClickedAt)
	stream.Once(ctx, st.Absorbed, func() []stream.Emission {
		added := st.addClick(u.Click)
		ctx.SetValue(st)
		if !added {
			// Every install it concerns was told when it first came, or
			// found it in its match answer.
			return nil
		}
		return touches(ctx.Key(), st, u)
	}, func() []stream.Emission {
		return touches(ctx.Key(), st, u)
	})
	return nil
}

// request records an install and answers it.
func (g *group) request(ctx goka.Context, raw []byte) error {
	req, err := codecs.Decode[codecs.MatchRequest](raw)
	if err != nil {
		return err
	}
	if err := validateRequest(ctx.Key(), req); err != nil {
		return err
	}
	st, err := load(ctx, req.Kind)
	if err != nil {
		return err
	}
	g.marks.Observe(ctx, req.InstalledAt)
	stream.Once(ctx, st.Absorbed, func() []stream.Emission {
		st.addInstall(Recorded{
			InstallRef: codecs.InstallRef{InstallID: req.InstallID, InstalledAt: req.InstalledAt},
			ProjectID:  req.ProjectID,
			Window:     req.Window,
		})
		ctx.SetValue(st)
		return answer(ctx.Key(), st, req, g.deps.Slack)
	}, func() []stream.Emission {
		return answer(ctx.Key(), st, req, g.deps.Slack)
	})
	return nil
}

// load returns the key's state, new if there is none. An entry of the
// other kind is an error: the two key families must not share keys.
func load(ctx goka.Context, kind string) (*State, error) {
	var st *State
	switch v := ctx.Value().(type) {
	case nil:
		st = &State{Kind: kind}
	case *State:
		st = v
		if st.Kind != kind {
			return nil, fmt.Errorf("touchpoint %q is of kind %q, the record says %q", ctx.Key(), st.Kind, kind)
		}
	default:
		return nil, fmt.Errorf("touchpoint %q: table holds %T", ctx.Key(), v)
	}
	if st.Absorbed == nil {
		st.Absorbed = stream.Offsets{}
	}
	return st, nil
}

// touches are the replies telling every install recorded on the key whose
// window holds the click about it.
func touches(key string, st *State, u *codecs.TouchpointUpdate) []stream.Emission {
	var out []stream.Emission
	for _, in := range st.Installs {
		if in.ProjectID != u.Click.ProjectID || !in.covers(u.Click.ClickedAt) {
			continue
		}
		out = append(out, reply(&codecs.AttributionReply{
			Type:       codecs.ReplyTouch,
			ProjectID:  in.ProjectID,
			InstallID:  in.InstallID,
			Key:        key,
			Kind:       st.Kind,
			Candidates: []codecs.ClickRef{u.Click},
			At:         u.Click.ClickedAt,
		}))
	}
	return out
}

// answer is the match reply to req and, on a device key, the prior replies
// to the installs recorded after it. It reads st as it is after req was
// recorded. An install counts as prior to another only while it is kept at
// the other's install time (Recorded.keptAt): so whether a sweep has
// removed it yet changes no answer.
func answer(key string, st *State, req *codecs.MatchRequest, slack time.Duration) []stream.Emission {
	self := codecs.InstallRef{InstallID: req.InstallID, InstalledAt: req.InstalledAt}
	window := Recorded{InstallRef: self, ProjectID: req.ProjectID, Window: req.Window}

	var in []codecs.ClickRef // sorted oldest first, as st.Clicks
	for _, c := range st.Clicks {
		if c.ProjectID == req.ProjectID && window.covers(c.ClickedAt) {
			in = append(in, c)
		}
	}
	clicks := len(in)
	if req.FloodWindow > 0 {
		flood := Recorded{InstallRef: self, ProjectID: req.ProjectID, Window: req.FloodWindow}
		clicks = 0
		for _, c := range st.Clicks {
			if c.ProjectID == req.ProjectID && flood.covers(c.ClickedAt) {
				clicks++
			}
		}
	}
	candidates := in
	if req.Limit > 0 && len(in) > req.Limit {
		if req.Oldest {
			candidates = in[:req.Limit]
		} else {
			candidates = in[len(in)-req.Limit:]
		}
	}
	var prior, later []codecs.InstallRef
	for _, r := range st.Installs {
		switch {
		case r.ProjectID != req.ProjectID || r.InstallID == req.InstallID:
		case r.Before(self):
			if r.keptAt(req.InstalledAt, slack) {
				prior = append(prior, r.InstallRef)
			}
		case self.Before(r.InstallRef):
			if window.keptAt(r.InstalledAt, slack) {
				later = append(later, r.InstallRef)
			}
		}
	}

	out := []stream.Emission{reply(&codecs.AttributionReply{
		Type:          codecs.ReplyMatch,
		ProjectID:     req.ProjectID,
		InstallID:     req.InstallID,
		Key:           key,
		Kind:          req.Kind,
		Candidates:    slices.Clone(candidates),
		Clicks:        clicks + st.Overflow,
		PriorInstalls: prior,
		At:            req.InstalledAt,
	})}
	if req.Kind != codecs.TouchDevice {
		return out
	}
	// A later install's reinstall check ran without this one: tell it.
	for _, r := range later {
		out = append(out, reply(&codecs.AttributionReply{
			Type:          codecs.ReplyPrior,
			ProjectID:     req.ProjectID,
			InstallID:     r.InstallID,
			Key:           key,
			Kind:          req.Kind,
			PriorInstalls: []codecs.InstallRef{self},
			At:            req.InstalledAt,
		}))
	}
	return out
}

// reply addresses r to its install: attribution-replies is keyed
// project:install_instance_id.
func reply(r *codecs.AttributionReply) stream.Emission {
	return stream.Emission{Topic: Replies, Key: r.ProjectID + ":" + r.InstallID, Value: r}
}

func validateUpdate(key string, u *codecs.TouchpointUpdate) error {
	c := u.Click
	switch {
	case key != u.Key:
		return fmt.Errorf("touchpoint update: key %q does not match the record's %q", key, u.Key)
	case u.Kind != codecs.TouchDevice && u.Kind != codecs.TouchIP:
		return fmt.Errorf("touchpoint update: unknown kind %q", u.Kind)
	case c.ClickID == "" || c.ProjectID == "":
		return fmt.Errorf("touchpoint update: click_id and project_id are required")
	case !ofProject(key, c.ProjectID):
		return fmt.Errorf("touchpoint update: key %q is not of project %q", key, c.ProjectID)
	case c.ClickedAt.IsZero():
		return fmt.Errorf("touchpoint update: clicked_at is required")
	}
	return nil
}

func validateRequest(key string, r *codecs.MatchRequest) error {
	switch {
	case key != r.Key:
		return fmt.Errorf("match request: key %q does not match the record's %q", key, r.Key)
	case r.Kind != codecs.TouchDevice && r.Kind != codecs.TouchIP:
		return fmt.Errorf("match request: unknown kind %q", r.Kind)
	case r.ProjectID == "" || r.InstallID == "":
		return fmt.Errorf("match request: project_id and install_instance_id are required")
	case !ofProject(key, r.ProjectID):
		return fmt.Errorf("match request: key %q is not of project %q", key, r.ProjectID)
	case r.InstalledAt.IsZero():
		return fmt.Errorf("match request: installed_at is required")
	case r.Window < 0:
		return fmt.Errorf("match request: negative window %s", r.Window)
	}
	return nil
}

// ofProject reports whether key is a touchpoint key of project.
func ofProject(key, project string) bool {
	return len(key) > len(project)+1 && strings.HasPrefix(key, project+":")
}
