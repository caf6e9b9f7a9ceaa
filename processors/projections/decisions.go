package projections

import (
	"errors"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

const (
	// DecisionsGroup is the group behind the `decisions` view.
	DecisionsGroup goka.Group = "decisions"
	// DeviceDecisions carries decisions re-keyed by device id.
	DeviceDecisions goka.Stream = "device-decisions"
)

// DecisionsDLQ receives decisions that could not be processed.
var DecisionsDLQ = stream.DLQ(DecisionsGroup)

// DecisionsTable is the table the gateway's `decisions` view reads.
var DecisionsTable = goka.GroupTable(DecisionsGroup)

// Decisions is the decisions projection: input `attributions`, table keyed
// by install holding its newest decision version without the explanation
// (an older version never overwrites a newer one; app opens are skipped).
// Each new version is also sent, re-keyed by each of the install's device
// ids, to `device-decisions`.
func Decisions(processors.Deps) processors.Group {
	return processors.Group{Name: DecisionsGroup, Graph: goka.DefineGroup(DecisionsGroup,
		goka.Input(attribution.Attributions, new(codecs.Wire), stream.Guard(DecisionsGroup, projectDecision)),
		goka.Persist(new(codecs.JSON[codecs.Decision])),
		goka.Output(DeviceDecisions, new(codecs.Wire)),
		goka.Output(DecisionsDLQ, new(codec.Bytes)),
	)}
}

// projectDecision keeps the newest version. Re-applying a version stores
// the same value and re-sends the same device records, so it needs no
// offsets.
func projectDecision(ctx goka.Context, raw []byte) error {
	d, err := codecs.Decode[codecs.Decision](raw)
	if err != nil {
		return err
	}
	if attribution.Key(d.ProjectID, d.InstallID) != ctx.Key() {
		return errKeyMismatch
	}
	if d.Kind == codecs.KindAppOpen {
		return nil
	}
	if cur, ok := ctx.Value().(*codecs.Decision); ok && cur.Version > d.Version {
		return nil
	}
	sum := d.Summary()
	ctx.SetValue(&sum)
	for _, dev := range d.Devices {
		ctx.Emit(DeviceDecisions, codecs.DeviceKey(d.ProjectID, dev), &codecs.DeviceInstall{ProjectID: d.ProjectID, Device: dev,
			InstallID: d.InstallID, InstalledAt: d.InstalledAt, DecisionID: d.ID, Version: d.Version, Source: d.Source,
			CampaignID: campaignID(d.Campaign), Reinstall: d.Reinstall})
	}
	return nil
}

func campaignID(c *codecs.Campaign) string {
	if c == nil {
		return ""
	}
	return c.ID
}

var errKeyMismatch = errors.New("decision: key does not match project and install")
