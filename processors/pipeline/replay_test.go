package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/internal/simulate"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// outcome is what a final decision credits; versions, ids and times may
// differ between runs, this may not.
type outcome struct {
	Source       string
	MatchType    string
	Tier         int
	ClickID      string
	Campaign     string
	Contributors []string
}

func outcomeOf(d codecs.Decision) outcome {
	o := outcome{Source: d.Source, MatchType: d.MatchType, Tier: d.Tier, ClickID: d.ClickID}
	if d.Campaign != nil {
		o.Campaign = d.Campaign.ID
	}
	for _, c := range d.Contributors {
		o.Contributors = append(o.Contributors, c.ClickID)
	}
	return o
}

// Replay equivalence: one recorded input of clicks and installs, published
// in 5 seeded interleavings of its topics, each run by every group of the
// pipeline on a fresh in-process broker with 4 partitions, ends in the
// same final decision for every install; no click is credited to two
// installs, and every install is decided as the rules say. Three of the
// runs hold the attribution group to 1, 2 and 8 installs waiting for
// answers per partition (the gate in front of its installs), the others
// run with the default: the decisions must not depend on it.
func TestReplayEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline 5 times")
	}
	in := buildReplayInput(replayScenarios)
	t.Logf("input: %d records, %d installs, %d late clicks, %d phantom lr_ia_ids", len(in.events), len(in.expected), in.late, len(in.phantoms))

	seeds := []uint64{11, 22, 33, 44, 55}
	inFlight := []int{0, 1, 0, 2, 8}
	finals := make([]map[string]codecs.Decision, len(seeds))
	var wg sync.WaitGroup
	for i, seed := range seeds {
		wg.Go(func() {
			start := time.Now()
			finals[i] = runReplay(t, in, in.interleave(seed), inFlight[i])
			t.Logf("seed %d (in flight %d): %d decisions in %s", seed, inFlight[i], len(finals[i]), time.Since(start).Round(time.Millisecond))
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for i, final := range finals {
		checkFinal(t, fmt.Sprintf("seed %d", seeds[i]), in, final)
	}
	keys := make([]string, 0, len(in.expected))
	for k := range in.expected {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	differ := 0
	for _, k := range keys {
		want := outcomeOf(finals[0][k])
		for i := 1; i < len(finals); i++ {
			if got := outcomeOf(finals[i][k]); !reflect.DeepEqual(got, want) {
				differ++
				if differ <= 20 {
					t.Errorf("install %s (%s): seed %d decided %+v, seed %d %+v", k, in.expected[k].scenario,
						seeds[0], want, seeds[i], got)
				}
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d final decisions differ between interleavings", differ)
	}
}

// checkFinal checks one run's final decisions against the rules: every
// install decided as expected, no click won twice.
func checkFinal(t *testing.T, run string, in replayInput, final map[string]codecs.Decision) {
	t.Helper()
	winners := map[string]string{}
	wrong := 0
	for k, want := range in.expected {
		d, ok := final[k]
		if !ok {
			t.Errorf("%s: install %s has no decision", run, k)
			continue
		}
		if d.ClickID != "" {
			if other, dup := winners[d.ClickID]; dup {
				t.Errorf("%s: click %s is the winner of installs %s and %s", run, d.ClickID, other, k)
			}
			winners[d.ClickID] = k
		}
		got := outcomeOf(d)
		if got.ClickID != want.clickID || got.MatchType != want.matchType ||
			(want.contributors != nil && !slices.Equal(got.Contributors, want.contributors)) {
			wrong++
			if wrong <= 10 {
				t.Errorf("%s: install %s (%s): decided %+v (version %d), want click %q by %s, contributors %v",
					run, k, want.scenario, got, d.Version, want.clickID, want.matchType, want.contributors)
			}
		}
	}
	if wrong > 10 {
		t.Errorf("%s: %d installs decided otherwise than the rules say", run, wrong)
	}
}

// runReplay runs every group of the pipeline on a fresh broker, publishes
// the records in order and returns the final (highest version) decision of
// every install once the pipeline is quiet.
func runReplay(t *testing.T, in replayInput, order []replayEvent, inFlight int) map[string]codecs.Decision {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	k, closeBroker, err := startBroker(ctx, 4)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer closeBroker()

	names := pipeline.Names()
	comps, err := pipeline.Components(names, pipeline.Config{Kafka: k, Dir: t.TempDir(), Replication: 1,
		Deps: processors.Deps{Catalog: replayCatalog{}, Sweep: clock.SweepConfig{Slices: 1, Pause: 50 * time.Millisecond},
			InFlight: inFlight}})
	if err != nil {
		t.Error(err)
		return nil
	}
	comps = append(comps, clock.Ticker(k, clock.TickerConfig{Interval: 100 * time.Millisecond}))
	sup := stream.NewSupervisor(nil)
	sup.MinBackoff = 50 * time.Millisecond
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sup.Run(runCtx, comps...) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("supervisor: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("groups did not stop within 30s")
		}
	}()
	began := time.Now()
	if !poll.Within(ctx, 30*time.Second, func() bool { return len(sup.NotReady()) == 0 }) {
		t.Errorf("groups not ready: %v", sup.NotReady())
		return nil
	}

	out, err := consume(k, "attributions", "attribution-replies")
	if err != nil {
		t.Error(err)
		return nil
	}
	defer out.close()

	emitters := map[string]*goka.Emitter{}
	for _, topic := range []string{"clicks", "installs"} {
		em, err := goka.NewEmitter(k.Brokers, goka.Stream(topic), new(codec.Bytes), k.EmitterOptions(topic, 1)...)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer func() { _ = em.Finish() }()
		emitters[topic] = em
	}
	// In order, in windows of 20 records acknowledged together; a late
	// click waits until its install (and all before it) is acknowledged.
	var pending []*goka.Promise
	flush := func() bool {
		for _, p := range pending {
			errc := make(chan error, 1)
			p.Then(func(err error) { errc <- err })
			if err := <-errc; err != nil {
				t.Errorf("emit: %v", err)
				return false
			}
		}
		pending = pending[:0]
		return true
	}
	for _, e := range order {
		if (e.after != "" || len(pending) == 20) && !flush() {
			return nil
		}
		raw, _ := json.Marshal(e.value)
		p, err := emitters[e.topic].Emit(e.key, raw)
		if err != nil {
			t.Errorf("emit %s %s: %v", e.topic, e.key, err)
			return nil
		}
		pending = append(pending, p)
	}
	if !flush() {
		return nil
	}

	published := time.Since(began)

	// Quiet: every install decided, the phantom claims answered unknown
	// (ticks moved the clicks group's watermarks past them), every group
	// has committed all of its inputs but the ticks, and no decision for
	// a second.
	quiet := func() bool {
		decided, unknown, last := out.snapshot()
		for key := range in.expected {
			if !decided[key] {
				return false
			}
		}
		for _, key := range in.phantoms {
			if !unknown[key] {
				return false
			}
		}
		return time.Since(last) > time.Second && simulate.CaughtUp(k, names, string(clock.Ticks))
	}
	if !poll.Every(ctx, 75*time.Second, 50*time.Millisecond, quiet) {
		decided, unknown, _ := out.snapshot()
		t.Errorf("not quiet: %d of %d installs decided, %d of %d phantom claims unknown, caught up %v",
			len(decided), len(in.expected), len(unknown), len(in.phantoms), simulate.CaughtUp(k, names, string(clock.Ticks)))
		return nil
	}
	t.Logf("ready and published after %s, quiet after %s", published.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	return out.final(t)
}

// output collects the decisions on `attributions` and the unknown claim
// answers on `attribution-replies`.
type output struct {
	consumer sarama.Consumer
	pcs      []sarama.PartitionConsumer
	mu       sync.Mutex
	byID     map[string][]byte
	versions map[string]map[int]codecs.Decision
	unknown  map[string]bool
	last     time.Time
	errs     []string
}

func consume(k stream.Kafka, topics ...string) (*output, error) {
	c, err := sarama.NewConsumer(k.Brokers, k.Sarama(k.ClientID("replay-out")))
	if err != nil {
		return nil, err
	}
	o := &output{consumer: c, byID: map[string][]byte{}, versions: map[string]map[int]codecs.Decision{},
		unknown: map[string]bool{}, last: time.Now()}
	for _, topic := range topics {
		for p := range int32(4) {
			pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				o.close()
				return nil, err
			}
			o.pcs = append(o.pcs, pc)
			go func() {
				for m := range pc.Messages() {
					o.add(m)
				}
			}()
		}
	}
	return o, nil
}

func (o *output) add(m *sarama.ConsumerMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch m.Topic {
	case "attribution-replies":
		var r codecs.AttributionReply
		if err := json.Unmarshal(m.Value, &r); err == nil && r.Type == codecs.ReplyClaim && r.Claim == codecs.ClaimUnknown {
			o.unknown[string(m.Key)] = true
		}
	case "attributions":
		var d codecs.Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			o.errs = append(o.errs, fmt.Sprintf("attributions offset %d: %v", m.Offset, err))
			return
		}
		if d.Kind != codecs.KindDecision {
			return
		}
		o.last = time.Now()
		// Records with one id must be the same record; compare without
		// the explanation, which may grow for an unchanged outcome.
		sum, _ := json.Marshal(d.Summary())
		if prev, ok := o.byID[d.ID]; ok && string(prev) != string(sum) {
			o.errs = append(o.errs, fmt.Sprintf("decision id %s carries two contents:\n%s\n%s", d.ID, prev, sum))
		}
		o.byID[d.ID] = sum
		key := string(m.Key)
		if o.versions[key] == nil {
			o.versions[key] = map[int]codecs.Decision{}
		}
		o.versions[key][d.Version] = d
	}
}

func (o *output) snapshot() (decided, unknown map[string]bool, last time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	decided = map[string]bool{}
	for k := range o.versions {
		decided[k] = true
	}
	return decided, maps(o.unknown), o.last
}

func maps(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// final is the highest version of every install's decision; versions
// must run 1..n without gaps.
func (o *output) final(t *testing.T) map[string]codecs.Decision {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.errs {
		t.Error(e)
	}
	out := map[string]codecs.Decision{}
	for key, vs := range o.versions {
		top := 0
		for v := range vs {
			top = max(top, v)
		}
		for v := 1; v <= top; v++ {
			if _, ok := vs[v]; !ok {
				t.Errorf("install %s: versions up to %d but no version %d", key, top, v)
			}
		}
		out[key] = vs[top]
	}
	return out
}

func (o *output) close() {
	for _, pc := range o.pcs {
		pc.AsyncClose()
	}
	_ = o.consumer.Close()
}

// startBroker starts the in-process broker with every topic of topics.yaml
// in the given number of partitions. It returns errors rather than failing
// the test, for runs on goroutines of their own.
func startBroker(ctx context.Context, partitions int) (k stream.Kafka, closeBroker func(), err error) {
	emb, err := stream.StartEmbedded("", 0)
	if err != nil {
		return k, nil, err
	}
	k = stream.Kafka{Brokers: emb.Brokers(), Partitions: partitions, Replication: 1, Linger: time.Millisecond}
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, k)
	if err == nil {
		err = k.EnsureTopics(ctx, topics)
	}
	if err != nil {
		emb.Close()
		return k, nil, err
	}
	return k, emb.Close, nil
}
