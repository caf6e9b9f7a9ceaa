package clock

import (
	"context"
	"hash/crc32"
	"time"

	"github.com/lovoo/goka"
)

// sweepRun is the sweep in progress: its slice and the watermark of every
// partition whose watermark is known, as of its start.
type sweepRun struct {
	slice slice
	marks map[int32]time.Time
}

// Prefilter returns the filter for the iterators of the group table (topic
// table, values encoded with codec) that spares goka's visitor the entries
// a sweep would leave alone. goka hands every key of a partition to the
// visitor, one callback each, and the visitor reads each value again; with
// the filter, the goroutine that walks the table already drops the keys
// outside the sweep's slice and the entries the SweepFunc would not change,
// so only the entries it changes reach the partition's goroutine.
//
// An entry is judged on the value the walk reads, with the partition's
// watermark as of the start of the sweep: the SweepFunc runs on a copy with
// a context that only notes whether it would delete, store, emit or fail.
// Expiry never undoes itself as the watermark moves on, so a judged entry
// the SweepFunc would change still is; one written after the walk read it
// waits for the next sweep of its slice. The visit runs the SweepFunc again
// on the current value, so the filter decides what is examined, never what
// is done. Outside a sweep (and for other topics) it returns nil: every
// entry.
func (s *Sweeper) Prefilter(table string, codec goka.Codec) func(topic string, partition int32) func(key, value []byte) bool {
	return func(topic string, partition int32) func(key, value []byte) bool {
		run := s.running.Load()
		if run == nil || topic != table {
			return nil
		}
		wm, known := run.marks[partition]
		return func(key, value []byte) bool {
			if !known || !inSliceBytes(key, run.slice) {
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
		}
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

func inSliceBytes(key []byte, sl slice) bool {
	return sl.N <= 1 || crc32.ChecksumIEEE(key)%sl.N == sl.I
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
