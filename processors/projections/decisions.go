package projections

import (
	"errors"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

const (
	// DecisionsGroup is the group behind the `decisions` view.
	DecisionsGroup goka.Group = "decisions"
)

// DecisionsDLQ receives decisions that could not be processed.
var DecisionsDLQ = stream.DLQ(DecisionsGroup)

// DecisionsTable is the table the gateway's `decisions` view reads.
var DecisionsTable = goka.GroupTable(DecisionsGroup)

// DecisionsGraph is the group graph of the decisions projection.
func DecisionsGraph() *goka.GroupGraph {
	return goka.DefineGroup(DecisionsGroup,
		goka.Input(attribution.Attributions, new(codec.Bytes), stream.Guard(DecisionsGroup, projectDecision)),
		goka.Persist(new(codecs.JSON[codecs.Decision])),
		goka.Output(DecisionsDLQ, new(codec.Bytes)),
	)
}

// NewDecisions builds the decisions projection processor.
func NewDecisions(brokers []string, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	return goka.NewProcessor(brokers, DecisionsGraph(), opts...)
}

// projectDecision keeps the newest version; re-applying a version is
// harmless, so it needs no offsets.
func projectDecision(ctx goka.Context, raw []byte) error {
	d, err := codecs.Decode[codecs.Decision](raw)
	if err != nil {
		return err
	}
	if attribution.Key(d.ProjectID, d.InstallID) != ctx.Key() {
		return errKeyMismatch
	}
	if cur, ok := ctx.Value().(*codecs.Decision); ok && cur.Version > d.Version {
		return nil
	}
	ctx.SetValue(d)
	return nil
}

var errKeyMismatch = errors.New("decision: key does not match project and install")
