package commit

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func TestTrackerTable(t *testing.T) {
	type step struct {
		done     int64
		commit   int64 // expected commit offset after the step, -1 for none yet
		advanced bool
	}
	cases := []struct {
		name    string
		started []int64
		steps   []step
	}{
		{"in order", []int64{0, 1, 2}, []step{{0, 1, true}, {1, 2, true}, {2, 3, true}}},
		{"reverse", []int64{0, 1, 2}, []step{{2, -1, false}, {1, -1, false}, {0, 3, true}}},
		{"middle first", []int64{5, 6, 7, 8}, []step{{7, -1, false}, {5, 6, true}, {6, 8, true}, {8, 9, true}}},
		{"gaps from compaction", []int64{3, 10, 11, 40}, []step{{10, -1, false}, {3, 11, true}, {40, 11, false}, {11, 41, true}}},
		{"unknown and repeated offsets change nothing", []int64{2, 4}, []step{
			{3, -1, false}, {1, -1, false}, {9, -1, false}, {2, 3, true}, {2, 3, false}, {3, 3, false}, {4, 5, true}, {4, 5, false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker()
			for _, o := range c.started {
				if err := tr.Start(o); err != nil {
					t.Fatal(err)
				}
			}
			for i, s := range c.steps {
				got, adv := tr.Done(s.done)
				cur, ok := tr.CommitOffset()
				if !ok {
					cur = -1
				}
				if cur != s.commit || adv != s.advanced || (adv && got != cur) {
					t.Fatalf("step %d Done(%d) = (%d, %v), CommitOffset %d; want commit %d advanced %v",
						i, s.done, got, adv, cur, s.commit, s.advanced)
				}
			}
			if tr.Pending() != 0 || tr.Unfinished() != 0 {
				t.Errorf("pending %d unfinished %d after all done", tr.Pending(), tr.Unfinished())
			}
			if h, ok := tr.Highest(); !ok || h != c.started[len(c.started)-1] {
				t.Errorf("Highest = %d, %v", h, ok)
			}
		})
	}
}

func TestTrackerRejectsBadStarts(t *testing.T) {
	tr := NewTracker()
	if err := tr.Start(-1); err == nil {
		t.Error("negative offset accepted")
	}
	if err := tr.Start(4); err != nil {
		t.Fatal(err)
	}
	for _, o := range []int64{4, 3, 0} {
		if err := tr.Start(o); !errors.Is(err, ErrNotIncreasing) {
			t.Errorf("Start(%d) after 4: %v, want ErrNotIncreasing", o, err)
		}
	}
	if tr.Pending() != 1 {
		t.Errorf("rejected starts were registered: pending %d", tr.Pending())
	}
	// After the commit has passed an offset, restarting it is still rejected.
	tr.Done(4)
	if err := tr.Start(4); !errors.Is(err, ErrNotIncreasing) {
		t.Errorf("Start(4) after commit: %v", err)
	}
	if _, adv := tr.Done(4); adv {
		t.Error("Done on a committed offset advanced")
	}
}

// model is the obvious quadratic implementation the tracker must agree with.
type model struct {
	offsets []int64
	done    map[int64]bool
}

func (m *model) commit() (int64, bool) {
	var c int64
	ok := false
	for _, o := range m.offsets {
		if !m.done[o] {
			break
		}
		c, ok = o+1, true
	}
	return c, ok
}

// checkBounded asserts the ring is no bigger than needed for the pending
// offsets: at most four times their number, or the minimum ring.
func checkBounded(t *testing.T, tr *Tracker) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.ring) > max(minRing, 4*tr.n) {
		t.Fatalf("ring of %d for %d pending offsets", len(tr.ring), tr.n)
	}
}

