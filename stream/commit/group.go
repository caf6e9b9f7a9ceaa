package commit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Option configures the wrapper.
type Option func(*config)

type config struct {
	observer   func(topic string, partition int32, pending int)
	admitTopic string
	admit      func(msg *sarama.ConsumerMessage, stop <-chan struct{}) bool
	buffered   int
	scope      *Scope
}

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithObserver registers fn to receive, per claimed partition, the number of
// delivered offsets that are not yet committable (Tracker.Pending): the
// unfinished ones plus the finished ones waiting behind them. It is called
// after every delivery and every advance of the commit offset, and with 0
// when the session that claimed the partition has ended. Calls for one
// partition are serialized and in order; calls for different partitions may
// run concurrently. fn must be fast and must not call back into the session.
func WithObserver(fn func(topic string, partition int32, pending int)) Option {
	return func(c *config) { c.observer = fn }
}

// WithAdmission registers fn to be asked before each message of topic is
// handed to the handler (other topics' claims are not touched): fn may block (flow control) and returns true to hand the
// message on, or false once stop is closed (the claim is ending); the
// message is then dropped unseen and unregistered, so the next session
// delivers it again. Calls for one partition are serialized and in offset
// order.
//
// While fn blocks, the claim's messages are read on into a buffer, and
// once buffered of them wait the partition is paused on the consumer group
// (resumed when half of them have been handed on): sarama fetches for all
// partitions of a broker together and waits for every partition's
// consumer to take its messages, so a claim that stopped reading would
// stall the group's other partitions for up to
// Consumer.MaxProcessingTime at every fetch. Without a consumer group to
// pause (WrapHandler on its own) the claim is not read while fn blocks.
func WithAdmission(topic string, fn func(msg *sarama.ConsumerMessage, stop <-chan struct{}) bool, buffered int) Option {
	return func(c *config) { c.admitTopic, c.admit, c.buffered = topic, fn, max(buffered, 1) }
}

// WrapBuilder wraps a goka consumer group builder so that the consumer groups
// it builds commit offsets only over contiguous runs of finished inputs (see
// WrapConsumerGroup). Use it with goka.WithConsumerGroupBuilder.
func WrapBuilder(inner goka.ConsumerGroupBuilder, opts ...Option) goka.ConsumerGroupBuilder {
	cfg := newConfig(opts)
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := inner(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return &consumerGroup{ConsumerGroup: cg, cfg: cfg}, nil
	}
}

// WrapConsumerGroup returns a consumer group whose Consume runs the handler
// behind WrapHandler. Errors, Close, Pause, Resume, PauseAll and ResumeAll
// delegate to inner unchanged.
func WrapConsumerGroup(inner sarama.ConsumerGroup, opts ...Option) sarama.ConsumerGroup {
	return &consumerGroup{ConsumerGroup: inner, cfg: newConfig(opts)}
}

type consumerGroup struct {
	sarama.ConsumerGroup
	cfg *config
}

// Consume runs inner's Consume with the handler wrapped for this session.
func (g *consumerGroup) Consume(ctx context.Context, topics []string, handler sarama.ConsumerGroupHandler) error {
	h := wrapHandler(handler, g.cfg)
	h.pauser = g.ConsumerGroup
	return g.ConsumerGroup.Consume(ctx, topics, h)
}

// WrapHandler wraps a consumer group handler so that offsets advance only
// over contiguous runs of finished messages.
//
// For every claim, the handler sees a claim whose Messages channel forwards
// the inner claim's messages, registering each offset in a new per-partition
// Tracker before the handler can receive it. The session the handler sees
// turns MarkOffset(topic, partition, offset, meta) into Done(offset-1) on
// that partition's tracker (MarkMessage(msg, meta) into Done(msg.Offset)),
// and forwards MarkOffset(topic, partition, commit, meta) to the inner
// session only when the commit offset advanced (with the metadata of the
// mark that advanced it), so the inner session never receives an offset past
// an unfinished message. Forwarded offsets of one partition are strictly
// increasing. Marks may come from any goroutine, also after the handler's
// ConsumeClaim or Cleanup returned (sarama commits what was forwarded until
// the session is released). A partition keeps one small entry per delivered
// offset that is not yet committable.
//
// Trackers live as long as a session: a new session (rebalance) starts new
// trackers from the offsets it actually delivers. Marks for offsets the
// session did not deliver on a claimed partition are dropped; marks for
// partitions the session has not claimed through this handler are forwarded
// unchanged. ResetOffset, Commit and every other session method delegate.
//
// The forwarding goroutine of a claim stops when the inner channel closes,
// the session's context ends or the wrapped handler's ConsumeClaim returns;
// it then closes the handler's channel. ConsumeClaim returns only after it
// stopped, returning the handler's own error unchanged. An inner claim
// delivering an offset not greater than the previous one ends the claim
// with an error wrapping ErrNotIncreasing, which ends the session.
//
// The returned handler may be reused across sessions and sessions may
// overlap; session values must be comparable (sarama's are pointers).
func WrapHandler(inner sarama.ConsumerGroupHandler, opts ...Option) sarama.ConsumerGroupHandler {
	return wrapHandler(inner, newConfig(opts))
}

