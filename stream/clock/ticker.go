package clock

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// TickerConfig configures Ticker; the zero value is usable.
type TickerConfig struct {
	// Interval between rounds of ticks (default DefaultTickInterval).
	Interval time.Duration
	// Topic is the ticks topic (default Ticks).
	Topic goka.Stream
	// Name is the component name (default "ticker").
	Name string
}

func (c TickerConfig) withDefaults() TickerConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultTickInterval
	}
	if c.Topic == "" {
		c.Topic = Ticks
	}
	if c.Name == "" {
		c.Name = "ticker"
	}
	return c
}

// Ticker is the component that writes, every interval, one tick to every
// partition of the ticks topic, each under its partition's TickKey, through
// a goka emitter configured by k. The topic must exist (it is declared in
// topics.yaml with the groups' partition count); its partition count is read
// when the component starts. The component is ready once its first round was
// acknowledged; an unacknowledged round stops it so the supervisor restarts
// it. Several tickers may run: ticks only trigger work, extra ticks are
// harmless.
func Ticker(k stream.Kafka, cfg TickerConfig) stream.Component {
	cfg = cfg.withDefaults()
	var seq atomic.Uint64 // survives restarts of the component
	return stream.Component{Name: cfg.Name, Run: func(ctx context.Context, ready func()) error {
		n, err := partitionCount(k, string(cfg.Topic))
		if err != nil {
			return err
		}
		keys := make([]string, n)
		for p := range keys {
			keys[p] = TickKey(int32(p), n)
		}
		em, err := goka.NewEmitter(k.Brokers, cfg.Topic, codecs.JSON[Tick]{}, k.EmitterOptions(string(cfg.Topic), 1)...)
		if err != nil {
			return fmt.Errorf("ticker: build emitter: %w", err)
		}
		defer finish(em)

		round := func() error {
			s := seq.Add(1)
			now := time.Now().UTC()
			acks := make(chan error, n)
			for p, key := range keys {
				pr, err := em.Emit(key, &Tick{Partition: int32(p), Partitions: n, Seq: s, At: now})
				if err != nil {
					return fmt.Errorf("ticker: emit: %w", err)
				}
				pr.Then(func(err error) { acks <- err })
			}
			for range keys {
				select {
				case err := <-acks:
					if err != nil {
						return fmt.Errorf("ticker: tick %d not acknowledged: %w", s, err)
					}
				case <-ctx.Done():
					return nil
				}
			}
			return nil
		}

		if err := round(); err != nil || ctx.Err() != nil {
			return err
		}
		ready()
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := round(); err != nil {
					return err
				}
			}
		}
	}}
}

// partitionCount reads the partition count of an existing topic. It lists
// topics instead of asking for the one topic's metadata, which a broker with
// automatic topic creation would answer by creating it.
func partitionCount(k stream.Kafka, topic string) (int, error) {
	admin, err := sarama.NewClusterAdmin(k.Brokers, k.Sarama(k.ClientID("ticker")))
	if err != nil {
		return 0, fmt.Errorf("ticker: %w", err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return 0, fmt.Errorf("ticker: list topics: %w", err)
	}
	d, ok := topics[topic]
	if !ok {
		return 0, fmt.Errorf("ticker: topic %s does not exist (create it from topics.yaml)", topic)
	}
	if d.NumPartitions <= 0 {
		return 0, fmt.Errorf("ticker: topic %s has %d partitions", topic, d.NumPartitions)
	}
	return int(d.NumPartitions), nil
}

// finish flushes and closes the emitter, giving up after 15s (sarama waits
// up to a minute for an unreachable broker).
func finish(em *goka.Emitter) {
	done := make(chan error, 1)
	go func() { done <- em.Finish() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
	}
}
