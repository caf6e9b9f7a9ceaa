package attribution

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// RulesVersion names the rule set decisions are made with.
const RulesVersion = "click-match/1"

// Limits of a match request: a device key answers its newest clicks (last
// touch wins there), an IP key its oldest (first touch wins).
const (
	deviceLimit = 10
	ipLimit     = 10
)

type attributor struct {
	deps processors.Deps
	// gate holds installs back while too many of a partition's installs
	// wait for the click side's answers.
	gate *stream.Gate
	// states keeps the states of installs waiting for answers in memory.
	states *states
}

// waiting tells the gate whether the install still waits for answers.
func (a *attributor) waiting(ctx goka.Context, st *codecs.InstallState) {
	a.gate.Track(ctx.Partition(), ctx.Key(), st != nil && len(st.Waiting) > 0)
}

// install handles an init. The first init of an install asks the click
// side for candidates; later inits are app opens.
func (a *attributor) install(ctx goka.Context, raw []byte) error {
	var st *codecs.InstallState
	defer func() { a.waiting(ctx, st) }()
	in, err := codecs.Decode[codecs.Install](raw)
	if err != nil {
		return err
	}
	if err := validate(ctx.Key(), in); err != nil {
		return err
	}
	st, kept := a.states.load(ctx)
	// Settings as of the install's time: this init's when it is (or
	// becomes) the install, else the first one's.
	installedAt := in.ReceivedAt
	if st != nil && !firstOf(in, &st.Install) {
		installedAt = st.Install.ReceivedAt
	}
	eff, err := a.deps.Settings(in.ProjectID, installedAt)
	if err != nil {
		return err
	}
	if st == nil {
		st = &codecs.InstallState{Install: *in, Identifiers: extract(in), Absorbed: map[string]int64{}}
		st.Install.DeviceData, st.Install.Extra = nil, nil
		stream.Once(ctx, stream.Offsets(st.Absorbed), func() []stream.Emission {
			out := a.request(ctx.Key(), st, eff)
			out = append(out, a.evaluate(ctx.Key(), st, eff)...)
			a.states.store(ctx, st, false)
			return out
		}, nil)
		return nil
	}
	return a.states.guard(ctx, kept, func() { a.laterInit(ctx, st, in, eff) })
}

// laterInit handles an init of an install that has a state: the same
// request again, an earlier init, or an app open.
func (a *attributor) laterInit(ctx goka.Context, st *codecs.InstallState, in *codecs.Install, eff catalog.Effective) {
	if st.Absorbed == nil {
		st.Absorbed = map[string]int64{}
	}
	stream.Once(ctx, stream.Offsets(st.Absorbed), func() []stream.Emission {
		if in.RequestID == st.Install.RequestID {
			a.states.store(ctx, st, false) // the same request published twice
			return nil
		}
		if firstOf(in, &st.Install) {
			return a.earlierInit(ctx, st, in, eff)
		}
		st.Opens++
		if in.ReceivedAt.After(st.LastOpenAt) {
			st.LastOpenAt = in.ReceivedAt
		}
		a.states.store(ctx, st, false)
		return []stream.Emission{{Topic: Attributions, Key: ctx.Key(), Value: appOpen(st, in, eff)}}
	}, func() []stream.Emission {
		out := a.resend(ctx.Key(), st, eff)
		if in.RequestID != st.Install.RequestID {
			out = append(out, stream.Emission{Topic: Attributions, Key: ctx.Key(), Value: appOpen(st, in, eff)})
		}
		// The app opens of the inits this one took the install from.
		for _, d := range st.Displaced {
			if d.By == in.RequestID {
				displaced := codecs.Install{ProjectID: in.ProjectID, InstallID: in.InstallID, RequestID: d.RequestID, ReceivedAt: d.ReceivedAt}
				out = append(out, stream.Emission{Topic: Attributions, Key: ctx.Key(), Value: appOpen(st, &displaced, eff)})
			}
		}
		return out
	})
}

