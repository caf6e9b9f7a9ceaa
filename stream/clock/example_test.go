package clock_test

import (
	"encoding/json"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

type claim struct {
	ReceivedAt time.Time `json:"received_at"`
}

// A group that remembers claims for two hours of stream time (plus ten
// minutes of slack) and forgets them once the watermark has passed.
func Example() {
	const (
		group  goka.Group  = "claims"
		claims goka.Stream = "click-claims"
	)
	marks := clock.NewWatermarks(clock.WatermarkConfig{Inputs: []goka.Stream{claims}})
	sweep := clock.NewSweeper(marks, clock.DeleteExpired(func(v any) (time.Time, bool) {
		return v.(*claim).ReceivedAt.Add(2*time.Hour + 10*time.Minute), true
	}), clock.SweepConfig{})

	graph := goka.DefineGroup(group,
		goka.Input(claims, new(codec.Bytes), stream.Guard(group, func(ctx goka.Context, raw []byte) error {
			var c claim
			if err := json.Unmarshal(raw, &c); err != nil {
				return err
			}
			marks.Observe(ctx, c.ReceivedAt)
			ctx.SetValue(&c)
			return nil
		})),
		marks.TickInput(func(ctx goka.Context, watermark time.Time) {
			// act on what the watermark now allows, e.g. answer "unknown"
		}),
		sweep.Visitor(),
		clock.Persist(new(claimCodec)),
		goka.Output(stream.DLQ(group), new(codec.Bytes)),
	)

	k := stream.Kafka{Brokers: []string{"127.0.0.1:9092"}}
	components := []stream.Component{
		clock.Ticker(k, clock.TickerConfig{}),
		sweep.Component("group-claims", func() (*goka.Processor, error) {
			return goka.NewProcessor(k.Brokers, graph, k.ProcessorOptions(string(group), nil, 1)...)
		}),
	}
	_ = components // run with stream.NewSupervisor(log).Run(ctx, components...)
}

type claimCodec struct{}

func (claimCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }
func (claimCodec) Decode(b []byte) (any, error) {
	c := new(claim)
	return c, json.Unmarshal(b, c)
}
