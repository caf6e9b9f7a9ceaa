package spool

import (
	"context"
	"fmt"
	"maps"
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
	images := appendWithCrashes(t, fs, goroutines, perGoroutine, 400, 1, func(g int, r stream.Record) error {
		if g%2 == 0 {
			return sp.Enqueue(context.Background(), r)
		}
		_, err := sp.Publish(context.Background(), r)
		return err
	}, nil)
	images = append(images, finalImage(fs, goroutines, perGoroutine, nil))
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
	// What the broker received is read after each image: a delete in the
	// image follows the acknowledgement of its records.
	images := appendWithCrashes(t, fs, goroutines, perGoroutine, 200, 2, func(_ int, r stream.Record) error {
		return sp.Enqueue(context.Background(), r)
	}, broker.received)
	waitEmpty(t, sp)
	images = append(images, finalImage(fs, goroutines, perGoroutine, broker.received))
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

// crashImage is a crash image of fs and what was acknowledged before it;
// received, when set, is read after the image is taken.
type crashImage struct {
	fs       *vfs.MemFS
	acked    map[string]int
	received []stream.Record
}

// appendWithCrashes runs goroutines that append perGoroutine records each
// (key "g<n>", values 0, 1, ...) with appendFn and takes a crash image
// after every `every` acknowledged records, alternately with synced data
// only and with half of the unsynced data (seeded with seed).
func appendWithCrashes(t *testing.T, fs *vfs.MemFS, goroutines, perGoroutine, every int, seed uint64,
	appendFn func(g int, r stream.Record) error, received func() []stream.Record) []crashImage {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]int{} // key → records returned so far
	var images []crashImage
	var wg sync.WaitGroup
	progress := make(chan struct{}, goroutines*perGoroutine)
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			key := fmt.Sprintf("g%d", g)
			for i := range perGoroutine {
				if err := appendFn(g, rec(key, i)); err != nil {
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
	// Crash images while appends are in flight.
	for i := 1; i <= goroutines*perGoroutine; i++ {
		<-progress
		if i%every == 0 {
			mu.Lock()
			snap := maps.Clone(acked)
			mu.Unlock()
			cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: 50 * (i / every % 2)}
			if cfg.UnsyncedDataPercent > 0 {
				cfg.RNG = rand.New(rand.NewPCG(uint64(len(images)), seed))
			}
			img := crashImage{fs: fs.CrashClone(cfg), acked: snap}
			if received != nil {
				img.received = received()
			}
			images = append(images, img)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return images
}

// finalImage is a crash image (synced data only) taken after every append
// of appendWithCrashes returned.
func finalImage(fs *vfs.MemFS, goroutines, perGoroutine int, received func() []stream.Record) crashImage {
	img := crashImage{fs: fs.CrashClone(vfs.CrashCloneCfg{}), acked: map[string]int{}}
	for g := range goroutines {
		img.acked[fmt.Sprintf("g%d", g)] = perGoroutine
	}
	if received != nil {
		img.received = received()
	}
	return img
}
