package simulate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Connect runs a stream.Producer (goka's hasher, acks=all, idempotent) on
// k until stop is called; it returns once the producer is ready.
func Connect(ctx context.Context, k stream.Kafka) (p *stream.Producer, stop func() error, err error) {
	p = stream.NewProducer()
	comp := p.Component("simulate-producer", k, "simulate")
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return nil, nil, fmt.Errorf("simulate: producer: %w", err)
	case <-ctx.Done():
		cancel()
		return nil, nil, ctx.Err()
	}
	return p, func() error { cancel(); return <-done }, nil
}

// PreloadBatch is how many records Preload hands to the producer before it
// waits for their acknowledgements.
const PreloadBatch = 5000

// Preload publishes the workload's clicks, then its installs, each
// acknowledged by the broker before the installs start.
func Preload(ctx context.Context, s stream.Sender, w *Workload) error {
	if err := PreloadClicks(ctx, s, w); err != nil {
		return err
	}
	return PreloadInstalls(ctx, s, w)
}

// PreloadClicks publishes the workload's clicks.
func PreloadClicks(ctx context.Context, s stream.Sender, w *Workload) error {
	recs, err := w.ClickRecords()
	if err != nil {
		return err
	}
	return sendBatches(ctx, s, recs)
}

// PreloadInstalls publishes the workload's installs with their own times.
func PreloadInstalls(ctx context.Context, s stream.Sender, w *Workload) error {
	recs, err := w.InstallRecords()
	if err != nil {
		return err
	}
	return sendBatches(ctx, s, recs)
}

func sendBatches(ctx context.Context, s stream.Sender, recs []stream.Record) error {
	for len(recs) > 0 {
		n := min(PreloadBatch, len(recs))
		if err := s.SendAll(ctx, recs[:n]); err != nil {
			return fmt.Errorf("simulate: preload: %w", err)
		}
		recs = recs[n:]
	}
	return nil
}

// Pace publishes the workload's installs at rate per second, each stamped
// received_at = the wall clock when it is encoded, so that a decision's
// installed_at is when its install was published. Installs go out in small
// batches every 10 ms; their acknowledgements are awaited concurrently, so a
// slow broker shows as latency, not as a lower rate (up to 64 batches in
// flight). It returns when every install was acknowledged.
func Pace(ctx context.Context, s stream.Sender, w *Workload, rate float64) error {
	if rate <= 0 {
		return errors.New("simulate: pace: rate must be positive")
	}
	const step = 10 * time.Millisecond
	start := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, 64)
	sent := 0
	t := time.NewTicker(step)
	defer t.Stop()
	for sent < len(w.Installs) {
		due := min(len(w.Installs), int(time.Since(start).Seconds()*rate)+1)
		if due > sent {
			now := time.Now().UTC()
			batch := make([]stream.Record, 0, due-sent)
			for i := sent; i < due; i++ {
				in := w.Installs[i]
				in.ReceivedAt = now
				w.Installs[i].ReceivedAt = now
				rec, err := InstallRecord(&in)
				if err != nil {
					return err
				}
				batch = append(batch, rec)
			}
			sent = due
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Go(func() {
				defer func() { <-slots }()
				if err := s.SendAll(ctx, batch); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			})
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("simulate: pace: %w", first)
	}
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// InstallKey is the key of an install on the install-keyed topics.
func InstallKey(in *codecs.Install) string { return in.ProjectID + ":" + in.InstallID }
