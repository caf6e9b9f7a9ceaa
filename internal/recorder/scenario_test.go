package recorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

const (
	partitions = 4
	keys       = 40
)

// child is one recorder instance in its own process.
type child struct {
	t        *testing.T
	name     string
	cmd      *exec.Cmd
	ready    chan struct{}
	exited   chan error
	dumpFile string
	logFile  string
}

type cluster struct {
	t       *testing.T
	brokers []string
	names   Names
	suffix  string
	dir     string
}

func (c *cluster) start(name string) *child {
	c.t.Helper()
	ch := &child{t: c.t, name: name, ready: make(chan struct{}), exited: make(chan error, 1),
		dumpFile: filepath.Join(c.dir, name+".dump.json"), logFile: filepath.Join(c.dir, name+".log")}
	_ = os.Remove(ch.dumpFile)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envBrokers+"="+joinComma(c.brokers), envSuffix+"="+c.suffix,
		envData+"="+filepath.Join(c.dir, name+"-tables"), envInstance+"="+name, envDump+"="+ch.dumpFile,
		envKeys+"="+strconv.Itoa(keys))
	logf, err := os.OpenFile(ch.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = logf
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	ch.cmd = cmd
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ch.ready)
			}
		}
	}()
	go func() { ch.exited <- cmd.Wait(); logf.Close() }()
	c.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return ch
}

func (ch *child) waitReady() {
	ch.t.Helper()
	select {
	case <-ch.ready:
	case err := <-ch.exited:
		ch.t.Fatalf("%s exited before it was ready: %v\n%s", ch.name, err, ch.log())
	case <-time.After(120 * time.Second):
		ch.t.Fatalf("%s not ready within 120s\n%s", ch.name, ch.log())
	}
}

func (ch *child) log() string {
	b, _ := os.ReadFile(ch.logFile)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop sends SIGTERM and waits for a clean exit; the child dumps its keys.
func (ch *child) stop() map[string]*State {
	ch.t.Helper()
	_ = ch.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-ch.exited:
		if err != nil {
			ch.t.Fatalf("%s did not stop cleanly: %v\n%s", ch.name, err, ch.log())
		}
	case <-time.After(60 * time.Second):
		ch.t.Fatalf("%s did not stop within 60s\n%s", ch.name, ch.log())
	}
	var dump map[string]*State
	b, err := os.ReadFile(ch.dumpFile)
	if err != nil {
		ch.t.Fatalf("%s wrote no dump: %v", ch.name, err)
	}
	if err := json.Unmarshal(b, &dump); err != nil {
		ch.t.Fatal(err)
	}
	return dump
}

func (ch *child) kill() {
	_ = ch.cmd.Process.Signal(syscall.SIGKILL)
	<-ch.exited
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}

// feeder produces inputs with goka's hasher, as every Hazelnut producer does.
type feeder struct {
	t     *testing.T
	p     sarama.SyncProducer
	topic string
	rng   *rand.Rand
	next  int
	good  []string
	bad   []string
	mu    sync.Mutex
}

func newFeeder(t *testing.T, kafka stream.Kafka, topic string, seed uint64) *feeder {
	cfg := kafka.ProducerConfig(kafka.ClientID("recorder-feeder"))
	p, err := sarama.NewSyncProducer(kafka.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &feeder{t: t, p: p, topic: topic, rng: rand.New(rand.NewPCG(seed, 1))}
}

// feed sends n inputs in small batches spread over d, with the odd bad
// record between good ones.
func (f *feeder) feed(n int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	const batch = 25
	pause := d / time.Duration(max(1, n/batch))
	for sent := 0; sent < n; {
		var msgs []*sarama.ProducerMessage
		for ; sent < n && len(msgs) < batch; sent++ {
			key := Key(f.rng.IntN(keys))
			if f.rng.IntN(200) == 0 {
				v := fmt.Sprintf("bad-%d", f.next)
				f.bad = append(f.bad, v)
				msgs = append(msgs, &sarama.ProducerMessage{Topic: f.topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(v)})
			}
			id := fmt.Sprintf("m-%05d", f.next)
			f.next++
			f.good = append(f.good, id)
			b, _ := json.Marshal(Input{ID: id})
			msgs = append(msgs, &sarama.ProducerMessage{Topic: f.topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(b)})
		}
		if err := f.p.SendMessages(msgs); err != nil {
			f.t.Errorf("produce: %v", err)
			return
		}
		time.Sleep(pause)
	}
}

// collector reads a topic from the start on every partition.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	raw  []string
}

func collect(t *testing.T, kafka stream.Kafka, topic string, decode func([]byte) string) *collector {
	c := &collector{seen: map[string]int{}}
	cons, err := sarama.NewConsumer(kafka.Brokers, kafka.Sarama(kafka.ClientID("recorder-collector")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cons.Close() })
	for p := range int32(partitions) {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for m := range pc.Messages() {
				id := decode(m.Value)
				c.mu.Lock()
				c.seen[id]++
				c.mu.Unlock()
			}
		}()
	}
	return c
}

