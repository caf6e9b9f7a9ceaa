package touchpoints

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// Group is the goka group name; its table is Table.
const Group goka.Group = "touchpoints"

var (
	// Updates carries the clicks, one record per touchpoint key of a click.
	Updates goka.Stream = "touchpoint-updates"
	// Requests carries the attribution group's match requests.
	Requests goka.Stream = "match-requests"
	// Replies carries every answer to the attribution group.
	Replies goka.Stream = "attribution-replies"
)

// Table is the group table: State by touchpoint key, and the watermark
// records of package clock under the tick keys.
var Table = goka.GroupTable(Group)

// DLQ receives inputs that could not be processed, with their error.
var DLQ = stream.DLQ(Group)

// Define builds the group: its graph and the sweeper that expires its
// state. Each call has its own watermarks, so a role runs the processor of
// the graph it got together with that graph's sweeper.
func Define(deps processors.Deps) processors.Group {
	deps = deps.WithDefaults()
	marks := clock.NewWatermarks(clock.WatermarkConfig{Inputs: []goka.Stream{Updates, Requests}})
	sweep := clock.NewSweeper(marks, sweeper(deps), deps.Sweep)
	g := &group{deps: deps, marks: marks}
	graph := goka.DefineGroup(Group,
		goka.Input(Updates, new(codecs.Wire), stream.Guard(Group, g.update)),
		goka.Input(Requests, new(codecs.Wire), stream.Guard(Group, g.request)),
		marks.TickInput(nil),
		sweep.Visitor(),
		clock.Persist(new(codecs.JSON[State])),
		goka.Output(Replies, new(codecs.Wire)),
		goka.Output(DLQ, new(codec.Bytes)),
	)
	return processors.Group{Name: Group, Graph: graph, Sweeper: sweep}
}

type group struct {
	deps  processors.Deps
	marks *clock.Watermarks
}
