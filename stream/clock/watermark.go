package clock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// DefaultIdleAfter is how far, in event time, an input may fall behind the
// most advanced input of its partition before it stops holding the
// watermark back.
const DefaultIdleAfter = time.Hour

// WatermarkConfig configures Watermarks; the zero value is usable.
type WatermarkConfig struct {
	// IdleAfter is the idle rule: an input whose latest event time is more
	// than IdleAfter behind the most advanced input of the partition counts
	// as standing at (most advanced − IdleAfter). It bounds how far the
	// watermark lags the fastest input, so a quiet input never stops
	// expiry. Default DefaultIdleAfter; it cannot be turned off.
	IdleAfter time.Duration
	// Inputs are inputs that hold the watermark back before they delivered
	// anything on a partition: each counts as idle until it delivers, so the
	// watermark stays IdleAfter behind the most advanced input. Inputs not
	// listed count from their first event on the partition. Listing the
	// inputs keeps a replay that starts with one input's backlog from
	// running the watermark ahead of the others.
	Inputs []goka.Stream
	// Ticks is the ticks topic read by TickInput (default Ticks).
	Ticks goka.Stream
}

// Watermarks tracks the stream-time watermark of every partition of one
// group: the lowest, across the group's inputs, of each input's latest event
// time on that partition (see WatermarkConfig for inputs that are quiet or
// have not delivered). It never moves backwards.
//
// Input callbacks report event times with Observe; the tick callback
// (TickInput, or OnTick) folds them in and persists the partition's record
// in the group table under the partition's TickKey, so a restart or a
// rebalance resumes from it. One Watermarks serves every partition and
// every instance of a group in a process: state is per partition and is
// dropped when goka hands the partition to a new partition processor
// (after a rebalance or restart), to be reloaded from the table at the
// partition's next tick. Until then Current reports no watermark.
type Watermarks struct {
	cfg WatermarkConfig

	mu       sync.Mutex
	parts    map[int32]*partitionMark
	advanced []chan struct{} // notified when a tick moved a watermark
}

type partitionMark struct {
	// session is the context goka runs this partition's callbacks with; a
	// new one means the partition was (re)assigned.
	session context.Context
	// loaded: the persisted record has been merged in this session.
	loaded bool
	inputs map[string]time.Time
	// mark is the watermark: the highest value handed out.
	mark time.Time
	// ticked is mark as of the last tick, to tell sweepers about moves.
	ticked time.Time
}

// NewWatermarks returns an empty tracker.
func NewWatermarks(cfg WatermarkConfig) *Watermarks {
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = DefaultIdleAfter
	}
	if cfg.Ticks == "" {
		cfg.Ticks = Ticks
	}
	return &Watermarks{cfg: cfg, parts: map[int32]*partitionMark{}}
}

// part returns ctx's partition state, fresh if goka started a new partition
// processor since it was last used. w.mu must be held.
func (w *Watermarks) part(ctx goka.Context) *partitionMark {
	p := ctx.Partition()
	st := w.parts[p]
	if st == nil || st.session != ctx.Context() {
		st = &partitionMark{session: ctx.Context(), inputs: map[string]time.Time{}}
		w.parts[p] = st
	}
	return st
}

// Observe records the event time of the record being processed for its
// input topic (ctx.Topic()) on ctx's partition. Call it from input callbacks
// with the time carried in the message (received_at), for every record whose
// input counts; a zero time is ignored.
func (w *Watermarks) Observe(ctx goka.Context, eventTime time.Time) {
	if eventTime.IsZero() {
		return
	}
	eventTime = eventTime.UTC()
	input := string(ctx.Topic())
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.part(ctx)
	if cur, ok := st.inputs[input]; !ok || eventTime.After(cur) {
		st.inputs[input] = eventTime
	}
}

// Current returns the watermark of ctx's partition as of the records
// processed so far. ok is false until the partition's first tick after it
// was assigned (the persisted record is not loaded yet) and while no input
// has delivered: rules treat that as "not yet", never as "expired".
func (w *Watermarks) Current(ctx goka.Context) (watermark time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.part(ctx)
	if !st.loaded {
		return time.Time{}, false
	}
	if wm := w.allowed(st); wm.After(st.mark) {
		st.mark = wm // persisted, and announced to sweepers, by the next tick
	}
	return st.mark, !st.mark.IsZero()
}

// marks returns the watermark of every partition that has one, as last
// handed out.
func (w *Watermarks) marks() map[int32]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int32]time.Time, len(w.parts))
	for p, st := range w.parts {
		if st.loaded && !st.mark.IsZero() {
			out[p] = st.mark
		}
	}
	return out
}