func wrapHandler(inner sarama.ConsumerGroupHandler, cfg *config) *handler {
	return &handler{inner: inner, cfg: cfg, sessions: make(map[sarama.ConsumerGroupSession]*session)}
}

type handler struct {
	inner  sarama.ConsumerGroupHandler
	cfg    *config
	pauser pauser // the consumer group, when there is one

	mu       sync.Mutex
	sessions map[sarama.ConsumerGroupSession]*session
}

// session returns the wrapped session for inner, creating it on first use.
func (h *handler) session(inner sarama.ConsumerGroupSession) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[inner]
	if !ok {
		s = &session{ConsumerGroupSession: inner, cfg: h.cfg, parts: make(map[topicPartition]*partition)}
		h.sessions[inner] = s
	}
	return s
}

func (h *handler) forget(inner sarama.ConsumerGroupSession) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[inner]
	delete(h.sessions, inner)
	return s
}

func (h *handler) Setup(inner sarama.ConsumerGroupSession) error {
	s := h.session(inner)
	if h.cfg.scope != nil {
		h.cfg.scope.begin(s)
	}
	err := h.inner.Setup(s)
	if err != nil {
		// sarama does not call Cleanup after a failed Setup.
		h.end(inner)
	}
	return err
}

func (h *handler) Cleanup(inner sarama.ConsumerGroupSession) error {
	err := h.inner.Cleanup(h.session(inner))
	h.end(inner)
	return err
}

func (h *handler) end(inner sarama.ConsumerGroupSession) {
	s := h.forget(inner)
	if h.cfg.scope != nil && s != nil {
		h.cfg.scope.end(s)
	}
	s.end()
}

func (h *handler) ConsumeClaim(inner sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	s := h.session(inner)
	p := s.claim(claim.Topic(), claim.Partition())

	out := make(chan *sarama.ConsumerMessage)
	quit := make(chan struct{})
	stopped := make(chan struct{})
	var fwdErr error
	go func() {
		defer close(stopped)
		defer close(out)
		switch {
		case h.cfg.admit == nil || claim.Topic() != h.cfg.admitTopic:
			fwdErr = p.forward(claim.Messages(), out, quit, inner.Context().Done(), nil)
		case h.pauser == nil:
			fwdErr = p.forward(claim.Messages(), out, quit, inner.Context().Done(), h.cfg.admit)
		default:
			fwdErr = p.forwardBuffered(claim.Messages(), out, quit, inner.Context().Done(), h.cfg.admit, h.pauser, h.cfg.buffered)
		}
	}()

	err := h.inner.ConsumeClaim(s, &wrappedClaim{ConsumerGroupClaim: claim, messages: out})
	close(quit)
	<-stopped
	if fwdErr == nil {
		// goka inspects its own errors with errors.As; hand them back as is.
		return err
	}
	return errors.Join(err, fwdErr)
}

type topicPartition struct {
	topic     string
	partition int32
}

// session is the ConsumerGroupSession the wrapped handler sees.
type session struct {
	sarama.ConsumerGroupSession
	cfg *config

	mu    sync.RWMutex
	parts map[topicPartition]*partition

	// Holds of the session's Scope, created on the first Hold.
	hmu      sync.Mutex
	holds    map[heldKey]*holdState
	triggers map[heldKey][]heldKey // a message's mark releases these
}

// claim starts a new tracker for a claimed partition.
func (s *session) claim(topic string, part int32) *partition {
	p := &partition{
		topic:     topic,
		partition: part,
		inner:     s.ConsumerGroupSession,
		observer:  s.cfg.observer,
		tracker:   NewTracker(),
	}
	s.mu.Lock()
	s.parts[topicPartition{topic, part}] = p
	s.mu.Unlock()
	return p
}

