package recorder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/internal/simulate"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/clicks"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"
	"github.com/hazelnut-mmp/hazelnut/processors/touchpoints"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// TestAttributionStream measures attribution through every group of
// pipeline.Names() (step 6). Long: runs only with HAZELNUT_LONG=1, on the
// embedded broker, or on Kafka when HAZELNUT_KAFKA_BROKERS is set (a fresh
// cluster: the pipeline's topic and group names are fixed).
//
//  1. The table-only ceiling of BenchmarkCeiling on the same broker, first.
//  2. Throughput: a simulate workload (HAZELNUT_SIM_INSTALLS installs,
//     default 100,000, with 5 clicks each on average) is preloaded, clicks
//     then installs. The click-side groups (every group but attribution)
//     start first; once they have indexed every click the attribution group
//     starts on the installs already waiting. Reported: clicks indexed/s,
//     decided installs/s (first decision to every install decided), records
//     produced per install (high-water marks over every topic but inputs and
//     ticks, during the decide phase) and the ratio to the ceiling.
//  3. Latency: a second workload (HAZELNUT_SIM_PACED installs, default
//     20,000) has its clicks preloaded and indexed on top of the first, then
//     its installs are published at HAZELNUT_SIM_RATE/s (default 1,000),
//     received_at stamped at publication; reported: p50/p99 of received_at
//     to the decision read on `attributions` (wall clock).
//
// Other knobs: HAZELNUT_SIM_PARTITIONS (default 4, as the ceiling),
// HAZELNUT_SIM_CEILING (ceiling records, default 300,000),
// HAZELNUT_SIM_SWEEP_PAUSE (a duration: the least time between two sweeps
// of the expiring groups, instead of clock.DefaultSweepPause; a diagnostic),
// HAZELNUT_SIM_CPUPROFILE=path (CPU profiles of the indexing and the decide
// phases alone, to path.clicks and path.decide), HAZELNUT_SIM_BROKER_DISK=1
// (the embedded broker keeps its log in files, as `hazelnut dev` does,
// instead of in memory).
func TestAttributionStream(t *testing.T) {
	if kafka := long(t); kafka != nil {
		t.Run("kafka", func(t *testing.T) { measureAttribution(t, kafka, false) })
		return
	}
	t.Run("embedded", func(t *testing.T) {
		dir := ""
		if os.Getenv("HAZELNUT_SIM_BROKER_DISK") == "1" {
			dir = t.TempDir()
		}
		emb, err := stream.StartEmbedded(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer emb.Close()
		measureAttribution(t, emb.Brokers(), true)
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// running is a supervisor run that can be stopped.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func (r running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("supervisor: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("supervisor did not stop in 1 min")
	}
}

func runComponents(comps ...stream.Component) running {
	ctx, cancel := context.WithCancel(context.Background())
	r := running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- stream.NewSupervisor(zap.NewNop()).Run(ctx, comps...) }()
	return r
}

// measureAttribution runs the measurements against brokers; embedded says
// the broker is the in-process one, which, as in `hazelnut dev`, gets
// uncompressed batches.
func measureAttribution(t *testing.T, brokers []string, embedded bool) {
	var (
		nInstalls = envInt("HAZELNUT_SIM_INSTALLS", 100_000)
		nPaced    = envInt("HAZELNUT_SIM_PACED", 20_000)
		rate      = envInt("HAZELNUT_SIM_RATE", 1000)
		parts     = envInt("HAZELNUT_SIM_PARTITIONS", partitions)
		nCeiling  = envInt("HAZELNUT_SIM_CEILING", 300_000)
	)
	ctx := context.Background()
	kafka := stream.Kafka{Brokers: brokers, Partitions: parts, Replication: 1, Uncompressed: embedded}
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	off, err := simulate.NewOffsets(kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if n, _ := off.HighWater(simulate.InstallsTopic); n > 0 {
		t.Fatalf("topic installs already holds %d records: the measurement needs a fresh broker", n)
	}

	// 1. The ceiling, on the same broker before anything else runs.
	cpu0 := cpuTime()
	ceiling := ceilingRun(t, stream.Kafka{Brokers: kafka.Brokers, Uncompressed: kafka.Uncompressed}, nCeiling, func() {})
	t.Logf("ceiling (table-only processor, %d records, %d partitions): %.0f records/s; process CPU with the preload %s (%.0f µs per record)",
		nCeiling, partitions, ceiling, (cpuTime() - cpu0).Round(time.Millisecond), float64((cpuTime()-cpu0).Microseconds())/float64(nCeiling))

	prod, stopProd, err := simulate.Connect(ctx, kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stopProd(); err != nil {
			t.Error(err)
		}
	}()

	// 2. Throughput.
	w := simulate.Generate(simulate.Config{Seed: 1, Installs: nInstalls, Spacing: time.Millisecond})
	start := time.Now()
	if err := simulate.PreloadClicks(ctx, prod, w); err != nil {
		t.Fatal(err)
	}
	t.Logf("preloaded %d clicks in %s", len(w.Clicks), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := simulate.PreloadInstalls(ctx, prod, w); err != nil {
		t.Fatal(err)
	}
	t.Logf("preloaded %d installs in %s", len(w.Installs), time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	var deps processors.Deps
	if d, err := time.ParseDuration(os.Getenv("HAZELNUT_SIM_SWEEP_PAUSE")); err == nil {
		deps.Sweep.Pause = d // a diagnostic: what the sweeps cost
		t.Logf("sweeps at most every %s", d)
	}
	var clickSide, decideSide []string
	for _, name := range pipeline.Names() {
		if name == string(attribution.Group) {
			decideSide = append(decideSide, name)
		} else {
			clickSide = append(clickSide, name)
		}
	}
	t.Logf("groups: click side %v, then %v", clickSide, decideSide)
	build := func(names []string) []stream.Component {
		comps, err := pipeline.Components(names, pipeline.Config{Kafka: kafka, Deps: deps, Dir: dir, Replication: 1})
		if err != nil {
			t.Fatal(err)
		}
		return comps
	}
	hw0 := highWaters(t, off)
	stopProfile := profile(t, "clicks")
	cpu0 = cpuTime()
	clickRun := runComponents(append(build(clickSide), clock.Ticker(kafka, clock.TickerConfig{}))...)
	defer clickRun.stop(t)
	indexed := waitIndexed(t, off, hw0, clickSide)
	stopProfile()
	clickCPU := cpuTime() - cpu0
	hw1 := highWaters(t, off)
	clickRate := float64(len(w.Clicks)) / indexed.Seconds()
	t.Logf("clicks indexed: %d in %s from the first click-side output: %.0f clicks/s; process CPU %s (%.0f µs per click); click-side records %s",
		len(w.Clicks), indexed.Round(time.Millisecond), clickRate, clickCPU.Round(time.Millisecond),
		float64(clickCPU.Microseconds())/float64(len(w.Clicks)), describe(delta(hw0, hw1), len(w.Clicks), "click"))

	dec, err := simulate.Watch(kafka, "")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	stopProfile = profile(t, "decide")
	cpu0 = cpuTime()
	decideRun := runComponents(build(decideSide)...)
	defer decideRun.stop(t)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	err = dec.Wait(wctx, len(w.Installs))
	cancel()
	stopProfile()
	decideCPU := cpuTime() - cpu0
	if err != nil {
		t.Fatal(err)
	}
	first, last := dec.Span()
	decideRate := float64(len(w.Installs)-1) / last.Sub(first).Seconds()
	ok, wrong := dec.Check(w)
	_, decRecords := dec.Count()
	hw2 := waitQuiet(t, off)
	perInstall := delta(hw1, hw2)
	var total int64
	for _, n := range perInstall {
		total += n
	}
	t.Logf("decided: %d installs in %s from the first decision: %.0f installs/s (%.3f of the ceiling); process CPU from the group's start %s (%.0f µs per install); %d decision records; %d of %d as expected %v",
		len(w.Installs), last.Sub(first).Round(time.Millisecond), decideRate, decideRate/ceiling, decideCPU.Round(time.Millisecond),
		float64(decideCPU.Microseconds())/float64(len(w.Installs)), decRecords, ok, len(w.Installs), wrong)
	t.Logf("records produced per install: %.2f — %s", float64(total)/float64(len(w.Installs)), describe(perInstall, len(w.Installs), "install"))
	outputs := slices.Sorted(maps.Keys(perInstall))
	sizes := recordBytes(t, kafka, outputs, 500)
	var bytesPer float64
	var byTopic []string
	for _, topic := range outputs {
		b := sizes[topic] * float64(perInstall[topic]) / float64(len(w.Installs))
		bytesPer += b
		byTopic = append(byTopic, fmt.Sprintf("%s %.0f (%.0f B each)", topic, b, sizes[topic]))
	}
	t.Logf("bytes produced per install (key and value, sized on the newest 500 records of each partition): %.0f — %s", bytesPer, strings.Join(byTopic, ", "))
	if ok != len(w.Installs) {
		t.Errorf("%d installs decided otherwise than expected, e.g. %v", len(w.Installs)-ok, wrong)
	}

	// 3. Latency at a fixed rate, against the clicks indexed so far plus
	// the paced workload's own.
	pw := simulate.Generate(simulate.Config{Seed: 2, Prefix: "pace", Space: 1, Installs: nPaced})
	if err := simulate.PreloadClicks(ctx, prod, pw); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, off, hw2, clickSide)
	start = time.Now()
	if err := simulate.Pace(ctx, prod, pw, float64(rate)); err != nil {
		t.Fatal(err)
	}
	published := time.Since(start)
	wctx, cancel = context.WithTimeout(ctx, 10*time.Minute)
	err = dec.Wait(wctx, len(w.Installs)+len(pw.Installs))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	lat := dec.Latencies(pw)
	ok, wrong = dec.Check(pw)
	t.Logf("paced: %d installs published in %s (%.0f/s); received_at → decision p50 %s, p90 %s, p99 %s, max %s; %d of %d as expected %v",
		len(pw.Installs), published.Round(time.Millisecond), float64(len(pw.Installs))/published.Seconds(),
		simulate.Percentile(lat, 50).Round(100*time.Microsecond), simulate.Percentile(lat, 90).Round(100*time.Microsecond),
		simulate.Percentile(lat, 99).Round(100*time.Microsecond), simulate.Percentile(lat, 100).Round(100*time.Microsecond),
		ok, len(pw.Installs), wrong)
	if ok != len(pw.Installs) {
		t.Errorf("paced: %d installs decided otherwise than expected, e.g. %v", len(pw.Installs)-ok, wrong)
	}
	if err := dec.Err(); err != nil {
		t.Errorf("watch: %v", err)
	}
	t.Logf("SUMMARY partitions=%d clicks=%d installs=%d ceiling=%.0f/s clicks_indexed=%.0f/s (%.0fµs cpu) decided=%.0f/s (%.0fµs cpu) ratio=%.3f records_per_install=%.2f paced=%d@%d/s p50=%s p99=%s",
		parts, len(w.Clicks), len(w.Installs), ceiling, clickRate, float64(clickCPU.Microseconds())/float64(len(w.Clicks)),
		decideRate, float64(decideCPU.Microseconds())/float64(len(w.Installs)), decideRate/ceiling,
		float64(total)/float64(len(w.Installs)), len(pw.Installs), rate,
		simulate.Percentile(lat, 50).Round(100*time.Microsecond), simulate.Percentile(lat, 99).Round(100*time.Microsecond))
}

// profile writes a CPU profile of one phase to
// $HAZELNUT_SIM_CPUPROFILE.<phase> when that is set, until the returned
// func is called.
func profile(t testing.TB, phase string) func() {
	path := os.Getenv("HAZELNUT_SIM_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + phase)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Logf("no profile of phase %s: %v", phase, err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// cpuTime is the CPU time (user and system) of the process so far: the
// groups, the broker when embedded, and the test's own readers.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// notCounted are the topics whose records are not outputs of the groups.
var notCounted = map[string]bool{simulate.ClicksTopic: true, simulate.InstallsTopic: true, string(clock.Ticks): true, "__consumer_offsets": true}

func highWaters(t testing.TB, off *simulate.Offsets) map[string]int64 {
	t.Helper()
	hw, err := off.HighWaters()
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

// delta is, per output topic, how many records it gained from a to b.
func delta(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for topic, n := range b {
		if d := n - a[topic]; d > 0 && !notCounted[topic] && !strings.HasPrefix(topic, "ceiling-") {
			out[topic] = d
		}
	}
	return out
}

// describe lists the records per topic, per unit.
func describe(d map[string]int64, units int, unit string) string {
	var parts []string
	for _, topic := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", topic, float64(d[topic])/float64(units)))
	}
	return fmt.Sprintf("per %s: %s", unit, strings.Join(parts, ", "))
}

// waitIndexed waits until the clicks and touchpoints groups (when they
// run) have committed every click and every touchpoint update, and returns
// the time from the first click-side output after base to then.
func waitIndexed(t testing.TB, off *simulate.Offsets, base map[string]int64, clickSide []string) time.Duration {
	t.Helper()
	type input struct{ group, topic string }
	var inputs []input
	if slices.Contains(clickSide, string(clicks.Group)) {
		inputs = append(inputs, input{string(clicks.Group), string(clicks.Clicks)})
	}
	if slices.Contains(clickSide, string(touchpoints.Group)) {
		inputs = append(inputs, input{string(touchpoints.Group), string(touchpoints.Updates)})
	}
	if len(inputs) == 0 {
		t.Log("no click-side group runs: nothing indexes clicks")
		return 0
	}
	var first time.Time
	indexed := func() bool {
		if first.IsZero() {
			if n, err := off.HighWater(string(clicks.TouchpointUpdates)); err == nil && n > base[string(clicks.TouchpointUpdates)] {
				first = time.Now()
			}
			return false
		}
		for _, in := range inputs {
			hw, err := off.HighWater(in.topic)
			if err != nil {
				t.Fatal(err)
			}
			c, err := off.Committed(in.group, in.topic)
			if err != nil {
				t.Fatal(err)
			}
			if c < hw {
				return false
			}
		}
		return true
	}
	// Checked every 100 ms: each check asks the broker for every partition.
	if !poll.Every(context.Background(), 30*time.Minute, 100*time.Millisecond, indexed) {
		t.Fatal("clicks not indexed in 30 min")
	}
	return time.Since(first)
}

// waitQuiet waits until no output topic grew for 2 s (the last releases
// and projections after the last decision) and returns the high waters.
func waitQuiet(t testing.TB, off *simulate.Offsets) map[string]int64 {
	t.Helper()
	var prev map[string]int64
	// Checked every 2 s: quiet means no growth between two checks.
	quiet := func() bool {
		cur := highWaters(t, off)
		grew := prev == nil || len(delta(prev, cur)) > 0
		prev = cur
		return !grew
	}
	if !poll.Every(context.Background(), 2*time.Minute, 2*time.Second, quiet) {
		t.Log("outputs still growing after 2 min; counting what is there")
	}
	return prev
}

// recordBytes samples the newest records (up to n per partition) of each of
// topics and returns their mean size, key and value, per topic.
func recordBytes(t testing.TB, kafka stream.Kafka, topics []string, n int64) map[string]float64 {
	t.Helper()
	client, err := sarama.NewClient(kafka.Brokers, kafka.Sarama(kafka.ClientID("bench-bytes")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]float64{}
	for _, topic := range topics {
		ps, err := c.Partitions(topic)
		if err != nil {
			t.Fatal(err)
		}
		var size, count int64
		for _, p := range ps {
			newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				t.Fatal(err)
			}
			oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			from := max(oldest, newest-n)
			if from >= newest {
				continue
			}
			pc, err := c.ConsumePartition(topic, p, from)
			if err != nil {
				t.Fatal(err)
			}
			for m := range pc.Messages() {
				size += int64(len(m.Key) + len(m.Value))
				count++
				if m.Offset >= newest-1 {
					break
				}
			}
			_ = pc.Close()
		}
		if count > 0 {
			out[topic] = float64(size) / float64(count)
		}
	}
	return out
}
