package stream

import (
	"errors"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/tester"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
)

const (
	gGroup goka.Group  = "guarded"
	gIn    goka.Stream = "guarded-in"
	gOut   goka.Stream = "guarded-out"
)

type counter struct {
	N       int     `json:"n"`
	Offsets Offsets `json:"offsets"`
}

// A handler that counts inputs per key, emits the count, fails on "bad"
// and panics on "boom".
func guardedGroup(brokers []string, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	h := func(ctx goka.Context, raw []byte) error {
		switch string(raw) {
		case "bad":
			return errors.New("bad input")
		case "boom":
			panic("boom")
		}
		st, _ := ctx.Value().(*counter)
		if st == nil {
			st = &counter{Offsets: Offsets{}}
		}
		out := func() []Emission { return []Emission{{Topic: gOut, Key: ctx.Key(), Value: []byte(string(raw))}} }
		Once(ctx, st.Offsets, func() []Emission {
			st.N++
			ctx.SetValue(st)
			return out()
		}, out)
		return nil
	}
	g := goka.DefineGroup(gGroup,
		goka.Input(gIn, new(codec.Bytes), Guard(gGroup, h)),
		goka.Persist(new(codecs.JSON[counter])),
		goka.Output(gOut, new(codec.Bytes)),
		goka.Output(DLQ(gGroup), new(codec.Bytes)),
	)
	return goka.NewProcessor(brokers, g, opts...)
}

func TestGuardRoutesFailuresToDLQAndGoesOn(t *testing.T) {
	tt := gokatest.Start(t, guardedGroup)
	dlq := tt.NewQueueTracker(string(DLQ(gGroup)))
	out := tt.NewQueueTracker(string(gOut))
	for _, v := range []string{"a", "bad", "b", "boom", "c"} {
		tt.Consume(string(gIn), "k", []byte(v))
	}
	for _, want := range []string{"a", "b", "c"} {
		_, v, ok := out.Next()
		if !ok || string(v.([]byte)) != want {
			t.Fatalf("output %q, want %q", v, want)
		}
	}
	if got := tt.TableValue(goka.GroupTable(gGroup), "k").(*counter).N; got != 3 {
		t.Errorf("count %d, want 3", got)
	}
	for _, want := range []string{"bad input", "panic: boom"} {
		_, v, ok := dlq.Next()
		if !ok {
			t.Fatalf("DLQ misses %q", want)
		}
		if string(v.([]byte)) != "bad" && string(v.([]byte)) != "boom" {
			t.Errorf("DLQ record altered: %q", v)
		}
	}
	if _, _, ok := dlq.Next(); ok {
		t.Error("unexpected DLQ record")
	}
}

func TestGuardHeaders(t *testing.T) {
	tt := gokatest.Start(t, guardedGroup)
	dlq := tt.NewQueueTracker(string(DLQ(gGroup)))
	tt.Consume(string(gIn), "k", []byte("ok"))
	tt.Consume(string(gIn), "k", []byte("bad"))
	h, k, v, ok := dlq.NextWithHeaders()
	if !ok || k != "k" || string(v.([]byte)) != "bad" {
		t.Fatalf("DLQ record %q %q %v", k, v, ok)
	}
	want := map[string]string{HeaderError: "bad input", HeaderTopic: string(gIn), HeaderPartition: "0", HeaderOffset: "1"}
	for name, w := range want {
		if got := string(h[name]); got != w {
			t.Errorf("header %s = %q, want %q", name, got, w)
		}
	}
}

// Once applies an absorbed input never again but re-sends its outputs.
func TestOnceReplaysAbsorbedInputs(t *testing.T) {
	tt := gokatest.Start(t, guardedGroup)
	out := tt.NewQueueTracker(string(gOut))
	tt.Consume(string(gIn), "k", []byte("x"))
	out.Next()
	st := tt.TableValue(goka.GroupTable(gGroup), "k").(*counter)
	st.Offsets[string(gIn)] = 1 << 40
	tt.SetTableValue(goka.GroupTable(gGroup), "k", st)
	tt.Consume(string(gIn), "k", []byte("x"))
	if _, v, ok := out.Next(); !ok || string(v.([]byte)) != "x" {
		t.Fatalf("absorbed input not re-sent: %v %v", v, ok)
	}
	if got := tt.TableValue(goka.GroupTable(gGroup), "k").(*counter).N; got != 1 {
		t.Errorf("absorbed input applied again: n=%d", got)
	}
}

// Each input record is processed in a consumer span that continues the
// trace carried in its headers; a record sent to the DLQ marks it failed.
func TestGuardContinuesTheRecordsTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	tt := gokatest.Start(t, guardedGroup)
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	headers := goka.Headers{"traceparent": []byte("00-" + traceID + "-" + spanID + "-01")}
	tt.Consume(string(gIn), "k", []byte("ok"), tester.WithHeaders(headers))
	tt.Consume(string(gIn), "k", []byte("bad"), tester.WithHeaders(headers))
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for i, s := range spans {
		if s.Name() != "process "+string(gIn) || s.SpanKind() != trace.SpanKindConsumer ||
			s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID {
			t.Errorf("span %d: %q kind %v trace %s parent %s", i, s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID())
		}
	}
	if spans[0].Status().Code == codes.Error || spans[1].Status().Code != codes.Error {
		t.Errorf("statuses %v, %v; want the bad record's span failed", spans[0].Status(), spans[1].Status())
	}
}

// While no tracer provider is set, a record's span costs nothing: no
// allocation, not even for its headers.
func TestGuardStartsNoSpanWithoutAProvider(t *testing.T) {
	if otel.GetTracerProvider() != unsetProvider {
		t.Fatal("a tracer provider is set")
	}
	ctx := &tracedCtx{}
	if n := testing.AllocsPerRun(100, func() { startSpan(gGroup, ctx).End() }); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
	if startSpan(gGroup, ctx).IsRecording() {
		t.Error("a recording span")
	}
}

// tracedCtx is a record that carries a trace.
type tracedCtx struct{ failCtx }

func (c *tracedCtx) Headers() goka.Headers {
	return goka.Headers{"traceparent": []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}
}

// failCtx is the part of a goka context Guard uses on the restart path;
// any other call (an emit to the DLQ) panics on the nil interface.
type failCtx struct {
	gokaContext
	failed error
}

type gokaContext = goka.Context

func (c *failCtx) Topic() goka.Stream    { return gIn }
func (c *failCtx) Key() string           { return "k" }
func (c *failCtx) Partition() int32      { return 0 }
func (c *failCtx) Offset() int64         { return 7 }
func (c *failCtx) Headers() goka.Headers { return nil }
func (c *failCtx) Fail(err error)        { c.failed = err }

func TestGuardStopsTheProcessorOnRestart(t *testing.T) {
	lost := errors.New("state lost")
	cb := Guard(gGroup, func(goka.Context, []byte) error { return Restart(lost) })
	ctx := &failCtx{}
	cb(ctx, []byte("x")) // an emit to the DLQ would panic here
	if !errors.Is(ctx.failed, lost) || !errors.Is(ctx.failed, ErrRestart) {
		t.Fatalf("Fail(%v), want the handler's error marked for a restart", ctx.failed)
	}
}