// firstOf reports whether init a comes before b: "first" is the lowest
// (received_at, request id).
func firstOf(a, b *codecs.Install) bool {
	if !a.ReceivedAt.Equal(b.ReceivedAt) {
		return a.ReceivedAt.Before(b.ReceivedAt)
	}
	return a.RequestID < b.RequestID
}

// earlierInit handles an init that comes before the one taken for the
// install (two gateways, one of them late to publish): it becomes the
// install, the click side is asked again as of its time (touchpoints
// replace the install's record, the clicks group keeps a claimant's
// earliest time), and the one taken before is an app open.
func (a *attributor) earlierInit(ctx goka.Context, st *codecs.InstallState, in *codecs.Install, eff catalog.Effective) []stream.Emission {
	later := st.Install
	st.Install, st.Identifiers = *in, extract(in)
	st.Install.DeviceData, st.Install.Extra = nil, nil
	st.Opens++
	if later.ReceivedAt.After(st.LastOpenAt) {
		st.LastOpenAt = later.ReceivedAt
	}
	st.Displaced = append(st.Displaced, codecs.DisplacedInit{By: in.RequestID, RequestID: later.RequestID, ReceivedAt: later.ReceivedAt})
	out := a.request(ctx.Key(), st, eff)
	out = append(out, a.evaluate(ctx.Key(), st, eff)...)
	a.states.store(ctx, st, false)
	return append(out, stream.Emission{Topic: Attributions, Key: ctx.Key(), Value: appOpen(st, &later, eff)})
}

// appOpen is the attributions record of a later init: credited to the
// install's decision when it falls inside the re-engagement window after
// the install.
func appOpen(st *codecs.InstallState, in *codecs.Install, eff catalog.Effective) *codecs.Decision {
	d := st.Decision.Summary()
	d.ID = contentID("open", in.ProjectID, in.InstallID, in.RequestID)
	d.Kind = codecs.KindAppOpen
	d.ProjectID, d.InstallID = st.Install.ProjectID, st.Install.InstallID
	d.InstalledAt = st.Install.ReceivedAt
	d.OpenedAt = in.ReceivedAt
	d.OpenRequestID = in.RequestID
	d.Retracts = nil
	d.Reengagement = st.Decision.Version > 0 && st.Decision.MatchType != matchOrganic &&
		!in.ReceivedAt.After(st.Install.ReceivedAt.Add(time.Duration(eff.Reengagement)))
	return &d
}

// request sends the first init's requests: a match request per device id
// and for the client address (unless IP matching is off for it), and a
// direct claim for the lr_ia_id the install carried.
func (a *attributor) request(key string, st *codecs.InstallState, eff catalog.Effective) []stream.Emission {
	in, ids := &st.Install, st.Identifiers
	device, ip := longestWindows(eff.Windows)
	var out []stream.Emission
	for _, d := range ids.Devices {
		k := codecs.DeviceKey(in.ProjectID, d)
		if slices.Contains(st.Waiting, waitMatch(codecs.TouchDevice, k)) {
			continue
		}
		st.Waiting = append(st.Waiting, waitMatch(codecs.TouchDevice, k))
		out = append(out, a.match(st, k, codecs.TouchDevice, device, deviceLimit, false, 0))
	}
	if ids.IP != "" && eff.IPMatching.Allowed(catalog.Platform(strings.ToUpper(in.Platform)), ids.ATTAuthorized) {
		k := codecs.IPKey(in.ProjectID, ids.IP)
		if !slices.Contains(st.Waiting, waitMatch(codecs.TouchIP, k)) {
			st.Waiting = append(st.Waiting, waitMatch(codecs.TouchIP, k))
		}
		out = append(out, a.match(st, k, codecs.TouchIP, ip, ipLimit, true, floodWindow(eff)))
	}
	if ids.ClickID != "" {
		st.Direct = ids.ClickID
		if !slices.Contains(st.Waiting, waitClaim(ids.ClickID)) {
			st.Waiting = append(st.Waiting, waitClaim(ids.ClickID))
		}
		out = append(out, claim(st, codecs.ClaimOp, ids.ClickID))
	}
	return out
}

