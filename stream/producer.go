package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Record is one message to publish: its topic, key, encoded value and
// headers. Producers partition it with goka's hasher.
type Record struct {
	Topic   string            `json:"topic"`
	Key     string            `json:"key"`
	Value   []byte            `json:"value"`
	Headers map[string][]byte `json:"headers,omitempty"`
}

// Sender publishes records and returns once the broker acknowledged them.
type Sender interface {
	// Send publishes one record.
	Send(ctx context.Context, rec Record) error
	// SendAll publishes recs in their order (records of one partition are
	// written in that order) and returns the first error, if any; records
	// after a failed one may have been written too.
	SendAll(ctx context.Context, recs []Record) error
}

// DefaultProducerShards is the number of sarama producers a Producer runs
// unless told otherwise. sarama's idempotent producer keeps one produce
// request in flight per broker; more shards send batches to a broker
// concurrently, which pays off only when that one request is the limit (on
// the one-node embedded broker it is not: one shard was fastest, see
// docs/BENCHMARKS.md).
const DefaultProducerShards = 1

// ProducerOption configures a Producer.
type ProducerOption func(*producerOptions)

type producerOptions struct {
	shards int
	tune   func(*sarama.Config)
}

// WithProducerShards sets how many sarama producers (each with its own
// connections and producer id) share the partitions: the records of
// partition p always go through shard p mod n, so the order per partition,
// and so per key, holds. n < 1 means 1.
func WithProducerShards(n int) ProducerOption {
	return func(o *producerOptions) { o.shards = max(1, n) }
}

// withSaramaTuning changes the sarama config of every shard (benchmarks).
func withSaramaTuning(fn func(*sarama.Config)) ProducerOption {
	return func(o *producerOptions) { o.tune = fn }
}

// Producer is a supervised set of sarama producers for records of any
// topic. Send fails fast with ErrNotReady while it is not connected; a
// failed send makes the component rebuild its producers (sarama's idempotent
// producer does not always recover from exhausted retries). Records are
// partitioned with goka's hasher, as Kafka.ProducerConfig does, and every
// partition is written by one shard. Safe for concurrent use.
type Producer struct {
	opts   producerOptions
	cur    atomic.Pointer[shardSet]
	broken chan struct{}
}

// shardSet is one connected generation of the producer's shards.
type shardSet struct {
	prods   []sarama.AsyncProducer
	clients []sarama.Client
	// known holds the topics whose partitions were looked up once, so later
	// lookups read sarama's cached metadata without a network round trip.
	known sync.Map
}

// NewProducer returns a producer that is not connected yet; run its
// Component.
func NewProducer(opts ...ProducerOption) *Producer {
	p := &Producer{opts: producerOptions{shards: DefaultProducerShards}, broken: make(chan struct{}, 1)}
	for _, o := range opts {
		o(&p.opts)
	}
	return p
}

// Send publishes rec and waits until the broker acknowledged it or ctx is
// done. A record whose wait ends with ctx may still be written later.
func (p *Producer) Send(ctx context.Context, rec Record) error {
	return p.SendAll(ctx, []Record{rec})
}

