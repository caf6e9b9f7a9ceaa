package commit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"

	"github.com/IBM/sarama"
)

type mark struct {
	topic     string
	partition int32
	offset    int64
	meta      string
}

// fakeSession records what reaches the inner session.
type fakeSession struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	marks   []mark
	resets  []mark
	commits int
}

func newFakeSession() *fakeSession {
	ctx, cancel := context.WithCancel(context.Background())
	return &fakeSession{ctx: ctx, cancel: cancel}
}

func (s *fakeSession) Claims() map[string][]int32 { return map[string][]int32{"in": {0, 1}} }
func (s *fakeSession) MemberID() string           { return "member" }
func (s *fakeSession) GenerationID() int32        { return 7 }
func (s *fakeSession) Context() context.Context   { return s.ctx }
func (s *fakeSession) MarkOffset(topic string, partition int32, offset int64, meta string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, mark{topic, partition, offset, meta})
}

func (s *fakeSession) ResetOffset(topic string, partition int32, offset int64, meta string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resets = append(s.resets, mark{topic, partition, offset, meta})
}

func (s *fakeSession) Commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
}

func (s *fakeSession) MarkMessage(msg *sarama.ConsumerMessage, meta string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, meta)
}

func (s *fakeSession) snapshot() []mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.marks)
}

type fakeClaim struct {
	topic     string
	partition int32
	initial   int64
	ch        chan *sarama.ConsumerMessage
}

func newFakeClaim(topic string, partition int32, initial int64) *fakeClaim {
	return &fakeClaim{topic: topic, partition: partition, initial: initial, ch: make(chan *sarama.ConsumerMessage, 100)}
}

func (c *fakeClaim) Topic() string                            { return c.topic }
func (c *fakeClaim) Partition() int32                         { return c.partition }
func (c *fakeClaim) InitialOffset() int64                     { return c.initial }
func (c *fakeClaim) HighWaterMarkOffset() int64               { return 1000 }
func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.ch }

func (c *fakeClaim) deliver(offsets ...int64) {
	for _, o := range offsets {
		c.ch <- &sarama.ConsumerMessage{Topic: c.topic, Partition: c.partition, Offset: o}
	}
}

// fakeProcessor plays goka: it collects delivered messages and lets the
// test decide when each one finishes.
type fakeProcessor struct {
	mu       sync.Mutex
	session  sarama.ConsumerGroupSession
	claims   []sarama.ConsumerGroupClaim
	received []*sarama.ConsumerMessage
	setups   int
	cleanups int
}

func (p *fakeProcessor) Setup(s sarama.ConsumerGroupSession) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setups++
	p.session = s
	return nil
}

func (p *fakeProcessor) Cleanup(sarama.ConsumerGroupSession) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups++
	return nil
}

func (p *fakeProcessor) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	p.mu.Lock()
	p.claims = append(p.claims, c)
	p.mu.Unlock()
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			p.mu.Lock()
			p.received = append(p.received, m)
			p.mu.Unlock()
		case <-s.Context().Done():
			return nil
		}
	}
}

func (p *fakeProcessor) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.received)
}

func (p *fakeProcessor) wrappedSession() sarama.ConsumerGroupSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session
}

// runClaim runs h.ConsumeClaim in a goroutine and returns its result channel.
func runClaim(h sarama.ConsumerGroupHandler, s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) <-chan error {
	res := make(chan error, 1)
	go func() { res <- h.ConsumeClaim(s, c) }()
	return res
}

func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ConsumeClaim did not return")
		return nil
	}
}

