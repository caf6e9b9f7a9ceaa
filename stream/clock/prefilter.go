package clock

import (
	"context"
	"time"

	"github.com/lovoo/goka"
)

// sweepRun is the sweep in progress: its slice and the watermark of every
// partition whose watermark is known, as of its start.
type sweepRun struct {
	slice slice
	marks map[int32]time.Time
}

// IterScope is what Prefilter asks of one iterator over the table: only
// the Slice-th of Slices key ranges, and of those only the entries Keep
// accepts. The store divides its keys into the ranges when slice 0 opens
// and keeps them until the next slice 0 (pebblestore.IterScope), so the
// sweeps of one pass meet every key once. It converts to
// pebblestore.IterScope. The zero value asks for every entry.
type IterScope struct {
	Slice, Slices int
	Keep          func(key, value []byte) bool
}

// Prefilter returns the scope of the iterators of the group table (topic
// table, values encoded with codec), which spares the walk and goka's
// visitor what a sweep leaves alone. goka hands every key of a partition
// to the visitor, one callback each, and the visitor reads each value
// again; with the scope, the walk reads only the sweep's slice of the
// table, as a key range, and the goroutine that walks it already drops the
// entries the SweepFunc would not change, so only the entries it changes
// reach the partition's goroutine. Once Prefilter is called, the sweeper
// leaves slicing to the iterators: the filter must be installed on the
// table's iterators, or every sweep examines every key.
//
// An entry is judged on the value the walk reads, with the partition's
// watermark as of the start of the sweep: the SweepFunc runs on a copy with
// a context that only notes whether it would delete, store, emit or fail.
// Expiry never undoes itself as the watermark moves on, so a judged entry
// the SweepFunc would change still is; one written after the walk read it
// waits for the next pass. The visit runs the SweepFunc again on the
// current value, so the filter decides what is examined, never what is
// done. Outside a sweep (and for other topics) the scope is the zero
// value: every entry.
func (s *Sweeper) Prefilter(table string, codec goka.Codec) func(topic string, partition int32) IterScope {
	s.ranged.Store(true)
	return func(topic string, partition int32) IterScope {
		run := s.running.Load()
		if run == nil || topic != table {
			return IterScope{}
		}
		wm, known := run.marks[partition]
		return IterScope{Slice: int(run.slice.I), Slices: int(run.slice.N), Keep: func(key, value []byte) bool {
			if !known {
				return false
			}
			v, err := codec.Decode(value)
			if err != nil {
				return true // the visit meets the error
			}
			if _, isRecord := v.(*Record); isRecord || v == nil {
				return false
			}
			return s.wouldChange(string(key), partition, v, wm)
		}}
	}
}

// wouldChange runs the SweepFunc on value with a context that records its
// effects. A SweepFunc that panics is handed on too: its visit shows why.
func (s *Sweeper) wouldChange(key string, partition int32, value any, wm time.Time) (changed bool) {
	defer func() {
		if recover() != nil {
			changed = true
		}
	}()
	ctx := &dryRun{key: key, partition: partition, value: value, visitor: goka.Stream(s.cfg.Name)}
	s.fn(ctx, value, wm)
	return ctx.changed
}

// dryRun is the context of a SweepFunc judged by Prefilter: it answers the
// questions about the entry and notes every effect instead of doing it.
type dryRun struct {
	key       string
	partition int32
	value     any
	visitor   goka.Stream
	changed   bool
}

var _ goka.Context = (*dryRun)(nil)

func (c *dryRun) Topic() goka.Stream                                   { return c.visitor }
func (c *dryRun) Key() string                                          { return c.key }
func (c *dryRun) Partition() int32                                     { return c.partition }
func (c *dryRun) Offset() int64                                        { return -1 }
func (c *dryRun) Group() goka.Group                                    { return "" }
func (c *dryRun) Value() any                                           { return c.value }
func (c *dryRun) Headers() goka.Headers                                { return nil }
func (c *dryRun) Timestamp() time.Time                                 { return time.Time{} }
func (c *dryRun) Context() context.Context                             { return context.Background() }
func (c *dryRun) SetValue(any, ...goka.ContextOption)                  { c.changed = true }
func (c *dryRun) Delete(...goka.ContextOption)                         { c.changed = true }
func (c *dryRun) Emit(goka.Stream, string, any, ...goka.ContextOption) { c.changed = true }
func (c *dryRun) Loopback(string, any, ...goka.ContextOption)          { c.changed = true }
func (c *dryRun) Fail(error)                                           { c.changed = true }

// Join and Lookup read other tables, which a SweepFunc must not: the entry
// is handed to its visit.
func (c *dryRun) Join(goka.Table) any {
	c.changed = true
	return nil
}

func (c *dryRun) Lookup(goka.Table, string) any {
	c.changed = true
	return nil
}

func (c *dryRun) DeferCommit() func(error) {
	c.changed = true
	return func(error) {}
}
