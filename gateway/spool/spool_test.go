package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

const waitFor = 15 * time.Second

// fakeSender is a broker the test switches up and down. It records what it
// acknowledged; a failed call records nothing.
type fakeSender struct {
	mu      sync.Mutex
	up      bool
	got     []stream.Record
	sends   int // acknowledged direct sends
	batches int // acknowledged SendAll calls
	// gate, when set, holds every SendAll until it is closed; blocked
	// counts the calls waiting on it.
	gate    chan struct{}
	blocked int
	// flipEvery, when > 0, switches availability after every flipEvery
	// calls.
	flipEvery int
	calls     int
	// partial makes that many SendAll calls write the first half of their
	// records and then fail.
	partial int
}

func newFake(up bool) *fakeSender { return &fakeSender{up: up} }

func (f *fakeSender) setUp(up bool) {
	f.mu.Lock()
	f.up = up
	f.flipEvery = 0
	f.mu.Unlock()
}

// admit counts a call and reports whether the broker is up; f.mu is held.
func (f *fakeSender) admit() bool {
	f.calls++
	up := f.up
	if f.flipEvery > 0 && f.calls%f.flipEvery == 0 {
		f.up = !f.up
	}
	return up
}

func (f *fakeSender) Send(ctx context.Context, rec stream.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.admit() {
		return stream.ErrNotReady
	}
	f.got = append(f.got, rec)
	f.sends++
	return nil
}

func (f *fakeSender) SendAll(ctx context.Context, recs []stream.Record) error {
	f.mu.Lock()
	gate := f.gate
	if gate != nil {
		f.blocked++
	}
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if gate != nil {
		f.blocked--
	}
	if !f.admit() {
		return stream.ErrNotReady
	}
	if f.partial > 0 {
		f.partial--
		f.got = append(f.got, recs[:len(recs)/2]...)
		return errors.New("broker: not enough replicas")
	}
	f.got = append(f.got, recs...)
	f.batches++
	return nil
}

func (f *fakeSender) received() []stream.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stream.Record(nil), f.got...)
}

func (f *fakeSender) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

var fastBackoff = WithBackoff(time.Millisecond, 20*time.Millisecond)

func openSpool(t testing.TB, dir string, s stream.Sender, opts ...Option) *Spool {
	t.Helper()
	sp, err := Open(dir, s, append([]Option{fastBackoff}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// startDrainer runs the drainer until the test ends; it fails the test if
// the drainer returns an error.
func startDrainer(t *testing.T, sp *Spool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("drainer: %v", err)
		}
	})
}

func rec(key string, seq int) stream.Record {
	return stream.Record{Topic: "installs", Key: key, Value: []byte(strconv.Itoa(seq)),
		Headers: map[string][]byte{"request-id": []byte(fmt.Sprintf("%s/%d", key, seq))}}
}

// checkSequences verifies that every key of want arrived with the values
// 0..want[key]-1 in order, exactly once, and nothing else arrived.
func checkSequences(t *testing.T, got []stream.Record, want map[string]int) {
	t.Helper()
	next := map[string]int{}
	for i, r := range got {
		seq, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("record %d: value %q", i, r.Value)
		}
		if _, ok := want[r.Key]; !ok {
			t.Fatalf("record %d: unexpected key %q", i, r.Key)
		}
		if seq != next[r.Key] {
			t.Fatalf("record %d: key %s got seq %d, want %d", i, r.Key, seq, next[r.Key])
		}
		if rid := string(r.Headers["request-id"]); rid != fmt.Sprintf("%s/%d", r.Key, seq) {
			t.Fatalf("record %d: header request-id %q", i, rid)
		}
		next[r.Key]++
	}
	for k, n := range want {
		if next[k] != n {
			t.Errorf("key %s: got %d records, want %d", k, next[k], n)
		}
	}
}