// TestWrapperCommitsContiguously delivers offsets 0..9, finishes them in
// random orders and checks the inner session only ever receives commit
// offsets over finished runs: strictly increasing, never past an unfinished
// offset, ending at 10.
func TestWrapperCommitsContiguously(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		inner := newFakeSession()
		proc := &fakeProcessor{}
		h := WrapHandler(proc)
		if err := h.Setup(inner); err != nil {
			t.Fatal(err)
		}
		claim := newFakeClaim("in", 0, 0)
		res := runClaim(h, inner, claim)
		claim.deliver(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
		poll.Until(t, 5*time.Second, "10 messages", func() bool { return proc.count() == 10 })

		s := proc.wrappedSession()
		if s == inner {
			t.Fatal("handler saw the inner session")
		}
		finished := map[int64]bool{}
		rng := rand.New(rand.NewPCG(seed, 3))
		for i, o := range rng.Perm(10) {
			off := int64(o)
			finished[off] = true
			if i%2 == 0 {
				s.MarkOffset("in", 0, off+1, "") // goka's way: next offset to read
			} else {
				s.MarkMessage(&sarama.ConsumerMessage{Topic: "in", Partition: 0, Offset: off}, "")
			}
			marks := inner.snapshot()
			prev := int64(0)
			for _, m := range marks {
				if m.offset <= prev {
					t.Fatalf("seed %d: commit offsets not increasing: %+v", seed, marks)
				}
				for u := prev; u < m.offset; u++ {
					if !finished[u] {
						t.Fatalf("seed %d: committed %d while %d unfinished", seed, m.offset, u)
					}
				}
				prev = m.offset
			}
			// and the commit is as far as it may be
			want := int64(0)
			for finished[want] {
				want++
			}
			if prev != want {
				t.Fatalf("seed %d: commit at %d, want %d (finished %v)", seed, prev, want, finished)
			}
		}
		close(claim.ch)
		if err := recv(t, res); err != nil {
			t.Fatal(err)
		}
		if err := h.Cleanup(inner); err != nil {
			t.Fatal(err)
		}
		if marks := inner.snapshot(); marks[len(marks)-1].offset != 10 {
			t.Fatalf("seed %d: final commit %+v", seed, marks)
		}
	}
}

// TestWrapperGapsAndStrayMarks checks offsets that skip (compaction,
// transaction markers), marks for offsets that were never delivered, and
// marks for partitions the wrapper does not track.
func TestWrapperGapsAndStrayMarks(t *testing.T) {
	inner := newFakeSession()
	proc := &fakeProcessor{}
	h := WrapHandler(proc)
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	claim := newFakeClaim("in", 1, 100)
	res := runClaim(h, inner, claim)
	claim.deliver(100, 103, 104, 110)
	poll.Until(t, 5*time.Second, "4 messages", func() bool { return proc.count() == 4 })
	s := proc.wrappedSession()

	s.MarkOffset("in", 1, 102, "") // offset 101 was never delivered
	s.MarkOffset("in", 1, 105, "m104")
	s.MarkOffset("in", 1, 500, "") // far beyond anything delivered
	if got := inner.snapshot(); len(got) != 0 {
		t.Fatalf("marks reached the inner session before offset 100 finished: %+v", got)
	}
	s.MarkOffset("in", 1, 101, "m100")
	s.MarkOffset("in", 1, 104, "m103")
	s.MarkOffset("in", 1, 111, "m110")
	s.MarkOffset("in", 1, 111, "again") // repeated marks are ignored
	s.MarkOffset("other", 3, 42, "x")   // not claimed through the wrapper: forwarded
	want := []mark{
		{"in", 1, 101, "m100"},
		{"in", 1, 105, "m103"},
		{"in", 1, 111, "m110"},
		{"other", 3, 42, "x"},
	}
	if got := inner.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("inner marks %+v, want %+v", got, want)
	}

	s.ResetOffset("in", 1, 50, "r")
	s.Commit()
	inner.mu.Lock()
	if len(inner.resets) != 1 || inner.resets[0] != (mark{"in", 1, 50, "r"}) || inner.commits != 1 {
		t.Errorf("ResetOffset/Commit not delegated: %+v %d", inner.resets, inner.commits)
	}
	inner.mu.Unlock()
	if s.GenerationID() != 7 || s.MemberID() != "member" || s.Context() != inner.ctx || len(s.Claims()["in"]) != 2 {
		t.Error("session accessors not delegated")
	}
	proc.mu.Lock()
	c := proc.claims[0]
	proc.mu.Unlock()
	if c.Topic() != "in" || c.Partition() != 1 || c.InitialOffset() != 100 || c.HighWaterMarkOffset() != 1000 {
		t.Error("claim accessors not delegated")
	}

	close(claim.ch)
	if err := recv(t, res); err != nil {
		t.Fatal(err)
	}
}

