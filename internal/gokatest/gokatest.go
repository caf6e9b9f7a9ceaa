// Package gokatest runs processors against goka's tester for unit tests.
package gokatest

import (
	"context"
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor stopped with error: %v", err)
		}
	})
	return tt
}
