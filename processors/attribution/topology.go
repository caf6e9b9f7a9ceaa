package attribution

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

const (
	// Group is the goka group name; its table is Table.
	Group goka.Group = "attribution"
	// Installs is the input stream of init calls.
	Installs goka.Stream = "installs"
	// Replies carries every answer of the click side, keyed by install.
	Replies goka.Stream = "attribution-replies"
	// MatchRequests asks the touchpoints group for clicks of a key.
	MatchRequests goka.Stream = "match-requests"
	// Claims asks the clicks group for a click (or gives it back).
	Claims goka.Stream = "click-claims"
	// Attributions carries every decision version and the app opens.
	Attributions goka.Stream = "attributions"
	// InstallAttributed carries each decision version's summary to the
	// events group.
	InstallAttributed goka.Stream = "install-attributed"
	// Postbacks and Analytics are the jobs of the postback role.
	Postbacks goka.Stream = "postbacks"
	Analytics goka.Stream = "analytics"
)

// DLQ receives inputs that could not be processed, with their error.
var DLQ = stream.DLQ(Group)

// Table is the group table.
var Table = goka.GroupTable(Group)

// Define returns the attribution group.
func Define(deps processors.Deps) processors.Group {
	scope := commit.NewScope()
	a := &attributor{deps: deps.WithDefaults(), gate: stream.NewGate(string(Installs), deps.InFlight, 0), states: newStates(scope)}
	return processors.Group{Name: Group, Gate: a.gate, Scope: scope, Graph: goka.DefineGroup(Group,
		goka.Input(Installs, new(codecs.Wire), stream.Guard(Group, a.install)),
		goka.Input(Replies, new(codecs.Wire), stream.Guard(Group, a.reply)),
		goka.Persist(new(codecs.JSON[codecs.InstallState])),
		goka.Output(MatchRequests, new(codecs.Wire)),
		goka.Output(Claims, new(codecs.Wire)),
		goka.Output(Attributions, new(codecs.Wire)),
		goka.Output(InstallAttributed, new(codecs.Wire)),
		goka.Output(Postbacks, new(codecs.Wire)),
		goka.Output(Analytics, new(codecs.Wire)),
		goka.Output(DLQ, new(codec.Bytes)),
	)}
}
