// Package gokatest runs processors against goka's tester for unit tests.
package gokatest

import (
	"context"
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// Start builds a processor with build on a new tester, runs it until the
// test ends and fails the test if it stopped with an error.
func Start(t *testing.T, build func(brokers []string, opts ...goka.ProcessorOption) (*goka.Processor, error)) *tester.Tester {
	t.Helper()
	tt := tester.New(t)
	p, err := build(nil, goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	run(t, p)
	return tt
}

// Run builds a processor of graph on tt (goka's log silenced), runs it until
// the test ends and fails the test if it stopped with an error. Several
// groups on one tester make a pipeline: what one emits, the others consume.
func Run(t *testing.T, tt *tester.Tester, graph *goka.GroupGraph) *goka.Processor {
	t.Helper()
	p, err := goka.NewProcessor(nil, graph, goka.WithTester(tt), goka.WithLogger(Quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	run(t, p)
	return p
}

func run(t *testing.T, p *goka.Processor) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor stopped with error: %v", err)
		}
	})
}

// Quiet is a goka logger that drops everything.
type Quiet struct{}

func (Quiet) Print(...any)          {}
func (Quiet) Println(...any)        {}
func (Quiet) Printf(string, ...any) {}

// Decode decodes a record the tester hands out as raw bytes (the
// codecs.Wire topics between groups).
func Decode[T any](t testing.TB, v any) *T {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		t.Fatalf("record is %T, not raw bytes", v)
	}
	out, err := codecs.Decode[T](b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