func (c *collector) missing(ids []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range ids {
		if c.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// tableState reads the group table from its changelog with a fresh view.
func tableState(t *testing.T, kafka stream.Kafka, n Names) map[string]*State {
	v, err := goka.NewView(kafka.Brokers, n.Table(), new(codecs.JSON[State]),
		kafka.ViewOptions("recorder-check", storage.MemoryBuilder(), 1)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	select {
	case <-v.WaitRunning():
	case err := <-done:
		t.Fatalf("view: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("view did not recover")
	}
	out := map[string]*State{}
	for i := range keys {
		val, err := v.Get(Key(i))
		if err != nil {
			t.Fatal(err)
		}
		if val != nil {
			out[Key(i)] = val.(*State)
		}
	}
	cancel()
	<-done
	return out
}

// runScenario: instance a starts; b joins mid-stream; a stops cleanly; a
// comes back; b is killed with SIGKILL mid-stream and restarted on its
// data dir. Every input must be applied exactly once to the table and every
// output must arrive (deduplicated by id); bad records go to the DLQ.
func runScenario(t *testing.T, brokers []string, seed uint64) {
	suffix := fmt.Sprintf("%d-%d", seed, time.Now().UnixNano())
	c := &cluster{t: t, brokers: brokers, names: NamesFor(suffix), suffix: suffix, dir: t.TempDir()}
	kafka := stream.Kafka{Brokers: brokers}
	if err := kafka.EnsureTopics(context.Background(), Topics(c.names, partitions)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	jitter := func(d time.Duration) time.Duration { return d/2 + time.Duration(rng.Int64N(int64(d))) }
	f := newFeeder(t, kafka, string(c.names.In), seed)
	outs := collect(t, kafka, string(c.names.Out), func(b []byte) string {
		o, err := codecs.Decode[Output](b)
		if err != nil {
			return "undecodable"
		}
		return o.ID
	})
	dlq := collect(t, kafka, string(c.names.DLQ()), func(b []byte) string { return string(b) })

	feedAsync := func(n int, d time.Duration) chan struct{} {
		done := make(chan struct{})
		go func() { f.feed(n, d); close(done) }()
		return done
	}

	// Inputs written before the group ever ran must not be skipped.
	f.feed(300, 0)
	a := c.start("a")
	a.waitReady()
	fed := feedAsync(600, 3*time.Second)
	time.Sleep(jitter(time.Second))
	b := c.start("b") // joins mid-stream
	b.waitReady()
	<-fed

	fed = feedAsync(600, 3*time.Second)
	time.Sleep(jitter(time.Second))
	a.stop() // clean stop mid-stream
	<-fed

	a = c.start("a") // back on its data dir
	a.waitReady()
	fed = feedAsync(1500, 1500*time.Millisecond)
	time.Sleep(jitter(700 * time.Millisecond))
	b.kill() // SIGKILL mid-stream, while inputs arrive fast
	<-fed
	b = c.start("b") // restarts on the data dir it was killed with
	b.waitReady()
	if full, _ := os.ReadFile(b.logFile); !strings.Contains(string(full), "discarding local table state left by an unclean stop") {
		t.Errorf("b did not discard the state it was killed with:\n%s", b.log())
	}
	<-feedAsync(200, time.Second)

	deadline := time.Now().Add(120 * time.Second)
	for len(outs.missing(f.good)) > 0 {
		if time.Now().After(deadline) {
			m := outs.missing(f.good)
			t.Fatalf("%d of %d outputs never arrived, e.g. %v\na: %s\nb: %s", len(m), len(f.good), head(m), a.log(), b.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	poll.Until(t, 60*time.Second, "every bad record in the DLQ", func() bool { return len(dlq.missing(f.bad)) == 0 })

	dumpA, dumpB := a.stop(), b.stop()
	table := tableState(t, kafka, c.names)

	// Every id exactly once in the table.
	count := map[string]int{}
	for _, st := range table {
		for _, id := range st.IDs {
			count[id]++
		}
	}
	var lost, twice []string
	for _, id := range f.good {
		switch count[id] {
		case 0:
			lost = append(lost, id)
		case 1:
		default:
			twice = append(twice, id)
		}
	}
	if len(lost) > 0 || len(twice) > 0 || len(count) != len(f.good) {
		sort.Strings(lost)
		t.Fatalf("table: %d of %d ids lost %v, %d applied twice %v, %d distinct",
			len(lost), len(f.good), head(lost), len(twice), head(twice), len(count))
	}
	// The instances' local tables equal the changelog.
	for name, dump := range map[string]map[string]*State{"a": dumpA, "b": dumpB} {
		for k, st := range dump {
			if fmt.Sprint(st.IDs) != fmt.Sprint(table[k].IDs) {
				t.Errorf("instance %s key %s: local %v, changelog %v", name, k, st.IDs, table[k].IDs)
			}
		}
	}
	if len(dumpA)+len(dumpB) != len(table) {
		t.Errorf("instances hold %d+%d keys, changelog %d", len(dumpA), len(dumpB), len(table))
	}
	dups := 0
	for _, n := range outs.seen {
		dups += n - 1
	}
	t.Logf("seed %d: %d inputs, %d bad, outputs %d distinct with %d duplicates", seed, len(f.good), len(f.bad), len(outs.seen), dups)
}

func head(s []string) []string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

func TestExactlyOnceEmbedded(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			emb, err := stream.StartEmbedded(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer emb.Close()
			runScenario(t, emb.Brokers(), seed)
		})
	}
}