func (s *session) lookup(topic string, part int32) *partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parts[topicPartition{topic, part}]
}

// end reports every claimed partition as having nothing pending.
func (s *session) end() {
	if s == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.parts {
		p.end()
	}
}

// MarkOffset marks offset-1 (offset is the next one to read) done and
// forwards the commit offset when it advanced.
func (s *session) MarkOffset(topic string, part int32, offset int64, metadata string) {
	p := s.lookup(topic, part)
	if p == nil {
		s.ConsumerGroupSession.MarkOffset(topic, part, offset, metadata)
		return
	}
	if s.cfg.scope == nil {
		p.done(offset-1, metadata)
		return
	}
	k := heldKey{topic, part, offset - 1}
	held := s.held(k, metadata)
	s.fire(k)
	if !held {
		p.done(offset-1, metadata)
	}
}

// MarkMessage marks msg done, like MarkOffset(msg.Topic, msg.Partition,
// msg.Offset+1, metadata).
func (s *session) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}

// partition is the state of one claimed partition within a session.
type partition struct {
	topic     string
	partition int32
	inner     sarama.ConsumerGroupSession
	observer  func(string, int32, int)
	tracker   *Tracker

	// mu serializes starts, marks and observer calls, so forwarded
	// offsets and observed counts are in order.
	mu    sync.Mutex
	ended bool
}

func (p *partition) start(offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.tracker.Start(offset); err != nil {
		return fmt.Errorf("%s/%d: %w", p.topic, p.partition, err)
	}
	p.observe()
	return nil
}

func (p *partition) done(offset int64, metadata string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next, advanced := p.tracker.Done(offset)
	if !advanced {
		return
	}
	p.inner.MarkOffset(p.topic, p.partition, next, metadata)
	p.observe()
}

func (p *partition) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.observer != nil && !p.ended {
		p.observer(p.topic, p.partition, 0)
	}
	p.ended = true
}

// observe reports the pending count; p.mu must be held.
func (p *partition) observe() {
	if p.observer != nil && !p.ended {
		p.observer(p.topic, p.partition, p.tracker.Pending())
	}
}

// forward copies messages from in to out, starting each offset in the
// tracker before handing the message on, until in closes, quit or ctxDone is
// closed, or an offset is out of order. admit, when set, is asked first.
func (p *partition) forward(in <-chan *sarama.ConsumerMessage, out chan<- *sarama.ConsumerMessage, quit, ctxDone <-chan struct{},
	admit func(*sarama.ConsumerMessage, <-chan struct{}) bool) error {
	stop := stopOn(quit, ctxDone)
	defer stop.release()
	for {
		var msg *sarama.ConsumerMessage
		select {
		case m, ok := <-in:
			if !ok {
				return nil
			}
			if m == nil {
				continue
			}
			msg = m
		case <-stop.c:
			return nil
		}
		if handed, err := p.hand(msg, out, stop.c, admit); !handed {
			return err
		}
	}
}

// hand asks admit (when set), starts msg's offset in the tracker and sends
// msg to out. It reports false when the claim ends first or the offset is
// out of order (the error).
func (p *partition) hand(msg *sarama.ConsumerMessage, out chan<- *sarama.ConsumerMessage, stop <-chan struct{},
	admit func(*sarama.ConsumerMessage, <-chan struct{}) bool) (bool, error) {
	if admit != nil && !admit(msg, stop) {
		return false, nil
	}
	if err := p.start(msg.Offset); err != nil {
		return false, err
	}
	select {
	case out <- msg:
		return true, nil
	case <-stop:
		return false, nil
	}
}

// stopper is a channel closed once quit or ctxDone is, or at release.
type stopper struct {
	c    chan struct{}
	done chan struct{}
}

func stopOn(quit, ctxDone <-chan struct{}) stopper {
	s := stopper{c: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.c)
		select {
		case <-quit:
		case <-ctxDone:
		case <-s.done:
		}
	}()
	return s
}

func (s stopper) release() { close(s.done) }

// wrappedClaim is the claim the wrapped handler sees.
type wrappedClaim struct {
	sarama.ConsumerGroupClaim
	messages chan *sarama.ConsumerMessage
}

func (c *wrappedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }
