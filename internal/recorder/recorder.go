// Package recorder is a small processor group used to prove the stream
// runtime's guarantees: it records every input id in its table (per key, in
// arrival order) and emits one output per input. It runs with the same
// options, storage and supervision as Hazelnut's own groups, so a lost or
// double-applied input after a rebalance, a clean stop or a SIGKILL shows
// up as a missing or repeated id.
package recorder

import (
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Names are the group and topics of one recorder deployment; a suffix keeps
// test runs on a shared broker apart.
type Names struct {
	Group goka.Group
	In    goka.Stream
	Out   goka.Stream
}

// NamesFor returns the names for suffix.
func NamesFor(suffix string) Names {
	return Names{Group: goka.Group("recorder-" + suffix), In: goka.Stream("recorder-in-" + suffix), Out: goka.Stream("recorder-out-" + suffix)}
}

// Table is the group table topic.
func (n Names) Table() goka.Table { return goka.GroupTable(n.Group) }

// DLQ is the group's dead-letter topic.
func (n Names) DLQ() goka.Stream { return stream.DLQ(n.Group) }

// Input is one input record.
type Input struct {
	ID string `json:"id"`
}

// Output is sent once per input (at least once; ID identifies it).
type Output struct {
	ID  string `json:"id"`
	Key string `json:"key"`
	Seq int    `json:"seq"`
}

// State is the table value of a key.
type State struct {
	IDs     []string       `json:"ids"`
	Offsets stream.Offsets `json:"offsets"`
}

// Graph is the recorder group.
func Graph(n Names) *goka.GroupGraph {
	h := func(ctx goka.Context, raw []byte) error {
		in, err := codecs.Decode[Input](raw)
		if err != nil {
			return err
		}
		if in.ID == "" {
			return fmt.Errorf("input without id")
		}
		st, _ := ctx.Value().(*State)
		if st == nil {
			st = &State{Offsets: stream.Offsets{}}
		}
		out := func(seq int) []stream.Emission {
			return []stream.Emission{{Topic: n.Out, Key: ctx.Key(), Value: &Output{ID: in.ID, Key: ctx.Key(), Seq: seq}}}
		}
		stream.Once(ctx, st.Offsets, func() []stream.Emission {
			st.IDs = append(st.IDs, in.ID)
			ctx.SetValue(st)
			return out(len(st.IDs))
		}, func() []stream.Emission {
			for i, id := range st.IDs {
				if id == in.ID {
					return out(i + 1)
				}
			}
			return out(0)
		})
		return nil
	}
	return goka.DefineGroup(n.Group,
		goka.Input(n.In, new(codec.Bytes), stream.Guard(n.Group, h)),
		goka.Persist(new(codecs.JSON[State])),
		goka.Output(n.Out, new(codecs.JSON[Output])),
		goka.Output(n.DLQ(), new(codec.Bytes)),
	)
}

// Topics declares the recorder's topics with the given partition count.
func Topics(n Names, partitions int) stream.Topics {
	var t stream.Topics
	for _, tp := range []struct {
		name, cleanup string
	}{{string(n.In), "delete"}, {string(n.Out), "delete"}, {string(n.DLQ()), "delete"}, {string(n.Table()), "compact"}} {
		t.List = append(t.List, stream.Topic{Name: tp.name, Cleanup: tp.cleanup, Partitions: partitions, Replication: 1, Retention: 24 * 3600e9})
	}
	return t
}