func TestTrackerRandomOrders(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		n := 1 + rng.IntN(300)
		tr := NewTracker()
		m := &model{done: map[int64]bool{}}
		off := int64(rng.IntN(1000))
		for range n {
			if err := tr.Start(off); err != nil {
				t.Fatal(err)
			}
			m.offsets = append(m.offsets, off)
			off += 1 + int64(rng.IntN(3)) // gaps of up to 2 offsets
		}
		order := rng.Perm(n)
		prev, _ := m.commit()
		for i, idx := range order {
			o := m.offsets[idx]
			m.done[o] = true
			got, adv := tr.Done(o)
			want, wantOK := m.commit()
			cur, ok := tr.CommitOffset()
			if ok != wantOK || cur != want || adv != (want != prev) || (adv && got != want) {
				t.Fatalf("seed %d step %d Done(%d): got (%d, %v) commit (%d, %v); want (%d, %v)",
					seed, i, o, got, adv, cur, ok, want, wantOK)
			}
			prev = want
			if tr.Unfinished() != n-i-1 {
				t.Fatalf("seed %d: unfinished %d, want %d", seed, tr.Unfinished(), n-i-1)
			}
			checkBounded(t, tr)
		}
		if c, _ := tr.CommitOffset(); c != m.offsets[n-1]+1 || tr.Pending() != 0 {
			t.Fatalf("seed %d: final commit %d pending %d", seed, c, tr.Pending())
		}
	}
}

// TestTrackerMemoryBounded streams many offsets through a sliding window of
// in-flight ones, finishing them out of order, and checks the ring follows
// the window size, then returns to its minimum once everything finished.
func TestTrackerMemoryBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	tr := NewTracker()
	var inflight []int64
	const total, window = 200_000, 500
	peak := 0
	for o := int64(0); o < total; o++ {
		if err := tr.Start(o); err != nil {
			t.Fatal(err)
		}
		inflight = append(inflight, o)
		for len(inflight) > rng.IntN(window) {
			i := rng.IntN(len(inflight))
			tr.Done(inflight[i])
			inflight[i] = inflight[len(inflight)-1]
			inflight = inflight[:len(inflight)-1]
		}
		tr.mu.Lock()
		peak = max(peak, len(tr.ring))
		tr.mu.Unlock()
	}
	for _, o := range inflight {
		tr.Done(o)
	}
	// The ring holds finished offsets waiting behind the oldest unfinished
	// one too, so the bound is loose; the point is that it does not follow
	// the total.
	if peak > 64*window {
		t.Errorf("ring peaked at %d entries for a window of %d", peak, window)
	}
	tr.mu.Lock()
	size := len(tr.ring)
	tr.mu.Unlock()
	if size != minRing || tr.Pending() != 0 {
		t.Errorf("after draining: ring %d, pending %d", size, tr.Pending())
	}
	if c, _ := tr.CommitOffset(); c != total {
		t.Errorf("commit %d, want %d", c, total)
	}
}

// TestTrackerConcurrent starts offsets in one goroutine and finishes them in
// several, while a watcher checks that the commit offset never passes an
// offset that was not finished yet and never goes back.
func TestTrackerConcurrent(t *testing.T) {
	const n, workers = 20_000, 8
	tr := NewTracker()
	var finished [n]atomic.Bool // set before Done is called
	work := make(chan int64, 64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var held []int64
			flush := func() {
				for _, o := range held {
					finished[o].Store(true)
					tr.Done(o)
				}
				held = held[:0]
			}
			for o := range work {
				held = append(held, o)
				if rng.IntN(4) == 0 {
					// finish the held ones newest first
					for i, j := 0, len(held)-1; i < j; i, j = i+1, j-1 {
						held[i], held[j] = held[j], held[i]
					}
					flush()
				}
			}
			flush()
		}()
	}
	stop := make(chan struct{})
	watchErr := make(chan error, 1)
	go func() {
		var last int64
		for {
			select {
			case <-stop:
				watchErr <- nil
				return
			default:
			}
			c, ok := tr.CommitOffset()
			if !ok {
				continue
			}
			if c < last {
				watchErr <- errors.New("commit offset went back")
				return
			}
			// every offset below c must have finished; those below
			// last were checked before
			for o := last; o < c; o++ {
				if !finished[o].Load() {
					watchErr <- errors.New("commit offset passed an unfinished offset")
					return
				}
			}
			last = c
		}
	}()
	for o := int64(0); o < n; o++ {
		if err := tr.Start(o); err != nil {
			t.Fatal(err)
		}
		work <- o
	}
	close(work)
	wg.Wait()
	close(stop)
	if err := <-watchErr; err != nil {
		t.Fatal(err)
	}
	if c, _ := tr.CommitOffset(); c != n || tr.Pending() != 0 || tr.Unfinished() != 0 {
		t.Fatalf("commit %d pending %d unfinished %d", c, tr.Pending(), tr.Unfinished())
	}
}
