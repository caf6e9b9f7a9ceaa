package spool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// TestCrashKeepsAcknowledgedRecords takes crash images of the file system
// (only synced data, plus a random share of unsynced data) while many
// goroutines append through the grouped fsync path. Every record whose
// Enqueue or Publish had returned before an image was taken must come out of
// that image, in per-key order.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	fs := vfs.NewCrashableMem()
	const dir = "spool"
	sp := openSpool(t, dir, newFake(false), WithFS(fs))

	const goroutines, perGoroutine = 32, 60
	var mu sync.Mutex
	acked := map[string]int{} // key → records returned so far
	type image struct {
		fs    *vfs.MemFS
		acked map[string]int
	}
	var images []image
	crash := func(unsynced int) {
		mu.Lock()
		snap := make(map[string]int, len(acked))
		for k, n := range acked {
			snap[k] = n
		}
		mu.Unlock()
		cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced}
		if unsynced > 0 {
			cfg.RNG = rand.New(rand.NewPCG(uint64(len(images)), 1))
		}
		images = append(images, image{fs: fs.CrashClone(cfg), acked: snap})
	}

	var wg sync.WaitGroup
	progress := make(chan struct{}, goroutines*perGoroutine)
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			key := fmt.Sprintf("g%d", g)
			for i := range perGoroutine {
				var err error
				if g%2 == 0 {
					err = sp.Enqueue(context.Background(), rec(key, i))
				} else {
					_, err = sp.Publish(context.Background(), rec(key, i))
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked[key] = i + 1
				mu.Unlock()
				progress <- struct{}{}
			}
		})
	}
	// Crash images while appends are in flight, after every few hundred
	// acknowledged records.
	for i := 1; i <= goroutines*perGoroutine; i++ {
		<-progress
		if i%400 == 0 {
			crash(50 * (i / 400 % 2))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	crash(0)
	if groups, grouped := sp.groups.Load(), sp.grouped.Load(); groups >= grouped {
		t.Errorf("%d fsyncs for %d records: the grouped path was not exercised", groups, grouped)
	}

	for n, img := range images {
		t.Run(fmt.Sprintf("image%d", n), func(t *testing.T) {
			up := newFake(true)
			re := openSpool(t, dir, up, WithFS(img.fs))
			records, _ := re.Len()
			total := 0
			for _, c := range img.acked {
				total += c
			}
			if records < int64(total) {
				t.Fatalf("image holds %d records, %d were acknowledged before it was taken", records, total)
			}
			startDrainer(t, re)
			waitEmpty(t, re)
			checkPrefixes(t, up.received(), img.acked)
		})
	}
}

// checkPrefixes verifies that each key's records arrived in sequence order
// without gaps and that at least acked[key] of them arrived.
func checkPrefixes(t *testing.T, got []stream.Record, acked map[string]int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range got {
		seen[r.Key]++
	}
	want := map[string]int{}
	for k, n := range seen {
		want[k] = n
	}
	checkSequences(t, got, want)
	for k, n := range acked {
		if seen[k] < n {
			t.Errorf("key %s: %d records survived, %d were acknowledged", k, seen[k], n)
		}
	}
}

// TestCrashWhileDraining takes crash images while the drainer publishes
// and removes records behind concurrent appends. The drainer's deletes are
// not synced of their own, so an image may bring back records the broker
// already acknowledged (they are published again, which consumers drop by
// request id), but every acknowledged append is in the image or was
// received by the broker before the image was taken. After a clean close
// nothing drained comes back.
func TestCrashWhileDraining(t *testing.T) {
	fs := vfs.NewCrashableMem()
	const dir = "spool"
	broker := newFake(true)
	sp := openSpool(t, dir, broker, WithFS(fs), WithBatch(7))
	startDrainer(t, sp)

	const goroutines, perGoroutine = 16, 100
	var mu sync.Mutex
	acked := map[string]int{}
	type image struct {
		fs       *vfs.MemFS
		acked    map[string]int
		received []stream.Record
	}
	var images []image
	crash := func(unsynced int) {
		mu.Lock()
		snap := make(map[string]int, len(acked))
		for k, n := range acked {
			snap[k] = n
		}
		mu.Unlock()
		cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced}
		if unsynced > 0 {
			cfg.RNG = rand.New(rand.NewPCG(uint64(len(images)), 2))
		}
		img := fs.CrashClone(cfg)
		// What the broker received is read after the image: a delete in the
		// image follows the acknowledgement of its records.
		images = append(images, image{fs: img, acked: snap, received: broker.received()})
	}

	var wg sync.WaitGroup
	progress := make(chan struct{}, goroutines*perGoroutine)
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			key := fmt.Sprintf("g%d", g)
			for i := range perGoroutine {
				if err := sp.Enqueue(context.Background(), rec(key, i)); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked[key] = i + 1
				mu.Unlock()
				progress <- struct{}{}
			}
		})
	}
	for i := 1; i <= goroutines*perGoroutine; i++ {
		<-progress
		if i%200 == 0 {
			crash(50 * (i / 200 % 2))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitEmpty(t, sp)
	crash(0)
	if n := int64(broker.count()); n < goroutines*perGoroutine {
		t.Fatalf("the broker received %d records", n)
	}

	for n, img := range images {
		t.Run(fmt.Sprintf("image%d", n), func(t *testing.T) {
			up := newFake(true)
			re := openSpool(t, dir, up, WithFS(img.fs))
			startDrainer(t, re)
			waitEmpty(t, re)
			replayed := up.received()
			// Records come back in per-key order, each key's a run of
			// consecutive sequences.
			first := map[string]int{}
			last := map[string]int{}
			for _, r := range replayed {
				seq, _ := strconv.Atoi(string(r.Value))
				if prev, ok := last[r.Key]; ok && seq != prev+1 {
					t.Fatalf("key %s: %d after %d", r.Key, seq, prev)
				} else if !ok {
					first[r.Key] = seq
				}
				last[r.Key] = seq
			}
			have := map[string]map[int]bool{}
			for _, r := range append(img.received, replayed...) {
				seq, _ := strconv.Atoi(string(r.Value))
				if have[r.Key] == nil {
					have[r.Key] = map[int]bool{}
				}
				have[r.Key][seq] = true
			}
			for k, c := range img.acked {
				for i := range c {
					if !have[k][i] {
						t.Fatalf("key %s: record %d was acknowledged before the image and is lost", k, i)
					}
				}
			}
		})
	}

	// A clean close keeps the deletes: nothing comes back.
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	re := openSpool(t, dir, newFake(true), WithFS(fs))
	if n, b := re.Len(); n != 0 || b != 0 {
		t.Fatalf("after a clean close the spool holds %d records (%d bytes)", n, b)
	}
}
