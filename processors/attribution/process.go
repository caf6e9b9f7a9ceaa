package attribution

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// RulesVersion names the rule set decisions are made with.
const RulesVersion = "organic-only/1"

func process(ctx goka.Context, raw []byte) error {
	in, err := codecs.Decode[codecs.Install](raw)
	if err != nil {
		return err
	}
	if err := validate(ctx.Key(), in); err != nil {
		return err
	}
	st, _ := ctx.Value().(*codecs.InstallState)
	if st == nil {
		st = &codecs.InstallState{Install: *in, Decision: decide(in)}
	}
	if st.Absorbed == nil {
		st.Absorbed = map[string]int64{}
	}
	first := st.Install.RequestID == in.RequestID
	decided := func() []stream.Emission {
		if !first {
			return nil
		}
		return []stream.Emission{{Topic: Attributions, Key: ctx.Key(), Value: &st.Decision}}
	}
	stream.Once(ctx, stream.Offsets(st.Absorbed), func() []stream.Emission {
		if !first {
			// A later init of a decided install is an app open.
			st.Opens++
			if in.ReceivedAt.After(st.LastOpenAt) {
				st.LastOpenAt = in.ReceivedAt
			}
		}
		ctx.SetValue(st)
		return decided()
	}, decided)
	return nil
}

func validate(key string, in *codecs.Install) error {
	switch {
	case in.ProjectID == "" || in.InstallID == "":
		return fmt.Errorf("install: project_id and install_instance_id are required")
	case key != Key(in.ProjectID, in.InstallID):
		return fmt.Errorf("install: key %q does not match project %q and install %q", key, in.ProjectID, in.InstallID)
	case in.ReceivedAt.IsZero():
		return fmt.Errorf("install: received_at is required")
	}
	return nil
}

// Key is the install-side key of every install-keyed topic.
func Key(project, install string) string { return project + ":" + install }

// decide makes the first decision of an install. Only the organic fallback
// exists yet; strategies and the arbiter come with click matching.
func decide(in *codecs.Install) codecs.Decision {
	return codecs.Decision{
		ID:           DecisionID(in.ProjectID, in.InstallID, 1),
		ProjectID:    in.ProjectID,
		InstallID:    in.InstallID,
		Version:      1,
		Source:       "ORGANIC",
		MatchType:    "organic",
		Tier:         0,
		Platform:     in.Platform,
		InstalledAt:  in.ReceivedAt,
		RulesVersion: RulesVersion,
		RequestID:    in.RequestID,
	}
}

// DecisionID derives a decision's id from its content.
func DecisionID(project, install string, version int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("decision\x00%s\x00%s\x00%d", project, install, version)))
	return hex.EncodeToString(h[:16])
}
