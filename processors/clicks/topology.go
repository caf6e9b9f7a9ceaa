package clicks

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// Group is the goka group name; its table is Table.
const Group goka.Group = "clicks"

var (
	// Clicks is the input stream of recorded clicks, keyed by click id.
	Clicks goka.Stream = "clicks"
	// Claims is the input stream of claims and releases, keyed by click id.
	Claims goka.Stream = "click-claims"
	// TouchpointUpdates carries each new click once per touchpoint key.
	TouchpointUpdates goka.Stream = "touchpoint-updates"
	// Recorded carries each new click, keyed by click id.
	Recorded goka.Stream = "clicks-recorded"
	// Replies carries the claim answers, keyed project:install_instance_id.
	Replies goka.Stream = "attribution-replies"
	// Loop is the group's loopback stream (goka's name for it): the
	// sweep's claim expiries, keyed by click id.
	Loop goka.Stream = "clicks-loop"
)

// Table is the group table: State under click ids, watermark records under
// the tick keys.
var Table = goka.GroupTable(Group)

// DLQ receives inputs that could not be processed, with their error.
var DLQ = stream.DLQ(Group)

// Define builds the group: its graph and the sweeper that answers late
// claims and expires clicks. The graph and the sweeper share one watermark
// tracker, so a role must run the processor of this Graph through this
// Sweeper (Sweeper.Component); a second Define makes an unrelated pair.
func Define(deps processors.Deps) processors.Group {
	g := &group{deps: deps.WithDefaults()}
	g.marks = clock.NewWatermarks(clock.WatermarkConfig{Inputs: []goka.Stream{Clicks, Claims}})
	sweeper := clock.NewSweeper(g.marks, g.sweep, g.deps.Sweep)
	graph := goka.DefineGroup(Group,
		goka.Input(Clicks, new(codecs.Wire), stream.Guard(Group, g.click)),
		goka.Input(Claims, new(codecs.Wire), stream.Guard(Group, g.claim)),
		// The sweep's expiries, so that their answers are an input's.
		goka.Loop(new(codecs.Wire), stream.Guard(Group, g.expire)),
		// Ticks only advance the watermark; the work it allows is done by
		// the sweep, which is where the entries are.
		g.marks.TickInput(nil),
		sweeper.Visitor(),
		clock.Persist(new(codecs.JSON[State])),
		goka.Output(TouchpointUpdates, new(codecs.Wire)),
		goka.Output(Recorded, new(codecs.Wire)),
		goka.Output(Replies, new(codecs.Wire)),
		goka.Output(DLQ, new(codec.Bytes)),
	)
	return processors.Group{Name: Group, Graph: graph, Sweeper: sweeper}
}
