// Package pipeline is the set of processor groups a role can run, by name,
// and how a role runs them: each under the supervisor, with its own pebble
// tables, its recovery and rebalance times reported, and its sweeps when it
// expires state.
package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/lovoo/goka"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/clicks"
	"github.com/hazelnut-mmp/hazelnut/processors/projections"
	"github.com/hazelnut-mmp/hazelnut/processors/touchpoints"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

// groups are the definitions by name, in the order a role starts them:
// the click side first, so a replay indexes clicks before it decides.
var groups = []struct {
	name   string
	define func(processors.Deps) processors.Group
}{
	{string(clicks.Group), clicks.Define},
	{string(touchpoints.Group), touchpoints.Define},
	{string(attribution.Group), attribution.Define},
	{string(projections.DecisionsGroup), projections.Decisions},
	{string(projections.DeviceInstallsGroup), projections.DeviceInstalls},
}

// Names lists every group a role can run.
func Names() []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.name
	}
	return out
}

// Define returns the definition of the group called name.
func Define(name string, deps processors.Deps) (processors.Group, error) {
	for _, g := range groups {
		if g.name == name {
			return g.define(deps), nil
		}
	}
	return processors.Group{}, fmt.Errorf("unknown processor group %q", name)
}

// DefaultCacheBytes is the block cache of Config.CacheBytes by default.
const DefaultCacheBytes = 1 << 30

// Config is how a role runs its groups.
type Config struct {
	Kafka stream.Kafka
	// Deps are handed to every group.
	Deps processors.Deps
	// Dir holds each group's tables under Dir/<group>.
	Dir string
	// CacheBytes is the block cache the tables of all the groups share
	// (default DefaultCacheBytes): one budget, which the groups whose
	// tables are read most get the most of.
	CacheBytes int64
	// Replication of the group tables goka creates.
	Replication int
	Meter       metric.Meter
	Log         *zap.Logger
}

// Components supervises each named group with its own pebble tables (so
// discarding one group's state after an unclean stop leaves the others
// alone). Groups with a sweeper run through it.
func Components(names []string, cfg Config) ([]stream.Component, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	var timings metric.Float64Histogram
	if cfg.Meter != nil {
		timings, _ = cfg.Meter.Float64Histogram("hazelnut.processor.ready.duration", metric.WithUnit("s"),
			metric.WithDescription("time until a processor runs: after a start (kind=recovery) or a rebalance (kind=rebalance)"),
			metric.WithExplicitBucketBoundaries(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
	}
	var comps []stream.Component
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	blocks := pebblestore.NewSharedCache(cfg.CacheBytes)
	for _, name := range names {
		g, err := Define(name, cfg.Deps)
		if err != nil {
			return nil, err
		}
		tables := pebblestore.New(filepath.Join(cfg.Dir, name), pebblestore.WithLogger(log), pebblestore.WithSharedCache(blocks))
		if g.Sweeper != nil {
			// A sweep walks its slice of the table; only what it
			// changes is handed to the partitions' goroutines.
			table := g.Graph.GroupTable()
			pre := g.Sweeper.Prefilter(table.Topic(), table.Codec())
			tables.FilterIterators(func(topic string, partition int32) pebblestore.IterScope {
				return pebblestore.IterScope(pre(topic, partition))
			})
		}
		build := func() (*goka.Processor, error) {
			return goka.NewProcessor(cfg.Kafka.Brokers, g.Graph, cfg.Kafka.ProcessorOptions(name, tables.Builder(), cfg.Replication, g.Wrap()...)...)
		}
		opts := []stream.ProcessorOption{
			stream.WithUncleanStop(tables.Discard),
			stream.WithTimings(func(kind string, d time.Duration) {
				if timings != nil {
					timings.Record(context.Background(), d.Seconds(), metric.WithAttributes(
						attribute.String("group", name), attribute.String("kind", kind)))
				}
				log.Info("processor running", zap.String("group", name), zap.String("after", kind), zap.Duration("took", d))
			}),
		}
		if g.Sweeper != nil {
			comps = append(comps, g.Sweeper.Component("group-"+name, build, opts...))
		} else {
			comps = append(comps, stream.ProcessorComponent("group-"+name, build, opts...))
		}
	}
	return comps, nil
}
