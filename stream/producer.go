package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
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

// Producer is a supervised sarama producer for records of any topic. Send
// fails fast with ErrNotReady while it is not connected; a failed send makes
// the component rebuild its producer (sarama's idempotent producer does not
// always recover from exhausted retries). Safe for concurrent use.
type Producer struct {
	cur    atomic.Pointer[sarama.AsyncProducer]
	broken chan struct{}
}

// NewProducer returns a producer that is not connected yet; run its
// Component.
func NewProducer() *Producer { return &Producer{broken: make(chan struct{}, 1)} }

// Send publishes rec and waits until the broker acknowledged it or ctx is
// done. A record whose wait ends with ctx may still be written later.
func (p *Producer) Send(ctx context.Context, rec Record) error {
	return p.SendAll(ctx, []Record{rec})
}

// SendAll publishes recs in order and waits for every acknowledgement or
// until ctx is done.
func (p *Producer) SendAll(ctx context.Context, recs []Record) error {
	ap := p.cur.Load()
	if ap == nil {
		return ErrNotReady
	}
	done := make(chan error, len(recs))
	for _, rec := range recs {
		msg := &sarama.ProducerMessage{Topic: rec.Topic, Key: sarama.StringEncoder(rec.Key),
			Value: sarama.ByteEncoder(rec.Value), Metadata: done}
		for k, v := range rec.Headers {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: v})
		}
		if err := send(*ap, msg); err != nil {
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

// send hands msg to the producer; a producer closed meanwhile panics on its
// input channel, which is reported as not ready.
func send(ap sarama.AsyncProducer, msg *sarama.ProducerMessage) (err error) {
	defer func() {
		if recover() != nil {
			err = ErrNotReady
		}
	}()
	ap.Input() <- msg
	return nil
}

// Component supervises the producer; it connects with k's producer config
// (goka's hasher) under the client id of role.
func (p *Producer) Component(name string, k Kafka, role string) Component {
	return Component{Name: name, Run: func(ctx context.Context, ready func()) error {
		ap, err := sarama.NewAsyncProducer(k.Brokers, k.ProducerConfig(k.ClientID(role)))
		if err != nil {
			return fmt.Errorf("connect producer %s: %w", name, err)
		}
		finished := make(chan struct{})
		go func() {
			defer close(finished)
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
		}()
		select {
		case <-p.broken:
		default:
		}
		p.cur.Store(&ap)
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
		go func() { closed <- ap.Close() }()
		select {
		case <-closed:
			<-finished
		case <-time.After(15 * time.Second):
			rerr = errors.Join(rerr, errors.New("producer did not close in 15s"))
		}
		return rerr
	}}
}
