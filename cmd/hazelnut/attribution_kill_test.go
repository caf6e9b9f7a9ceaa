//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/config"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/internal/simulate"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// Three `hazelnut processor` processes (every group, each with its own data
// dir and instance id) attribute a preloaded and still flowing input of
// clicks and installs on the real Kafka; one of them is SIGKILLed mid-stream
// and started again on the same data. In the end every install is decided
// as the rules say, no click is credited to two installs, and decisions
// re-sent after the kill are the same records: one id per install and
// version, and an id always carries the same content.
//
// The broker, its topics and the consumer groups are shared with the other
// integration tests (4 partitions, one replica): the run is isolated by its
// own project id, click ids and device ids, and reads `attributions` from
// the offsets it found when it started.
func TestAttributionKillKafka(t *testing.T) {
	brokers := realBrokers(t)
	started := time.Now()
	k := stream.Kafka{Brokers: brokers, Partitions: 4, Replication: 1, Linger: 2 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "hazelnut")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	catalogFile, err := filepath.Abs(filepath.Join("..", "..", "testdata", "catalog", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	run := fmt.Sprintf("%d", time.Now().UnixNano())
	in := buildKillInput(run, time.Now().UTC().Truncate(time.Millisecond), 240)
	project := "kill-" + run
	t.Logf("run %s: %d records, %d installs", run, len(in.events), len(in.expected))

	out := watchAttributions(t, k, project+":")
	defer out.close()

	emitters := map[string]*goka.Emitter{}
	for _, topic := range []string{"clicks", "installs"} {
		em, err := goka.NewEmitter(k.Brokers, goka.Stream(topic), new(codec.Bytes), k.EmitterOptions(topic, 1)...)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = em.Finish() }()
		emitters[topic] = em
	}
	publish := func(events []killEvent) {
		t.Helper()
		var proms []*goka.Promise
		for _, e := range events {
			p, err := emitters[e.topic].Emit(e.key, e.value)
			if err != nil {
				t.Fatalf("emit %s: %v", e.key, err)
			}
			proms = append(proms, p)
		}
		for _, p := range proms {
			errc := make(chan error, 1)
			p.Then(func(err error) { errc <- err })
			if err := <-errc; err != nil {
				t.Fatalf("emit: %v", err)
			}
		}
	}

	// 40% is waiting when the processors start.
	preload := len(in.events) * 2 / 5
	publish(in.events[:preload])

	type proc struct {
		args     []string
		admin    string
		b        *binary
		notReady string
	}
	procs := make([]*proc, 3)
	start := func(p *proc) {
		p.b = startBinary(t, bin, p.args...)
	}
	for i := range procs {
		admin := freeAddr(t)
		procs[i] = &proc{admin: admin, args: []string{"processor", "--data", t.TempDir(), "--brokers", strings.Join(brokers, ","),
			"--kafka-partitions", "4", "--kafka-replication", "1", "--admin", admin,
			"--instance-id", fmt.Sprintf("kill-%s-%d", run, i), "--catalog", catalogFile,
			"--groups", strings.Join(config.Groups, ",")}}
		start(procs[i])
	}
	ready := func(p *proc) bool {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			p.notReady = string(body)
		}
		return resp.StatusCode == 200
	}
	// Each has served once: while the others join, rebalances take a
	// processor's groups away for a moment.
	served := make([]bool, len(procs))
	readyBy := time.Now().Add(60 * time.Second)
	poll.Until(t, 60*time.Second, "the three processors to be ready", func() bool {
		all := true
		for i, p := range procs {
			served[i] = served[i] || ready(p)
			all = all && served[i]
		}
		if !all && time.Until(readyBy) < 100*time.Millisecond {
			for i, p := range procs {
				t.Logf("instance %d ready %v: %s", i, served[i], p.notReady)
			}
			readyBy = readyBy.Add(time.Hour) // once
		}
		return all
	})
	t.Logf("processors ready after %s", time.Since(started).Round(time.Millisecond))

	// The rest flows in batches; instance 1 is killed a third of the way
	// through, once it has decided something, and started again a few
	// batches later.
	rest := in.events[preload:]
	const batch = 10
	killAt, restartAt := len(rest)/3, len(rest)/3+5*batch
	killed := false
	// The input flows at a batch per 20 ms while the instance dies and
	// comes back.
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < len(rest); i += batch {
		if i >= killAt && !killed {
			poll.Until(t, 30*time.Second, "decisions before the kill", func() bool { return out.count() > 0 })
			_ = procs[1].b.cmd.Process.Kill() // SIGKILL
			_ = procs[1].b.cmd.Wait()
			killed = true
			t.Logf("instance 1 killed after %d of %d records, %d decisions seen", preload+i, len(in.events), out.count())
		}
		if i >= restartAt && procs[1].b.cmd.ProcessState != nil {
			start(procs[1])
			t.Logf("instance 1 restarted after %d records", preload+i)
		}
		publish(rest[i:min(i+batch, len(rest))])
		<-pace.C
	}
	t.Logf("input published after %s", time.Since(started).Round(time.Millisecond))
	poll.Until(t, 60*time.Second, "the restarted instance to be ready", func() bool { return ready(procs[1]) })

	// Every install decided, nothing new for 3s and every group caught up.
	poll.Until(t, 90*time.Second, fmt.Sprintf("%d installs decided and the outputs quiet", len(in.expected)), func() bool {
		decided, last := out.state()
		for key := range in.expected {
			if !decided[key] {
				return false
			}
		}
		return time.Since(last) > 3*time.Second && simulate.CaughtUp(k, config.Groups, string(clock.Ticks))
	})
	t.Logf("quiet after %s", time.Since(started).Round(time.Millisecond))

	final, records, ids := out.check(t)
	winners := map[string]string{}
	wrong := 0
	for key, want := range in.expected {
		d, ok := final[key]
		if !ok {
			t.Errorf("install %s has no decision", key)
			continue
		}
		if d.ClickID != "" {
			if other, dup := winners[d.ClickID]; dup {
				t.Errorf("click %s is the final winner of installs %s and %s", d.ClickID, other, key)
			}
			winners[d.ClickID] = key
		}
		var contributors []string
		for _, c := range d.Contributors {
			contributors = append(contributors, c.ClickID)
		}
		if d.ClickID != want.clickID || d.MatchType != want.matchType ||
			(want.contributors != nil && strings.Join(contributors, ",") != strings.Join(want.contributors, ",")) {
			wrong++
			if wrong <= 10 {
				t.Errorf("install %s (%s): decided click %q by %s (version %d, contributors %v), want click %q by %s, contributors %v",
					key, want.scenario, d.ClickID, d.MatchType, d.Version, contributors, want.clickID, want.matchType, want.contributors)
			}
		}
	}
	if wrong > 10 {
		t.Errorf("%d installs decided otherwise than the rules say", wrong)
	}
	t.Logf("%d decision records, %d distinct ids, %d installs; took %s", records, ids, len(final),
		time.Since(started).Round(time.Millisecond))
}