// TestWrapperStopsWithSession checks the forwarding goroutine stops and
// closes the handler's channel when the session ends, even though the inner
// channel stays open, and that a message delivered but never marked holds
// the commit back.
func TestWrapperStopsWithSession(t *testing.T) {
	inner := newFakeSession()
	var got []int
	obs := func(topic string, partition int32, pending int) {
		got = append(got, pending) // calls for one partition are serialized
	}
	closed := make(chan struct{})
	h := WrapHandler(handlerFunc(func(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
		<-c.Messages()
		<-c.Messages()
		// Keep reading until the wrapper closes the channel.
		for range c.Messages() {
		}
		close(closed)
		s.MarkOffset("in", 0, 2, "") // offset 1 finishes, 0 never does
		return nil
	}), WithObserver(obs))
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	claim := newFakeClaim("in", 0, 0)
	res := runClaim(h, inner, claim)
	claim.deliver(0, 1)
	poll.Until(t, 5*time.Second, "delivery", func() bool { return len(claim.ch) == 0 })
	inner.cancel()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after the session ended")
	}
	if err := recv(t, res); err != nil {
		t.Fatal(err)
	}
	if err := h.Cleanup(inner); err != nil {
		t.Fatal(err)
	}
	if marks := inner.snapshot(); len(marks) != 0 {
		t.Errorf("committed past unfinished offset 0: %+v", marks)
	}
	if !slices.Equal(got, []int{1, 2, 0}) {
		t.Errorf("observer saw %v, want [1 2 0]", got)
	}
}

// TestWrapperRejectsOffsetsGoingBack ends the claim with an error instead
// of tracking an offset that is not greater than the previous one.
func TestWrapperRejectsOffsetsGoingBack(t *testing.T) {
	inner := newFakeSession()
	proc := &fakeProcessor{}
	h := WrapHandler(proc)
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	claim := newFakeClaim("in", 0, 0)
	res := runClaim(h, inner, claim)
	claim.deliver(5, 6, 6, 7)
	if err := recv(t, res); !errors.Is(err, ErrNotIncreasing) {
		t.Fatalf("ConsumeClaim returned %v, want ErrNotIncreasing", err)
	}
	if proc.count() != 2 {
		t.Errorf("processor received %d messages, want 2", proc.count())
	}
}

type handlerFunc func(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error

func (handlerFunc) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (handlerFunc) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (f handlerFunc) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return f(s, c)
}

// fakeGroup runs sessions the way sarama does: Setup, one ConsumeClaim
// goroutine per claim, Cleanup once they all returned.
type fakeGroup struct {
	sessions chan *fakeGen
	errs     chan error
	closed   bool
	paused   []map[string][]int32
}

type fakeGen struct {
	session *fakeSession
	claims  []*fakeClaim
}

func (g *fakeGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	gen := <-g.sessions
	if err := h.Setup(gen.session); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, c := range gen.claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer gen.session.cancel()
			_ = h.ConsumeClaim(gen.session, c)
		}()
	}
	wg.Wait()
	return h.Cleanup(gen.session)
}

func (g *fakeGroup) Errors() <-chan error                  { return g.errs }
func (g *fakeGroup) Close() error                          { g.closed = true; return nil }
func (g *fakeGroup) Pause(p map[string][]int32)            { g.paused = append(g.paused, p) }
func (g *fakeGroup) Resume(p map[string][]int32)           { g.paused = append(g.paused, p) }
func (g *fakeGroup) PauseAll()                             { g.paused = append(g.paused, nil) }
func (g *fakeGroup) ResumeAll()                            { g.paused = append(g.paused, nil) }
func (g *fakeGroup) start(s *fakeSession, c ...*fakeClaim) { g.sessions <- &fakeGen{s, c} }