// SendAll publishes recs in order and waits for every acknowledgement or
// until ctx is done.
func (p *Producer) SendAll(ctx context.Context, recs []Record) error {
	set := p.cur.Load()
	if set == nil {
		return ErrNotReady
	}
	done := make(chan error, len(recs))
	for _, rec := range recs {
		n, err := set.partitions(ctx, rec.Topic)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		part := partitionOf(rec.Key, n)
		msg := &sarama.ProducerMessage{Topic: rec.Topic, Key: sarama.StringEncoder(rec.Key), Partition: part,
			Value: sarama.ByteEncoder(rec.Value), Metadata: done}
		for k, v := range rec.Headers {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: v})
		}
		if err := send(ctx, set.prods[int(part)%len(set.prods)], msg); err != nil {
			return err
		}
	}
	var first error
	for range recs {
		select {
		case err := <-done:
			if err != nil && first == nil {
				first = err
				select {
				case p.broken <- struct{}{}:
				default:
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("publish: no acknowledgement: %w", ctx.Err())
		}
	}
	if first != nil {
		return fmt.Errorf("publish: %w", first)
	}
	return nil
}

// partitions is the partition count of topic. The first lookup of a topic
// may ask the broker; it waits at most until ctx is done.
func (s *shardSet) partitions(ctx context.Context, topic string) (int32, error) {
	if _, ok := s.known.Load(topic); ok {
		if ps, err := s.clients[0].Partitions(topic); err == nil && len(ps) > 0 {
			return int32(len(ps)), nil
		}
	}
	type result struct {
		n   int32
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ps, err := s.clients[0].Partitions(topic)
		if err == nil && len(ps) == 0 {
			err = fmt.Errorf("topic %s has no partitions", topic)
		}
		ch <- result{int32(len(ps)), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return 0, fmt.Errorf("partitions of %s: %w", topic, r.err)
		}
		s.known.Store(topic, true)
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("partitions of %s: %w", topic, ctx.Err())
	}
}

// partitionOf is the partition of key among n, computed as the producers
// of Kafka.ProducerConfig do: goka's hasher, |int32(hash) % n|.
func partitionOf(key string, n int32) int32 {
	h := goka.DefaultHasher()()
	_, _ = h.Write([]byte(key))
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p
}

// send hands msg to the producer, waiting at most until ctx is done; a
// producer closed meanwhile panics on its input channel, which is reported
// as not ready.
func send(ctx context.Context, ap sarama.AsyncProducer, msg *sarama.ProducerMessage) (err error) {
	defer func() {
		if recover() != nil {
			err = ErrNotReady
		}
	}()
	select {
	case ap.Input() <- msg:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish: %w", ctx.Err())
	}
}

// Component supervises the producer; its shards connect with k's producer
// config under the client id of role.
func (p *Producer) Component(name string, k Kafka, role string) Component {
	return Component{Name: name, Run: func(ctx context.Context, ready func()) error {
		set, err := p.connect(k, role)
		if err != nil {
			return fmt.Errorf("connect producer %s: %w", name, err)
		}
		var finished sync.WaitGroup
		for _, ap := range set.prods {
			finished.Go(func() { answer(ap) })
		}
		select {
		case <-p.broken:
		default:
		}
		p.cur.Store(set)
		ready()
		var rerr error
		select {
		case <-ctx.Done():
		case <-p.broken:
			rerr = errors.New("publish failed; reconnecting")
		}
		p.cur.Store(nil)
		// Close flushes what is buffered and answers every pending send.
		closed := make(chan error, 1)
		go func() {
			var wg sync.WaitGroup
			for _, ap := range set.prods {
				wg.Go(func() { _ = ap.Close() })
			}
			wg.Wait()
			finished.Wait()
			for _, c := range set.clients {
				_ = c.Close()
			}
			closed <- nil
		}()
		select {
		case <-closed:
		case <-time.After(15 * time.Second):
			rerr = errors.Join(rerr, errors.New("producer did not close in 15s"))
		}
		return rerr
	}}
}

// connect builds one client and one idempotent producer per shard.
func (p *Producer) connect(k Kafka, role string) (*shardSet, error) {
	set := &shardSet{}
	fail := func(err error) (*shardSet, error) {
		for _, ap := range set.prods {
			_ = ap.Close()
		}
		for _, c := range set.clients {
			_ = c.Close()
		}
		return nil, err
	}
	for range p.opts.shards {
		cfg := k.ProducerConfig(k.ClientID(role))
		// The partition is chosen in SendAll with the same hasher, so
		// that it also picks the shard.
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		// A batch goes out as soon as the connection is free: records
		// gather while the one request in flight is answered, up to the
		// linger, instead of every record waiting the linger.
		cfg.Producer.Flush.Messages = 1
		if p.opts.tune != nil {
			p.opts.tune(cfg)
		}
		c, err := sarama.NewClient(k.Brokers, cfg)
		if err != nil {
			return fail(err)
		}
		set.clients = append(set.clients, c)
		ap, err := sarama.NewAsyncProducerFromClient(c)
		if err != nil {
			return fail(err)
		}
		set.prods = append(set.prods, ap)
	}
	return set, nil
}

// answer reports every acknowledgement and failure of ap to its sender
// until ap is closed.
func answer(ap sarama.AsyncProducer) {
	succ, errs := ap.Successes(), ap.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			m.Metadata.(chan error) <- nil
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			e.Msg.Metadata.(chan error) <- e.Err
		}
	}
}
