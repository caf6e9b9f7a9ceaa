package attribution

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

const (
	// Group is the goka group name; its table is Table.
	Group goka.Group = "attribution"
	// Installs is the input stream of init calls.
	Installs goka.Stream = "installs"
	// Attributions carries every decision version.
	Attributions goka.Stream = "attributions"
)

// DLQ receives inputs that could not be processed, with their error.
var DLQ = stream.DLQ(Group)

// Table is the group table.
var Table = goka.GroupTable(Group)

// Graph is the group graph of the attribution group.
func Graph() *goka.GroupGraph {
	return goka.DefineGroup(Group,
		goka.Input(Installs, new(codec.Bytes), stream.Guard(Group, process)),
		goka.Persist(new(codecs.JSON[codecs.InstallState])),
		goka.Output(Attributions, new(codecs.JSON[codecs.Decision])),
		goka.Output(DLQ, new(codec.Bytes)),
	)
}

// New builds the attribution processor.
func New(brokers []string, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	return goka.NewProcessor(brokers, Graph(), opts...)
}
