package attribution

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// RulesVersion names the rule set decisions are made with.
const RulesVersion = "organic-only/1"

// HeaderError carries the reason a record went to the DLQ.
const HeaderError = "hazelnut-error"

func process(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	in, err := codecs.Decode[codecs.Install](raw)
	if err == nil {
		err = validate(ctx.Key(), in)
	}
	if err != nil {
		ctx.Emit(DLQ, ctx.Key(), raw, goka.WithCtxEmitHeaders(goka.Headers{HeaderError: []byte(err.Error())}))
		return
	}
	topic, offset := string(ctx.Topic()), ctx.Offset()

	var st *codecs.InstallState
	if v := ctx.Value(); v != nil {
		st = v.(*codecs.InstallState)
	}
	if st != nil && st.Absorbed[topic] >= offset {
		// Already applied before a crash or rebalance: re-send what this
		// step sends, with the same ids, and change nothing.
		if st.Install.RequestID == in.RequestID {
			ctx.Emit(Attributions, ctx.Key(), &st.Decision)
		}
		return
	}
	if st == nil {
		d := decide(in)
		st = &codecs.InstallState{Install: *in, Decision: d, Absorbed: map[string]int64{}}
		st.Absorbed[topic] = offset
		ctx.SetValue(st)
		ctx.Emit(Attributions, ctx.Key(), &st.Decision)
		return
	}
	// A later init of a decided install is an app open.
	st.Opens++
	if in.ReceivedAt.After(st.LastOpenAt) {
		st.LastOpenAt = in.ReceivedAt
	}
	if st.Absorbed == nil {
		st.Absorbed = map[string]int64{}
	}
	st.Absorbed[topic] = offset
	ctx.SetValue(st)
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