// TestWrapBuilderResetsPerSession runs two sessions through WrapBuilder: the
// second one (a rebalance) redelivers offsets the first one could not
// commit, which works only because trackers start afresh per session.
func TestWrapBuilderResetsPerSession(t *testing.T) {
	fg := &fakeGroup{sessions: make(chan *fakeGen, 2), errs: make(chan error)}
	var built []string
	b := WrapBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		built = append(built, group+"/"+clientID)
		return fg, nil
	})
	cg, err := b([]string{"b:9092"}, "g", "c")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(built, []string{"g/c"}) {
		t.Fatalf("inner builder called with %v", built)
	}

	run := func(proc *fakeProcessor, s *fakeSession, c *fakeClaim, deliver []int64, done []int64) []mark {
		t.Helper()
		fg.start(s, c)
		res := make(chan error, 1)
		go func() { res <- cg.Consume(context.Background(), []string{"in"}, proc) }()
		c.deliver(deliver...)
		poll.Until(t, 5*time.Second, "delivery", func() bool { return proc.count() == len(deliver) })
		ws := proc.wrappedSession()
		for _, o := range done {
			ws.MarkOffset("in", 0, o+1, "")
		}
		close(c.ch)
		if err := recv(t, res); err != nil {
			t.Fatal(err)
		}
		return s.snapshot()
	}

	// Generation 1: offset 3 never finishes, so nothing past 3 is committed.
	s1 := newFakeSession()
	marks := run(&fakeProcessor{}, s1, newFakeClaim("in", 0, 3), []int64{3, 4, 5}, []int64{5, 4})
	if len(marks) != 0 {
		t.Fatalf("generation 1 committed %+v", marks)
	}
	// Generation 2 starts again at 3.
	s2 := newFakeSession()
	marks = run(&fakeProcessor{}, s2, newFakeClaim("in", 0, 3), []int64{3, 4, 5}, []int64{4, 5, 3})
	if !slices.Equal(marks, []mark{{"in", 0, 6, ""}}) {
		t.Fatalf("generation 2 committed %+v", marks)
	}

	cg.Pause(map[string][]int32{"in": {0}})
	cg.Resume(map[string][]int32{"in": {0}})
	cg.PauseAll()
	cg.ResumeAll()
	if cg.Errors() != fg.errs || cg.Close() != nil || !fg.closed || len(fg.paused) != 4 {
		t.Error("consumer group methods not delegated")
	}
}

// TestWrapperPassesHandlerErrorsThrough checks the handler's own errors come
// back unchanged (goka matches them with errors.As).
func TestWrapperPassesHandlerErrorsThrough(t *testing.T) {
	sentinel := errors.New("processing failed")
	h := WrapHandler(handlerFunc(func(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error { return sentinel }))
	inner := newFakeSession()
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, runClaim(h, inner, newFakeClaim("in", 0, 0))); err != sentinel {
		t.Fatalf("ConsumeClaim returned %v, want the handler's error itself", err)
	}
}

// TestWrapperAsksAdmission holds offset 1 back until admission lets it
// pass, and leaves a message that admission refused (the claim ended)
// unregistered: nothing is committed past it.
func TestWrapperAsksAdmission(t *testing.T) {
	inner := newFakeSession()
	proc := &fakeProcessor{}
	release := make(chan struct{})
	var asked []int64 // calls for one partition are serialized
	admit := func(msg *sarama.ConsumerMessage, stop <-chan struct{}) bool {
		asked = append(asked, msg.Offset)
		if msg.Offset != 1 {
			return true
		}
		select {
		case <-release:
			return true
		case <-stop:
			return false
		}
	}
	h := WrapHandler(proc, WithAdmission("in", admit, 10))
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	claim := newFakeClaim("in", 0, 0)
	res := runClaim(h, inner, claim)
	claim.deliver(0, 1, 2)
	poll.Until(t, 5*time.Second, "offset 0", func() bool { return proc.count() == 1 })
	proc.wrappedSession().MarkOffset("in", 0, 1, "")
	close(release)
	poll.Until(t, 5*time.Second, "offsets 1 and 2", func() bool { return proc.count() == 3 })
	if !slices.Equal(asked, []int64{0, 1, 2}) {
		t.Errorf("admission asked for %v, want [0 1 2]", asked)
	}
	inner.cancel()
	if err := recv(t, res); err != nil {
		t.Fatal(err)
	}

	// A refused message: the claim ends while admission holds it.
	inner = newFakeSession()
	proc = &fakeProcessor{}
	h = WrapHandler(proc, WithAdmission("in", func(msg *sarama.ConsumerMessage, stop <-chan struct{}) bool {
		if msg.Offset == 0 {
			return true
		}
		<-stop
		return false
	}, 10))
	if err := h.Setup(inner); err != nil {
		t.Fatal(err)
	}
	claim = newFakeClaim("in", 0, 0)
	res = runClaim(h, inner, claim)
	claim.deliver(0, 1)
	poll.Until(t, 5*time.Second, "offset 0", func() bool { return proc.count() == 1 })
	poll.Until(t, 5*time.Second, "offset 1 taken from the claim", func() bool { return len(claim.ch) == 0 })
	s := proc.wrappedSession()
	s.MarkOffset("in", 0, 1, "")
	s.MarkOffset("in", 0, 2, "") // a stray mark for the refused offset
	inner.cancel()
	if err := recv(t, res); err != nil {
		t.Fatal(err)
	}
	if proc.count() != 1 {
		t.Errorf("processor received %d messages, want 1", proc.count())
	}
	if marks := inner.snapshot(); len(marks) != 1 || marks[0].offset != 1 {
		t.Errorf("inner session got %+v, want one commit at 1", marks)
	}
}

