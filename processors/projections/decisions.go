package projections

import (
	"errors"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
)

const (
	// DecisionsGroup is the group behind the `decisions` view.
	DecisionsGroup goka.Group = "decisions"
	// DecisionsDLQ receives decisions that could not be decoded.
	DecisionsDLQ goka.Stream = "decisions-dlq"
)

// DecisionsTable is the table the gateway's `decisions` view reads.
var DecisionsTable = goka.GroupTable(DecisionsGroup)

// DecisionsGraph is the group graph of the decisions projection.
func DecisionsGraph() *goka.GroupGraph {
	return goka.DefineGroup(DecisionsGroup,
		goka.Input(attribution.Attributions, new(codec.Bytes), projectDecision),
		goka.Persist(new(codecs.JSON[codecs.Decision])),
		goka.Output(DecisionsDLQ, new(codec.Bytes)),
	)
}

// NewDecisions builds the decisions projection processor.
func NewDecisions(brokers []string, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	return goka.NewProcessor(brokers, DecisionsGraph(), opts...)
}

func projectDecision(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	d, err := codecs.Decode[codecs.Decision](raw)
	if err == nil && attribution.Key(d.ProjectID, d.InstallID) != ctx.Key() {
		err = errKeyMismatch
	}
	if err != nil {
		ctx.Emit(DecisionsDLQ, ctx.Key(), raw, goka.WithCtxEmitHeaders(goka.Headers{attribution.HeaderError: []byte(err.Error())}))
		return
	}
	if cur, ok := ctx.Value().(*codecs.Decision); ok && cur.Version > d.Version {
		return
	}
	ctx.SetValue(d)
}

var errKeyMismatch = errors.New("decision: key does not match project and install")