// OnTick advances the watermark of ctx's partition and persists it. It must
// run in a callback of the ticks topic, whose key is the partition's
// TickKey: it merges the record stored there (after a restart or a
// rebalance), folds in the event times observed since, stores the record
// when it changed and returns the watermark (zero while no input has
// delivered). The group table codec must be TableCodec.
func (w *Watermarks) OnTick(ctx goka.Context) (time.Time, error) {
	var stored *Record
	switch v := ctx.Value().(type) {
	case nil:
	case *Record:
		stored = v
	default:
		return time.Time{}, fmt.Errorf("clock: table key %q holds %T, not a watermark record", ctx.Key(), v)
	}
	w.mu.Lock()
	st := w.part(ctx)
	if stored != nil {
		for in, t := range stored.Inputs {
			if cur, ok := st.inputs[in]; !ok || t.After(cur) {
				st.inputs[in] = t
			}
		}
		if stored.Watermark.After(st.mark) {
			st.mark = stored.Watermark
		}
	}
	st.loaded = true
	if wm := w.allowed(st); wm.After(st.mark) {
		st.mark = wm
	}
	rec := &Record{Watermark: st.mark, Inputs: maps.Clone(st.inputs)}
	moved := st.mark.After(st.ticked)
	st.ticked = st.mark
	var notify []chan struct{}
	if moved {
		notify = w.advanced
	}
	w.mu.Unlock()

	for _, ch := range notify {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if len(rec.Inputs) > 0 && (stored == nil || !rec.equal(stored)) {
		ctx.SetValue(rec)
	}
	return rec.Watermark, nil
}

// allowed is the watermark st's inputs allow (zero without inputs). w.mu
// must be held.
func (w *Watermarks) allowed(st *partitionMark) time.Time {
	if len(st.inputs) == 0 {
		return time.Time{}
	}
	var hi time.Time
	for _, t := range st.inputs {
		if t.After(hi) {
			hi = t
		}
	}
	floor := hi.Add(-w.cfg.IdleAfter)
	lo := hi
	for _, t := range st.inputs {
		if t.Before(lo) {
			lo = t
		}
	}
	for _, in := range w.cfg.Inputs {
		if _, ok := st.inputs[string(in)]; !ok {
			lo = floor // a declared input that has not delivered is idle
		}
	}
	if lo.Before(floor) {
		lo = floor
	}
	return lo
}

// subscribe returns a channel that receives (coalesced) a signal whenever a
// tick moves a watermark.
func (w *Watermarks) subscribe() chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.advanced = append(w.advanced, ch)
	w.mu.Unlock()
	return ch
}

func (w *Watermarks) unsubscribe(ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, c := range w.advanced {
		if c == ch {
			w.advanced = append(w.advanced[:i:i], w.advanced[i+1:]...)
			return
		}
	}
}

// TickInput is the group's input edge for the ticks topic (raw bytes at the
// edge). For each tick written for the partition under its TickKey it calls
// OnTick and then, once the partition has a watermark, then (which may be
// nil) with it, in the partition's goroutine: the place to act on what the
// watermark now allows. Anything else on the topic is skipped: ticks carry
// no data. A table that does not use TableCodec stops the processor.
func (w *Watermarks) TickInput(then func(ctx goka.Context, watermark time.Time)) goka.Edge {
	return goka.Input(w.cfg.Ticks, new(codec.Bytes), func(ctx goka.Context, msg any) {
		raw, _ := msg.([]byte)
		if !isTick(ctx, raw) {
			return
		}
		wm, err := w.OnTick(ctx)
		if err != nil {
			ctx.Fail(err)
			return
		}
		if then != nil && !wm.IsZero() {
			then(ctx, wm)
		}
	})
}

// Record is the watermark of one partition as stored in the group table
// under the partition's TickKey.
type Record struct {
	// Watermark is the partition's watermark.
	Watermark time.Time `json:"watermark"`
	// Inputs holds each input's latest event time on the partition.
	Inputs map[string]time.Time `json:"inputs"`
}

func (r *Record) equal(o *Record) bool {
	if !r.Watermark.Equal(o.Watermark) || len(r.Inputs) != len(o.Inputs) {
		return false
	}
	for in, t := range r.Inputs {
		if ot, ok := o.Inputs[in]; !ok || !t.Equal(ot) {
			return false
		}
	}
	return true
}

// recordPrefix starts every encoded Record. No JSON document starts with a
// NUL byte, so a table whose own values are JSON never collides with it.
var recordPrefix = []byte("\x00hazelnut-watermark\x00")

type tableCodec struct{ inner goka.Codec }

// TableCodec is the codec of a group table that holds both the group's own
// values (encoded by inner) and the watermark records under the tick keys.
// It decodes a record as *Record and anything else with inner. Views and
// tools that read the table use it too and skip *Record values.
func TableCodec(inner goka.Codec) goka.Codec { return tableCodec{inner} }

// Persist is goka.Persist(TableCodec(inner)): the group table edge of a
// group that keeps watermarks.
func Persist(inner goka.Codec) goka.Edge { return goka.Persist(TableCodec(inner)) }

func (c tableCodec) Encode(value any) ([]byte, error) {
	var r *Record
	switch v := value.(type) {
	case *Record:
		r = v
	case Record:
		r = &v
	default:
		return c.inner.Encode(value)
	}
	if r == nil {
		return nil, fmt.Errorf("clock: encode nil *Record")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("clock: encode record: %w", err)
	}
	return append(append(make([]byte, 0, len(recordPrefix)+len(b)), recordPrefix...), b...), nil
}

func (c tableCodec) Decode(data []byte) (any, error) {
	if !bytes.HasPrefix(data, recordPrefix) {
		return c.inner.Decode(data)
	}
	r := new(Record)
	if err := json.Unmarshal(data[len(recordPrefix):], r); err != nil {
		return nil, fmt.Errorf("clock: decode record: %w", err)
	}
	return r, nil
}
