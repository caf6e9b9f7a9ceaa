package commit

import "sync"

// Scope connects a group's callbacks to the consumer group session that
// delivers their messages, for a group that keeps state in memory between
// callbacks (a write-back cache in front of its table):
//
//   - Session tells whether a session is running and which one, so that
//     such state lives no longer than the session: after a rebalance the
//     partition may have been processed elsewhere, and only the table is
//     current;
//   - Hold keeps a message's commit back, also once the handler has marked
//     it, until ReleaseWith's message is marked: a callback that left its
//     effect in memory only lets a later callback of the same partition
//     make it durable (write the table) and commit both then.
//
// A crash or a rebalance before the release loses the held effects with
// the memory they were in, and the next session delivers the held messages
// again, since nothing at or after them was committed.
//
// The wrapper starts a session's scope before goka's Setup and ends it after
// goka's Cleanup, which returns only once the session's partition
// processors stopped: every callback of a session runs inside its scope.
// Without a wrapped consumer group (goka's tester) there is never a
// session, and Hold reports false. A scope serves one goka processor at a
// time (its consumer group's sessions follow each other); two processors
// running at once need a scope each.
type Scope struct {
	mu  sync.Mutex
	cur *session
	gen uint64
}

// NewScope returns a scope to pass to WithScope and to the group's callbacks.
func NewScope() *Scope { return &Scope{} }

// WithScope makes the wrapper run every session inside sc.
func WithScope(sc *Scope) Option {
	return func(c *config) { c.scope = sc }
}

// Hold is a message whose commit is held back (Scope.Hold).
type Hold struct {
	s *session
	k heldKey
}

type heldKey struct {
	topic     string
	partition int32
	offset    int64
}

type holdState struct {
	marked, released bool
	metadata         string
}

func (sc *Scope) begin(s *session) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.gen++
	sc.cur = s
}

func (sc *Scope) end(s *session) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.cur == s {
		sc.cur = nil
	}
}

func (sc *Scope) current() *session {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.cur
}

// Session returns the running session's number, which changes with every
// session, or ok false while none runs.
func (sc *Scope) Session() (gen uint64, ok bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.gen, sc.cur != nil
}

// Hold keeps the commit of the message at offset of topic/partition back
// until a message given to ReleaseWith together with the hold is marked.
// It must be called from the message's callback, before the callback
// returns. It reports false when no session runs or the session did not
// deliver that partition: the caller must then make its effect durable
// itself.
func (sc *Scope) Hold(topic string, partition int32, offset int64) (Hold, bool) {
	s := sc.current()
	if s == nil || s.lookup(topic, partition) == nil {
		return Hold{}, false
	}
	k := heldKey{topic, partition, offset}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.holds == nil {
		s.holds, s.triggers = map[heldKey]*holdState{}, map[heldKey][]heldKey{}
	}
	s.holds[k] = &holdState{}
	return Hold{s: s, k: k}, true
}

// ReleaseWith releases holds once the message at offset of topic/partition
// is marked (its callback's writes and emits acknowledged). It must be
// called from that message's callback. Holds of an earlier session are
// ignored: they are never released, and their messages come again.
func (sc *Scope) ReleaseWith(holds []Hold, topic string, partition int32, offset int64) {
	if len(holds) == 0 {
		return
	}
	s := sc.current()
	if s == nil {
		return
	}
	k := heldKey{topic, partition, offset}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for _, h := range holds {
		if h.s == s {
			s.triggers[k] = append(s.triggers[k], h.k)
		}
	}
}

// held records the mark of k and reports whether its commit is held back.
func (s *session) held(k heldKey, metadata string) bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	hs, ok := s.holds[k]
	if !ok {
		return false
	}
	if !hs.released {
		hs.marked, hs.metadata = true, metadata
		return true
	}
	delete(s.holds, k)
	return false
}

// fire releases the holds that wait for k's mark and marks those already
// marked by their handler.
func (s *session) fire(k heldKey) {
	s.hmu.Lock()
	waiting := s.triggers[k]
	delete(s.triggers, k)
	var ready []heldKey
	var metas []string
	for _, w := range waiting {
		hs, ok := s.holds[w]
		if !ok {
			continue
		}
		if hs.marked {
			delete(s.holds, w)
			ready, metas = append(ready, w), append(metas, hs.metadata)
			continue
		}
		hs.released = true
	}
	s.hmu.Unlock()
	for i, w := range ready {
		if p := s.lookup(w.topic, w.partition); p != nil {
			p.done(w.offset, metas[i])
		}
	}
}
