// Package commit makes consumer offsets advance only over a contiguous run of
// finished inputs.
//
// goka marks an input offset in the consumer group session as soon as every
// emit of that input's callback has been acknowledged by the broker. Those
// acknowledgements complete out of order (outputs go to different partitions
// and brokers), and sarama only ever moves a marked offset forward, so a later
// input whose emits finish first commits past an earlier input that is still
// waiting. If the process dies at that point the earlier input is never
// processed again: it is lost.
//
// The package has these parts:
//
//   - Tracker records, per partition, which delivered offsets have finished
//     and reports the highest offset below which everything is finished. It is
//     usable on its own by stages that acknowledge work outside a goka
//     callback, e.g. a sender doing network I/O.
//
//   - WrapBuilder (and WrapConsumerGroup, WrapHandler underneath it) wraps
//     sarama's consumer group so that every delivered message is registered in
//     a Tracker before the handler sees it, and a MarkOffset/MarkMessage from
//     the handler only reaches sarama once all earlier delivered offsets of
//     that partition are finished.
//
//   - Scope (WithScope) lets a group's callbacks keep state in memory for
//     as long as a session runs, and hold a message's commit until a later
//     message has written its effect to the table.
//
//   - WithAdmission lets a flow control (stream.Gate) hold messages back
//     before the handler sees them; the claim keeps reading into a buffer and
//     pauses its partition instead of blocking sarama's fetches.
//
// Failure contract: with the wrapper in place a crash or rebalance can only
// cause redelivery of inputs (at-least-once), never skip one. Offsets that
// were delivered but never marked (for example because the handler stopped
// early) hold the partition's commit back until the session ends; the next
// session starts again from the last contiguous commit.
package commit