// attributionsWatch reads `attributions` from the offsets at the time it
// started, keeping the decisions whose key has the given prefix.
type attributionsWatch struct {
	consumer sarama.Consumer
	pcs      []sarama.PartitionConsumer
	prefix   string

	mu      sync.Mutex
	records int
	byID    map[string]string // id -> JSON of the record
	idOf    map[string]map[int]map[string]bool
	latest  map[string]codecs.Decision
	last    time.Time
	errs    []string
}

func watchAttributions(t *testing.T, k stream.Kafka, prefix string) *attributionsWatch {
	t.Helper()
	client, err := sarama.NewClient(k.Brokers, k.Sarama(k.ClientID("attribution-kill-test")))
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	w := &attributionsWatch{consumer: consumer, prefix: prefix, byID: map[string]string{},
		idOf: map[string]map[int]map[string]bool{}, latest: map[string]codecs.Decision{}, last: time.Now()}
	parts, err := client.Partitions("attributions")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		from, err := client.GetOffset("attributions", p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := consumer.ConsumePartition("attributions", p, from)
		if err != nil {
			t.Fatal(err)
		}
		w.pcs = append(w.pcs, pc)
		go func() {
			for m := range pc.Messages() {
				w.add(m)
			}
		}()
	}
	return w
}

func (w *attributionsWatch) add(m *sarama.ConsumerMessage) {
	key := string(m.Key)
	if !strings.HasPrefix(key, w.prefix) {
		return
	}
	var d codecs.Decision
	err := json.Unmarshal(m.Value, &d)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errs = append(w.errs, fmt.Sprintf("attributions %d/%d: %v", m.Partition, m.Offset, err))
		return
	}
	if d.Kind != codecs.KindDecision {
		return
	}
	w.records++
	w.last = time.Now()
	content, _ := json.Marshal(d)
	if prev, ok := w.byID[d.ID]; ok && prev != string(content) {
		what := "two outcomes"
		var p codecs.Decision
		_ = json.Unmarshal([]byte(prev), &p)
		ps, _ := json.Marshal(p.Summary())
		ds, _ := json.Marshal(d.Summary())
		if string(ps) == string(ds) {
			what = fmt.Sprintf("the same outcome but different candidates (%d, then %d)", len(p.Candidates), len(d.Candidates))
		}
		w.errs = append(w.errs, fmt.Sprintf("decision id %s (%s version %d) carries %s:\n%s\n%s", d.ID, key, d.Version, what, prev, content))
	}
	w.byID[d.ID] = string(content)
	if w.idOf[key] == nil {
		w.idOf[key] = map[int]map[string]bool{}
	}
	if w.idOf[key][d.Version] == nil {
		w.idOf[key][d.Version] = map[string]bool{}
	}
	w.idOf[key][d.Version][d.ID] = true
	if cur, ok := w.latest[key]; !ok || d.Version > cur.Version {
		w.latest[key] = d
	}
}

func (w *attributionsWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records
}

func (w *attributionsWatch) state() (decided map[string]bool, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	decided = map[string]bool{}
	for k := range w.latest {
		decided[k] = true
	}
	return decided, w.last
}

// check reports content conflicts and versions with several ids or gaps,
// and returns the final decision of every install.
func (w *attributionsWatch) check(t *testing.T) (final map[string]codecs.Decision, records, ids int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.errs {
		t.Error(e)
	}
	for key, versions := range w.idOf {
		top := w.latest[key].Version
		for v := 1; v <= top; v++ {
			switch n := len(versions[v]); {
			case n == 0:
				t.Errorf("install %s: version %d missing (latest %d)", key, v, top)
			case n > 1:
				t.Errorf("install %s: version %d has %d ids", key, v, n)
			}
		}
	}
	final = make(map[string]codecs.Decision, len(w.latest))
	for k, d := range w.latest {
		final[k] = d
	}
	return final, w.records, len(w.byID)
}

func (w *attributionsWatch) close() {
	for _, pc := range w.pcs {
		pc.AsyncClose()
	}
	_ = w.consumer.Close()
}
