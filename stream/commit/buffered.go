package commit

import (
	"sync"

	"github.com/IBM/sarama"
)

// pauser pauses and resumes fetching partitions (sarama.ConsumerGroup).
type pauser interface {
	Pause(partitions map[string][]int32)
	Resume(partitions map[string][]int32)
}

// forwardBuffered is forward for a claim whose admission may block: a
// reader keeps taking the claim's messages into a queue, so sarama's
// fetches for the other partitions never wait for this one, and pauses
// the partition while buffered messages wait (resuming it at half).
func (p *partition) forwardBuffered(in <-chan *sarama.ConsumerMessage, out chan<- *sarama.ConsumerMessage, quit, ctxDone <-chan struct{},
	admit func(*sarama.ConsumerMessage, <-chan struct{}) bool, pz pauser, buffered int) error {
	stop := stopOn(quit, ctxDone)
	q := &claimQueue{pz: pz, which: map[string][]int32{p.topic: {p.partition}}, high: buffered, wake: make(chan struct{}, 1)}
	read := make(chan struct{})
	defer func() {
		// The reader stops before a pause it made is undone.
		stop.release()
		<-read
		q.resume()
	}()
	go func() {
		defer close(read)
		defer q.close()
		for {
			select {
			case m, ok := <-in:
				if !ok {
					return
				}
				if m != nil {
					q.push(m)
				}
			case <-stop.c:
				return
			}
		}
	}()
	for {
		msg, ok := q.pop(stop.c)
		if !ok {
			return nil
		}
		if handed, err := p.hand(msg, out, stop.c, admit); !handed {
			return err
		}
	}
}

// claimQueue holds a claim's messages between its reader and its
// forwarder. Pause and Resume are called under mu, so they reach the
// consumer group in the order the queue decided them.
type claimQueue struct {
	pz    pauser
	which map[string][]int32
	high  int

	mu     sync.Mutex
	msgs   []*sarama.ConsumerMessage
	paused bool
	closed bool
	wake   chan struct{} // a message was pushed or the queue closed
}

func (q *claimQueue) push(m *sarama.ConsumerMessage) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	if len(q.msgs) >= q.high && !q.paused {
		q.paused = true
		q.pz.Pause(q.which)
	}
	q.mu.Unlock()
	q.signal()
}

// pop returns the oldest message, waiting for one; false once the queue
// closed (what it still holds is dropped: it was never registered, so the
// next session delivers it again) or stop closed.
func (q *claimQueue) pop(stop <-chan struct{}) (*sarama.ConsumerMessage, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			if q.paused && len(q.msgs) <= q.high/2 {
				q.paused = false
				q.pz.Resume(q.which)
			}
			q.mu.Unlock()
			return m, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-stop:
			return nil, false
		}
	}
}

func (q *claimQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// resume undoes a pause the queue made, when the claim ends.
func (q *claimQueue) resume() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.paused {
		q.paused = false
		q.pz.Resume(q.which)
	}
}

func (q *claimQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