func (a *attributor) match(st *codecs.InstallState, key, kind string, window time.Duration, limit int, oldest bool, flood time.Duration) stream.Emission {
	return stream.Emission{Topic: MatchRequests, Key: key, Value: &codecs.MatchRequest{Key: key, Kind: kind,
		ProjectID: st.Install.ProjectID, InstallID: st.Install.InstallID, InstalledAt: st.Install.ReceivedAt,
		Window: window, Limit: limit, Oldest: oldest, FloodWindow: flood}}
}

// floodWindow is the IP flooding rule's window (0 when the rule is off).
func floodWindow(eff catalog.Effective) time.Duration {
	if eff.Fraud.IPFloodClicks <= 0 {
		return 0
	}
	return time.Duration(eff.Fraud.IPFloodWindow)
}

func claim(st *codecs.InstallState, op, clickID string) stream.Emission {
	return stream.Emission{Topic: Claims, Key: clickID, Value: &codecs.ClickClaim{Op: op, ClickID: clickID,
		ProjectID: st.Install.ProjectID, InstallID: st.Install.InstallID, InstalledAt: st.Install.ReceivedAt}}
}

// longestWindows are the longest device (device or referrer click) and IP
// windows of any network: what the click side is asked for; each candidate
// is then held to its own network's window.
func longestWindows(w catalog.Windows) (device, ip time.Duration) {
	sets := []catalog.WindowSet{w.For("")}
	for n := range w.Networks {
		sets = append(sets, w.For(n))
	}
	for _, s := range sets {
		device = max(device, time.Duration(s.DeviceClick), time.Duration(s.ReferrerClick))
		ip = max(ip, time.Duration(s.IP))
	}
	return device, ip
}

// resend rebuilds what the state has asked for and decided, for an input
// delivered again after a crash: its outputs may never have been sent.
// Everything carries the same content as before, and every receiver
// tolerates a repeat (touchpoints and clicks dedupe by install, decisions
// and jobs have content ids).
func (a *attributor) resend(key string, st *codecs.InstallState, eff catalog.Effective) []stream.Emission {
	var out []stream.Emission
	device, ip := longestWindows(eff.Windows)
	for _, w := range st.Waiting {
		kind, id, _ := strings.Cut(w, ":")
		switch kind {
		case "claim":
			out = append(out, claim(st, codecs.ClaimOp, id))
		case codecs.TouchIP:
			out = append(out, a.match(st, id, codecs.TouchIP, ip, ipLimit, true, floodWindow(eff)))
		default:
			out = append(out, a.match(st, id, codecs.TouchDevice, device, deviceLimit, false, 0))
		}
	}
	for _, c := range st.Candidates {
		if c.Claim == claimReturned {
			out = append(out, claim(st, codecs.ReleaseOp, c.Click.ClickID))
		}
	}
	if st.Decision.Version > 0 {
		out = append(out, decisionOutputs(key, st.Decision, st.Retracted)...)
	}
	return out
}

// Waiting entries: "<kind>:<touchpoint key>" for a match request,
// "claim:<click id>" for a claim.
func waitMatch(kind, key string) string { return kind + ":" + key }
func waitClaim(clickID string) string   { return "claim:" + clickID }

func validate(key string, in *codecs.Install) error {
	switch {
	case in.ProjectID == "" || in.InstallID == "":
		return fmt.Errorf("install: project_id and install_instance_id are required")
	case key != Key(in.ProjectID, in.InstallID):
		return fmt.Errorf("install: key %q does not match project %q and install %q", key, in.ProjectID, in.InstallID)
	case in.ReceivedAt.IsZero():
		return fmt.Errorf("install: received_at is required")
	case in.RequestID == "":
		return fmt.Errorf("install: request_id is required")
	}
	return nil
}

// Key is the install-side key of every install-keyed topic.
func Key(project, install string) string { return project + ":" + install }

// DecisionID derives a decision's id from its content.
func DecisionID(project, install string, version int) string {
	return contentID("decision", project, install, fmt.Sprint(version))
}

func contentID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}