func waitEmpty(t *testing.T, sp *Spool) {
	t.Helper()
	poll.Until(t, waitFor, "the spool to drain", func() bool {
		n, b := sp.Len()
		return n == 0 && b == 0
	})
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, r := range []stream.Record{
		{},
		{Topic: "t", Key: "k", Value: []byte{}},
		{Topic: "t", Key: "", Value: nil, Headers: map[string][]byte{"a": nil, "b": {}, "c": []byte("x")}},
		{Topic: strings.Repeat("t", 300), Key: strings.Repeat("k", 70000), Value: bytes.Repeat([]byte{0, 1, 2}, 5000)},
	} {
		got, err := decode(encode(r))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if (r.Value == nil) != (got.Value == nil) {
			t.Errorf("nil value: want %v, got %v", r.Value == nil, got.Value == nil)
		}
		for k, v := range r.Headers {
			if (v == nil) != (got.Headers[k] == nil) {
				t.Errorf("header %s nil: want %v, got %v", k, v == nil, got.Headers[k] == nil)
			}
		}
	}
	enc := encode(rec("k", 1))
	for i := range enc {
		if _, err := decode(enc[:i]); !errors.Is(err, errCorrupt) {
			t.Errorf("truncated to %d bytes: err %v", i, err)
		}
	}
	if _, err := decode(append(enc, 0)); !errors.Is(err, errCorrupt) {
		t.Errorf("trailing byte: err %v", err)
	}
	bad := append([]byte{}, enc...)
	bad[0] = 9
	if _, err := decode(bad); !errors.Is(err, errCorrupt) {
		t.Errorf("unknown version: err %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(rec("k", 1)))
	f.Add(encode(stream.Record{Topic: "t"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decode(b)
		if err != nil {
			return
		}
		again, err := decode(encode(r))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("re-encoding changed the record:\n%s", diff)
		}
	})
}

func TestPublishDirect(t *testing.T) {
	f := newFake(true)
	sp := openSpool(t, t.TempDir(), f)
	startDrainer(t, sp)
	for i := range 10 {
		spooled, err := sp.Publish(context.Background(), rec("k", i))
		if err != nil || spooled {
			t.Fatalf("publish %d: spooled=%v err=%v", i, spooled, err)
		}
	}
	if n, b := sp.Len(); n != 0 || b != 0 {
		t.Errorf("Len = %d, %d; want empty", n, b)
	}
	if f.sends != 10 || f.batches != 0 {
		t.Errorf("sends=%d batches=%d; want 10 direct sends", f.sends, f.batches)
	}
	checkSequences(t, f.received(), map[string]int{"k": 10})
}

// publishAll publishes total records from goroutines goroutines, each
// spreading its share over keys keys and publishing every key's records in
// sequence; it fails the test on an error or, with wantSpooled, on a direct
// send. It returns the number of records per key.
func publishAll(t *testing.T, sp *Spool, goroutines, keys, total int, wantSpooled bool) map[string]int {
	t.Helper()
	share := func(g int) int {
		n := total / goroutines
		if g < total%goroutines {
			n++
		}
		return n
	}
	want := map[string]int{}
	for g := range goroutines {
		for i := range share(g) {
			want[fmt.Sprintf("g%d-k%d", g, i%keys)]++
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			next := make([]int, keys)
			for i := range share(g) {
				k := i % keys
				spooled, err := sp.Publish(context.Background(), rec(fmt.Sprintf("g%d-k%d", g, k), next[k]))
				if err != nil {
					errs <- fmt.Errorf("goroutine %d record %d: %w", g, i, err)
					return
				}
				if wantSpooled && !spooled {
					errs <- fmt.Errorf("goroutine %d record %d: sent directly during the outage", g, i)
					return
				}
				next[k]++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return want
}

func TestOutage(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := newFake(false)
	sp := openSpool(t, t.TempDir(), f, WithLogger(zap.New(core)))
	startDrainer(t, sp)

	const goroutines, keys, total = 64, 4, 10000
	want := publishAll(t, sp, goroutines, keys, total, true)
	if n, _ := sp.Len(); n != int64(total) {
		t.Fatalf("Len = %d records, want %d", n, total)
	}
	if got := f.count(); got != 0 {
		t.Fatalf("broker got %d records while down", got)
	}
	groups, grouped := sp.groups.Load(), sp.grouped.Load()
	t.Logf("%d records in %d fsync groups (mean %.1f)", grouped, groups, float64(grouped)/float64(groups))
	if groups >= grouped {
		t.Errorf("%d fsyncs for %d records: appends did not share fsyncs", groups, grouped)
	}

	f.setUp(true)
	waitEmpty(t, sp)
	checkSequences(t, f.received(), want)

	spooled, err := sp.Publish(context.Background(), rec("after", 0))
	if err != nil || spooled {
		t.Fatalf("publish after drain: spooled=%v err=%v; want direct", spooled, err)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("spooling").Len(); n != 1 {
		t.Errorf("%d warnings about spooling, want 1", n)
	}
	if n := logs.FilterLevelExact(zapcore.InfoLevel).FilterMessageSnippet("drained").Len(); n != 1 {
		t.Errorf("%d infos about the drained spool, want 1", n)
	}
}

// TestOrderAcrossSwitch publishes while spooled records are pending and the
// drainer is held inside SendAll: the new records must be appended after
// them, not sent directly.
func TestOrderAcrossSwitch(t *testing.T) {
	f := newFake(false)
	sp := openSpool(t, t.TempDir(), f)
	for i := range 10 {
		if spooled, err := sp.Publish(context.Background(), rec("k", i)); err != nil || !spooled {
			t.Fatalf("publish %d: spooled=%v err=%v", i, spooled, err)
		}
	}
	gate := make(chan struct{})
	f.mu.Lock()
	f.up, f.gate = true, gate
	f.mu.Unlock()
	startDrainer(t, sp)
	poll.Until(t, waitFor, "the drainer to send", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.blocked > 0
	})
	for i := 10; i < 20; i++ {
		if spooled, err := sp.Publish(context.Background(), rec("k", i)); err != nil || !spooled {
			t.Fatalf("publish %d while records are pending: spooled=%v err=%v", i, spooled, err)
		}
	}
	f.mu.Lock()
	f.gate = nil
	f.mu.Unlock()
	close(gate)
	waitEmpty(t, sp)
	if f.sends != 0 {
		t.Errorf("%d direct sends while records were pending", f.sends)
	}
	checkSequences(t, f.received(), map[string]int{"k": 20})
	if spooled, err := sp.Publish(context.Background(), rec("k", 20)); err != nil || spooled {
		t.Fatalf("publish after drain: spooled=%v err=%v; want direct", spooled, err)
	}
}

// TestFlappingBroker publishes from several goroutines while the broker
// goes up and down every few calls; every key must arrive complete and in
// order, whichever way each record took.
func TestFlappingBroker(t *testing.T) {
	f := newFake(true)
	f.flipEvery = 7
	sp := openSpool(t, t.TempDir(), f, WithBatch(16))
	startDrainer(t, sp)
	want := publishAll(t, sp, 16, 3, 16*300, false)
	f.setUp(true)
	waitEmpty(t, sp)
	if f.sends == 0 || f.batches == 0 {
		t.Errorf("sends=%d batches=%d; want both paths used", f.sends, f.batches)
	}
	checkSequences(t, f.received(), want)
}

func TestFull(t *testing.T) {
	f := newFake(false)
	size := int64(keyLen + len(encode(rec("k", 0))))
	sp := openSpool(t, t.TempDir(), f, WithMaxBytes(3*size))
	ctx := context.Background()
	for i := range 3 {
		if err := sp.Enqueue(ctx, rec("k", i)); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	if err := sp.Enqueue(ctx, rec("k", 3)); !errors.Is(err, ErrFull) {
		t.Fatalf("enqueue over the bound: err %v, want ErrFull", err)
	}
	if spooled, err := sp.Publish(ctx, rec("k", 3)); !errors.Is(err, ErrFull) || spooled {
		t.Fatalf("publish over the bound: spooled=%v err=%v, want ErrFull", spooled, err)
	}
	if n, b := sp.Len(); n != 3 || b != 3*size {
		t.Fatalf("Len = %d, %d; want 3, %d", n, b, 3*size)
	}
	f.setUp(true)
	startDrainer(t, sp)
	waitEmpty(t, sp)
	checkSequences(t, f.received(), map[string]int{"k": 3})
	f.setUp(false)
	for i := 3; i < 6; i++ {
		if err := sp.Enqueue(ctx, rec("k", i)); err != nil {
			t.Fatalf("enqueue %d after draining: %v", i, err)
		}
	}
	big := stream.Record{Topic: "t", Value: make([]byte, 4*size)}
	f.setUp(true)
	waitEmpty(t, sp)
	f.setUp(false)
	if spooled, err := sp.Publish(ctx, big); !errors.Is(err, ErrFull) || spooled {
		t.Fatalf("record larger than the bound: spooled=%v err=%v, want ErrFull", spooled, err)
	}
	checkSequences(t, f.received(), map[string]int{"k": 6})
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	down := newFake(false)
	sp, err := Open(dir, down, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	want := publishAll(t, sp, 8, 2, 1000, true)
	size := func() int64 { _, b := sp.Len(); return b }()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Publish(context.Background(), rec("x", 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}

	up := newFake(true)
	sp = openSpool(t, dir, up)
	if n, b := sp.Len(); n != 1000 || b != size {
		t.Fatalf("after reopen Len = %d, %d; want 1000, %d", n, b, size)
	}
	// Records published before the drainer ran go behind the old ones.
	for i := range 5 {
		if spooled, err := sp.Publish(context.Background(), rec("late", i)); err != nil || !spooled {
			t.Fatalf("publish %d: spooled=%v err=%v", i, spooled, err)
		}
	}
	want["late"] = 5
	startDrainer(t, sp)
	waitEmpty(t, sp)
	got := up.received()
	checkSequences(t, got, want)
	for _, r := range got[:1000] {
		if r.Key == "late" {
			t.Fatal("a record published after the restart overtook older ones")
		}
	}
}

func TestRunAndComponent(t *testing.T) {
	f := newFake(true)
	sp := openSpool(t, t.TempDir(), f)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- sp.Component("spool").Run(ctx, func() { close(ready) }) }()
	<-ready
	if err := sp.Enqueue(ctx, rec("k", 0)); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, sp)
	poll.Until(t, waitFor, "the drainer to run", func() bool { return sp.running.Load() })
	if err := sp.Run(ctx); !errors.Is(err, errRunning) {
		t.Errorf("second Run: %v, want errRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	// Close stops a running drainer.
	go func() { done <- sp.Run(context.Background()) }()
	poll.Until(t, waitFor, "the drainer to run", func() bool { return sp.running.Load() })
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	f := newFake(false)
	size := int64(keyLen + len(encode(rec("k", 0))))
	sp := openSpool(t, t.TempDir(), f, WithMeter(mp.Meter("spool")), WithMaxBytes(5*size))
	ctx := context.Background()
	for i := range 5 {
		if _, err := sp.Publish(ctx, rec("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.Publish(ctx, rec("k", 5)); !errors.Is(err, ErrFull) {
		t.Fatalf("err %v, want ErrFull", err)
	}
	values := func() map[string]int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Gauge[int64]:
					out[m.Name] = d.DataPoints[0].Value
				case metricdata.Sum[int64]:
					out[m.Name] = d.DataPoints[0].Value
				case metricdata.Histogram[int64]:
					out[m.Name] = int64(d.DataPoints[0].Sum)
				}
			}
		}
		return out
	}
	want := map[string]int64{"hazelnut.spool.records": 5, "hazelnut.spool.bytes": 5 * size,
		"hazelnut.spool.appended": 5, "hazelnut.spool.full": 1, "hazelnut.spool.fsync.group_size": 5}
	if diff := cmp.Diff(want, values()); diff != "" {
		t.Errorf("metrics while spooling (-want +got):\n%s", diff)
	}
	f.setUp(true)
	startDrainer(t, sp)
	waitEmpty(t, sp)
	if _, err := sp.Publish(ctx, rec("k", 5)); err != nil {
		t.Fatal(err)
	}
	got := values()
	if got["hazelnut.spool.records"] != 0 || got["hazelnut.spool.bytes"] != 0 || got["hazelnut.spool.drained"] != 5 ||
		got["hazelnut.spool.direct"] != 1 {
		t.Errorf("metrics after draining: %v", got)
	}
}

func TestContext(t *testing.T) {
	f := newFake(false)
	sp := openSpool(t, t.TempDir(), f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sp.Enqueue(ctx, rec("k", 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("enqueue with a cancelled context: %v", err)
	}
	if n, _ := sp.Len(); n != 0 {
		t.Fatalf("Len = %d after a cancelled enqueue, want 0", n)
	}
	// The direct send fails with the cancelled context, but the record may
	// have reached the broker: it is spooled all the same.
	if spooled, err := sp.Publish(ctx, rec("k", 0)); err != nil || !spooled {
		t.Fatalf("publish with a cancelled context: spooled=%v err=%v", spooled, err)
	}
	if n, _ := sp.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

// TestPartialBatchRetried fails batches after half of their records were
// written: the batch is retried whole, so those records arrive twice, and
// nothing is lost or reordered.
func TestPartialBatchRetried(t *testing.T) {
	f := newFake(false)
	sp := openSpool(t, t.TempDir(), f, WithBatch(10))
	for i := range 30 {
		if err := sp.Enqueue(context.Background(), rec("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.up, f.partial = true, 3
	f.mu.Unlock()
	startDrainer(t, sp)
	waitEmpty(t, sp)
	var seqs []int
	for _, r := range f.received() {
		n, _ := strconv.Atoi(string(r.Value))
		seqs = append(seqs, n)
	}
	var want []int
	for i := range 5 {
		want = append(want, i) // three partial writes of the first batch
	}
	want = append(want, want...)
	want = append(want, want[:5]...)
	for i := range 30 {
		want = append(want, i)
	}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("received sequences (-want +got):\n%s", diff)
	}
}

// A record that cannot be decoded does not hold up the ones behind it: it
// is moved to quarantine, and the rest are published in order.
func TestUndecodableRecordQuarantined(t *testing.T) {
	dir := t.TempDir()
	sp, err := Open(dir, newFake(false), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := sp.Enqueue(context.Background(), rec("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Spoil the third record (sequence 3) where it lies.
	key := make([]byte, keyLen)
	key[0] = recordPrefix
	binary.BigEndian.PutUint64(key[1:], 3)
	if err := sp.db.Set(key, []byte{0x7f, 1, 2}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	up := newFake(true)
	sp = openSpool(t, dir, up)
	startDrainer(t, sp)
	waitEmpty(t, sp)
	var seqs []string
	for _, r := range up.received() {
		seqs = append(seqs, string(r.Value))
	}
	want := []string{string(rec("k", 0).Value), string(rec("k", 1).Value), string(rec("k", 3).Value), string(rec("k", 4).Value), string(rec("k", 5).Value)}
	if !slices.Equal(seqs, want) {
		t.Fatalf("published %q, want %q", seqs, want)
	}
	qkey := append([]byte{quarantinePrefix}, key[1:]...)
	v, closer, err := sp.db.Get(qkey)
	if err != nil {
		t.Fatalf("quarantined record: %v", err)
	}
	defer closer.Close()
	if !bytes.Equal(v, []byte{0x7f, 1, 2}) {
		t.Fatalf("quarantined %x", v)
	}
	// Publishing goes on directly afterwards.
	if spooled, err := sp.Publish(context.Background(), rec("after", 0)); err != nil || spooled {
		t.Fatalf("publish after quarantine: spooled=%v err=%v", spooled, err)
	}
}
