package simulate

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Seen is what the watcher knows of one install's decisions.
type Seen struct {
	// First is the wall clock when its first decision was read;
	// FirstInstalledAt that decision's installed_at.
	First            time.Time
	FirstInstalledAt time.Time
	// Latest is its highest decision version.
	Latest codecs.Decision
}

// Decisions reads `attributions` from the oldest offset of every partition
// and keeps, per install, when its first decision was seen and its latest
// version. App opens (Kind app_open) are ignored. Safe for concurrent use.
type Decisions struct {
	mu       sync.Mutex
	byKey    map[string]*Seen
	records  int
	first    time.Time
	last     time.Time
	changed  chan struct{}
	consumer sarama.Consumer
	parts    []sarama.PartitionConsumer
	done     sync.WaitGroup
	errs     []error
}

// Watch starts reading topic (AttributionsTopic when "") on k's brokers.
func Watch(k stream.Kafka, topic string) (*Decisions, error) {
	if topic == "" {
		topic = AttributionsTopic
	}
	c, err := sarama.NewConsumer(k.Brokers, k.Sarama(k.ClientID("simulate-watch")))
	if err != nil {
		return nil, fmt.Errorf("simulate: watch: %w", err)
	}
	ps, err := c.Partitions(topic)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("simulate: watch: %w", err)
	}
	d := &Decisions{byKey: map[string]*Seen{}, changed: make(chan struct{}, 1), consumer: c}
	for _, p := range ps {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("simulate: watch: %w", err)
		}
		d.parts = append(d.parts, pc)
		d.done.Go(func() { d.read(pc) })
	}
	return d, nil
}

func (d *Decisions) read(pc sarama.PartitionConsumer) {
	msgs, errs := pc.Messages(), pc.Errors()
	for msgs != nil || errs != nil {
		select {
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			now := time.Now()
			var dec codecs.Decision
			if err := json.Unmarshal(m.Value, &dec); err != nil {
				d.fail(fmt.Errorf("decode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err))
				continue
			}
			d.add(string(m.Key), &dec, now)
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			d.fail(e)
		}
	}
}

func (d *Decisions) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

func (d *Decisions) add(key string, dec *codecs.Decision, now time.Time) {
	if dec.Kind != "" && dec.Kind != codecs.KindDecision {
		return
	}
	dec.Candidates = nil // not needed; keeps memory down
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records++
	s := d.byKey[key]
	if s == nil {
		s = &Seen{First: now, FirstInstalledAt: dec.InstalledAt, Latest: *dec}
		d.byKey[key] = s
		if d.first.IsZero() {
			d.first = now
		}
		d.last = now
	} else if dec.Version > s.Latest.Version {
		s.Latest = *dec
	}
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// Count is the number of distinct installs with a decision and of
// decision records read.
func (d *Decisions) Count() (installs, records int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byKey), d.records
}

// Span is when the first decision was read and when the latest install got
// its first one.
func (d *Decisions) Span() (first, last time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.first, d.last
}

// Get returns what was seen of the install with key.
func (d *Decisions) Get(key string) (Seen, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.byKey[key]
	if !ok {
		return Seen{}, false
	}
	return *s, true
}

// Err is the first read or decode error, if any.
func (d *Decisions) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) == 0 {
		return nil
	}
	return d.errs[0]
}

// Wait returns once n distinct installs have a decision, or with ctx's
// error.
func (d *Decisions) Wait(ctx context.Context, n int) error {
	for {
		if got, _ := d.Count(); got >= n {
			return nil
		}
		select {
		case <-d.changed:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			got, _ := d.Count()
			return fmt.Errorf("simulate: %d of %d installs decided: %w", got, n, ctx.Err())
		}
	}
}

// Close stops reading.
func (d *Decisions) Close() {
	for _, pc := range d.parts {
		pc.AsyncClose()
	}
	d.done.Wait()
	_ = d.consumer.Close()
}

// Check compares the latest decision of every expected install with its
// expectation: it returns how many match and up to 5 examples of those that
// do not (or have no decision).
func (d *Decisions) Check(w *Workload) (ok int, wrong []string) {
	for _, e := range w.Expected {
		s, found := d.Get(e.Key)
		switch {
		case !found:
			wrong = appendMax(wrong, fmt.Sprintf("%s: no decision (want %s)", e.Key, e.MatchType))
		case s.Latest.MatchType != e.MatchType || s.Latest.ClickID != e.ClickID:
			wrong = appendMax(wrong, fmt.Sprintf("%s: %s %s v%d, want %s %s", e.Key, s.Latest.MatchType,
				s.Latest.ClickID, s.Latest.Version, e.MatchType, e.ClickID))
		default:
			ok++
		}
	}
	return ok, wrong
}

func appendMax(l []string, s string) []string {
	if len(l) < 5 {
		return append(l, s)
	}
	return l
}

// Latencies are, for every expected install with a decision, the wall
// time from its installed_at (its received_at: see Pace) to when its first
// decision was read, sorted.
func (d *Decisions) Latencies(w *Workload) []time.Duration {
	var out []time.Duration
	for _, e := range w.Expected {
		if s, ok := d.Get(e.Key); ok {
			out = append(out, s.First.Sub(s.FirstInstalledAt))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Percentile is the p-th percentile (0–100) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
