package stream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync/atomic"

	"github.com/lovoo/goka"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Headers set on every dead-lettered record.
const (
	HeaderError     = "hazelnut-error"
	HeaderTopic     = "hazelnut-topic"
	HeaderPartition = "hazelnut-partition"
	HeaderOffset    = "hazelnut-offset"
)

// DLQ is the dead-letter stream of a group: `<group>-dlq`, keyed as the
// input. Every group declares it as an output.
func DLQ(g goka.Group) goka.Stream { return goka.Stream(string(g) + "-dlq") }

// Handler processes one input record, given as the raw bytes received. It
// returns an error for a record it cannot process; that record goes to the
// group's DLQ and the partition goes on.
type Handler func(ctx goka.Context, raw []byte) error

// Guard turns a Handler into a goka callback for an input declared with a
// raw-bytes codec (codec.Bytes): decoding happens inside the callback, so a
// record that does not decode, fails validation or makes the handler panic
// is sent to the DLQ with its error, source topic, partition and offset in
// headers, instead of stopping the processor. A handler that panics after
// SetValue has changed state; handlers validate before they write. An error
// wrapping ErrRestart stops the processor instead (see Restart).
func Guard(g goka.Group, h Handler) goka.ProcessCallback {
	dlq := DLQ(g)
	return func(ctx goka.Context, msg any) {
		raw, _ := msg.([]byte)
		span := startSpan(g, ctx)
		defer span.End()
		if err := call(h, ctx, raw); err != nil {
			span.RecordError(err)
			if errors.Is(err, ErrRestart) {
				ctx.Fail(err) // stops the processor; the input comes again
				return
			}
			span.SetStatus(codes.Error, "sent to "+string(dlq))
			ctx.Emit(dlq, ctx.Key(), raw, goka.WithCtxEmitHeaders(goka.Headers{
				HeaderError:     []byte(err.Error()),
				HeaderTopic:     []byte(ctx.Topic()),
				HeaderPartition: []byte(strconv.Itoa(int(ctx.Partition()))),
				HeaderOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
			}))
		}
	}
}

// ErrRestart marks a handler error that must not send the input to the
// DLQ: Guard stops the processor instead (goka's Context.Fail), the
// supervisor starts it again and the input is delivered again. It is for a
// handler that lost state it kept in memory, not for bad input.
var ErrRestart = errors.New("restart")

// Restart wraps err so that Guard stops the processor instead of sending
// the input to the DLQ.
func Restart(err error) error { return fmt.Errorf("%w: %w", ErrRestart, err) }

// providerTracer is the stream's tracer of one tracer provider.
type providerTracer struct {
	tp trace.TracerProvider
	tr trace.Tracer
}

var streamTracer atomic.Pointer[providerTracer]

// tracer is the stream's tracer of provider tp, looked up again only when
// the provider changed: a provider looks a tracer up by name under a lock,
// which cost more than the rest of a span per record.
func tracer(tp trace.TracerProvider) trace.Tracer {
	if c := streamTracer.Load(); c != nil && c.tp == tp {
		return c.tr
	}
	c := &providerTracer{tp: tp, tr: tp.Tracer("hazelnut/stream")}
	streamTracer.Store(c)
	return c.tr
}

// unsetProvider is otel's global tracer provider while no program has set
// one: its spans record nothing and are handed to no one.
var unsetProvider = otel.GetTracerProvider()

// noSpan is the span of a record while no tracer provider is set.
var noSpan = trace.SpanFromContext(context.Background())

// consumerSpan is the start option of every record's span.
var consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// startSpan starts the consumer span of one input record, continuing the
// trace whose W3C context the record carries in its headers (the gateway
// puts the request's there). Spans go to the global tracer provider; while
// none is set, a record gets a span that does nothing, without reading its
// headers (the handler does not see the span, so nothing downstream would
// carry its trace on).
func startSpan(g goka.Group, ctx goka.Context) trace.Span {
	tp := otel.GetTracerProvider()
	if tp == unsetProvider {
		return noSpan
	}
	parent := context.Background()
	if headers := ctx.Headers(); len(headers) > 0 {
		carrier := propagation.MapCarrier{}
		for k, v := range headers {
			if k == "traceparent" || k == "tracestate" {
				carrier[k] = string(v)
			}
		}
		if len(carrier) > 0 {
			parent = propagation.TraceContext{}.Extract(parent, carrier)
		}
	}
	_, span := tracer(tp).Start(parent, "process "+string(ctx.Topic()), consumerSpan...)
	// Attributes cost allocations on every record; only a span that is
	// recorded gets them.
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.consumer.group.name", string(g)),
			attribute.String("messaging.destination.name", string(ctx.Topic())),
			attribute.Int("messaging.destination.partition.id", int(ctx.Partition())),
			attribute.Int64("messaging.kafka.offset", ctx.Offset()))
	}
	return span
}

func call(h Handler, ctx goka.Context, raw []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return h(ctx, raw)
}

// Offsets records, for one key's state, the highest offset of each input
// topic whose effect is in that state. goka writes local state before the
// changelog acknowledges it and commits inputs later still, so after a crash
// an input can be delivered again although its effect is already in the
// state rebuilt from the changelog; Offsets recognises it.
type Offsets map[string]int64

// Absorbed reports whether ctx's input record is already in the state.
func (o Offsets) Absorbed(ctx goka.Context) bool {
	v, ok := o[string(ctx.Topic())]
	return ok && ctx.Offset() <= v
}

// Emission is one output of a step.
type Emission struct {
	Topic goka.Stream
	Key   string
	Value any
}

// Once applies an input to a key's state at most once and sends its outputs
// at least once, with the same content either way:
//   - not absorbed yet: apply changes the state (it calls ctx.SetValue on a
//     state whose Offsets it was given, after Once recorded the input there)
//     and returns the outputs;
//   - already absorbed: the state is left alone and replay rebuilds the
//     outputs the step sent (ids derive from content, so downstream dedups).
//
// offsets must be the Offsets stored in the state apply will write.
func Once(ctx goka.Context, offsets Offsets, apply func() []Emission, replay func() []Emission) (applied bool) {
	var out []Emission
	if offsets.Absorbed(ctx) {
		if replay != nil {
			out = replay()
		}
	} else {
		offsets[string(ctx.Topic())] = ctx.Offset()
		out = apply()
		applied = true
	}
	for _, e := range out {
		ctx.Emit(e.Topic, e.Key, e.Value)
	}
	return applied
}
