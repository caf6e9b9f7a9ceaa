// Package clock is the time machinery of Hazelnut's processor groups:
// ticks, per-partition stream-time watermarks and sweeps that expire state
// by watermark.
//
// # Time model
//
// Every message a group consumes carries its event time: received_at,
// stamped by the gateway when it accepted the request. Rules compare event
// times only — an event's own time, the times stored in state and the
// partition's watermark — and never the wall clock. The watermark of a
// partition is the lowest, across the group's inputs, of each input's latest
// event time seen on that partition: stream time, as far as every input has
// got. It never moves backwards. Expiry, grace periods and "answer unknown"
// fire once the watermark passes the entry's event time plus its window and
// an allowed slack, so a replay of the same input at any speed decides the
// same: how fast records arrive, and when ticks land between them, changes
// when the work happens, not what the watermark says relative to the data.
//
// Inputs that never deliver or go quiet must not stop time. Only inputs that
// have delivered on a partition count (so an input a group reads but nobody
// writes is ignored), and the idle rule bounds the lag: an input more than
// WatermarkConfig.IdleAfter (event time) behind the most advanced input of
// the partition counts as standing at that bound. Inputs listed in
// WatermarkConfig.Inputs count as idle until they deliver, which keeps a
// replay that starts on one input's backlog from running ahead. Slack
// chosen by a rule must cover the disorder it accepts between inputs.
//
// # Ticks
//
// goka has no timers, so time-driven work is triggered by data: Ticker
// writes, every few seconds, one Tick to every partition of the ticks topic
// (Ticks), each under its partition's TickKey — a key goka's hasher maps to
// that partition. A group reads the topic with Watermarks.TickInput; on a
// tick it folds the event times its input callbacks reported
// (Watermarks.Observe) into the partition's watermark, persists it and acts
// on what the new watermark allows. A tick's own content (its wall time, its
// sequence number) is never an input to a rule: ticks only trigger work.
//
// # Persistence
//
// The watermark of a partition, with each input's latest event time, is a
// Record stored in the group's own table under the partition's TickKey (the
// key of the tick being processed), so it is changelogged with the rest of
// the group's state and survives restarts and rebalances. The table codec is
// TableCodec(inner): records are encoded with a prefix no JSON value starts
// with, everything else by the group's codec. After a partition is assigned,
// its watermark is unknown (Watermarks.Current reports false) until its
// first tick merged the stored record; unknown means "not yet", so nothing
// is expired early.
//
// # Sweeps
//
// Expired entries are removed by a Sweeper through goka's visitor: Sweep runs
// Processor.VisitAll with one slice of the key space, and the visit callback,
// running in each partition's goroutine, hands the entries of that slice to
// a SweepFunc with the partition's watermark (DeleteExpired deletes an entry
// whose event time plus TTL plus slack is before it). Sweeper.Component runs
// a group's processor and sweeps a full pass, slice by slice, whenever a
// tick moved a watermark. goka walks the whole table for every visit; a
// role installs Sweeper.Prefilter on the table's iterators (the pebble
// tables' FilterIterators) so that the walk reads only the slice, a key
// range of the table the store chose at the start of the pass, judges each
// of its entries on a copy and hands only the entries the SweepFunc changes
// to the partition's goroutine.
//
// # Using it in a group
//
//	var (
//		marks = clock.NewWatermarks(clock.WatermarkConfig{Inputs: []goka.Stream{Clicks, Claims}})
//		sweep = clock.NewSweeper(marks, clock.DeleteExpired(expiry), clock.SweepConfig{})
//	)
//
//	goka.DefineGroup(Group,
//		goka.Input(Clicks, new(codec.Bytes), stream.Guard(Group, func(ctx goka.Context, raw []byte) error {
//			c, err := decode(raw)
//			...
//			marks.Observe(ctx, c.ReceivedAt)
//			...
//		})),
//		marks.TickInput(func(ctx goka.Context, wm time.Time) { /* answer what wm now allows */ }),
//		sweep.Visitor(),
//		clock.Persist(new(codecs.JSON[State])),
//	)
//
// and the role runs sweep.Component(name, build) instead of
// stream.ProcessorComponent, plus one clock.Ticker per deployment.
//
// Callbacks in this package do no I/O; the only broker clients are the
// ticker's admin client and emitter and the processors goka runs, all
// configured by stream.Kafka and run under stream.Supervisor.
package clock