// TestAdmissionReadsAheadAndPauses: behind a consumer group, a claim whose
// admission holds a message keeps reading its messages (sarama must not
// wait for it), pauses its partition once 4 wait and resumes it when 2 are
// left; what it read ahead is handed on in order once admitted.
func TestAdmissionReadsAheadAndPauses(t *testing.T) {
	fg := &lockedGroup{fakeGroup: fakeGroup{sessions: make(chan *fakeGen, 1), errs: make(chan error)}}
	release := make(chan struct{})
	cg := WrapConsumerGroup(fg, WithAdmission("in", func(msg *sarama.ConsumerMessage, stop <-chan struct{}) bool {
		if msg.Offset == 0 {
			select {
			case <-release:
			case <-stop:
				return false
			}
		}
		return true
	}, 4))
	proc := &fakeProcessor{}
	s := newFakeSession()
	claim := newFakeClaim("in", 2, 0)
	fg.start(s, claim)
	res := make(chan error, 1)
	go func() { res <- cg.Consume(context.Background(), []string{"in"}, proc) }()
	claim.deliver(0, 1, 2, 3, 4, 5)
	poll.Until(t, 5*time.Second, "the claim read ahead", func() bool { return len(claim.ch) == 0 })
	poll.Until(t, 5*time.Second, "a pause", func() bool { return len(fg.calls()) == 1 })
	if proc.count() != 0 {
		t.Fatalf("%d messages handed on before offset 0 was admitted", proc.count())
	}
	close(release)
	poll.Until(t, 5*time.Second, "every message", func() bool { return proc.count() == 6 })
	var got []int64
	proc.mu.Lock()
	for _, m := range proc.received {
		got = append(got, m.Offset)
	}
	proc.mu.Unlock()
	if !slices.Equal(got, []int64{0, 1, 2, 3, 4, 5}) {
		t.Errorf("handed on %v", got)
	}
	want := []string{"pause in/2", "resume in/2"}
	if calls := fg.calls(); !slices.Equal(calls, want) {
		t.Errorf("consumer group calls %v, want %v", calls, want)
	}
	close(claim.ch)
	if err := recv(t, res); err != nil {
		t.Fatal(err)
	}
}

// lockedGroup records Pause and Resume calls, which come from the claim's
// goroutines.
type lockedGroup struct {
	fakeGroup
	mu  sync.Mutex
	log []string
}

func (g *lockedGroup) record(op string, p map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for topic, parts := range p {
		for _, n := range parts {
			g.log = append(g.log, fmt.Sprintf("%s %s/%d", op, topic, n))
		}
	}
}

func (g *lockedGroup) Pause(p map[string][]int32)  { g.record("pause", p) }
func (g *lockedGroup) Resume(p map[string][]int32) { g.record("resume", p) }

func (g *lockedGroup) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.log)
}
