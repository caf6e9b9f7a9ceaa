package pebblestore

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

func mustBuild(t *testing.T, build storage.Builder, topic string, partition int32) storage.Storage {
	t.Helper()
	st, err := build(topic, partition)
	if err != nil {
		t.Fatalf("build(%q, %d): %v", topic, partition, err)
	}
	if err := st.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

func mustClose(t *testing.T, st storage.Storage) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestBuilderSeparatesTopicsAndPartitions(t *testing.T) {
	dir := t.TempDir()
	build := NewBuilder(dir, WithCacheSize(1<<20))
	type tp struct {
		topic     string
		partition int32
	}
	tps := []tp{{"table-a", 0}, {"table-a", 1}, {"table-b", 0}, {"table-a.1", 0}, {"table-a-1", 0}}
	stores := map[tp]storage.Storage{}
	for i, p := range tps {
		st := mustBuild(t, build, p.topic, p.partition)
		stores[p] = st
		mustSet(t, st, "shared-key", p.topic)
		if err := st.SetOffset(int64(100 + i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range tps {
		st := stores[p]
		if got := string(mustGet(t, st, "shared-key")); got != p.topic {
			t.Errorf("%v: Get = %q", p, got)
		}
		if got := mustOffset(t, st, -1); got != int64(100+i) {
			t.Errorf("%v: offset = %d, want %d", p, got, 100+i)
		}
		if n := len(iterAll(t, st)); n != 1 {
			t.Errorf("%v: %d keys, want 1", p, n)
		}
		mustClose(t, st)
		if m, _ := filepath.Glob(filepath.Join(dir, p.topic, fmt.Sprint(p.partition), "MANIFEST-*")); len(m) == 0 {
			t.Errorf("%v: no database at <dir>/<topic>/<partition>", p)
		}
	}

	// A rebuild (goka does this on every rebalance) sees earlier data.
	for i, p := range tps {
		st := mustBuild(t, build, p.topic, p.partition)
		if got := string(mustGet(t, st, "shared-key")); got != p.topic {
			t.Errorf("%v after rebuild: Get = %q", p, got)
		}
		if got := mustOffset(t, st, -1); got != int64(100+i) {
			t.Errorf("%v after rebuild: offset = %d", p, got)
		}
		mustClose(t, st)
	}
}

func TestBuilderRejectsBadNames(t *testing.T) {
	build := NewBuilder(t.TempDir())
	for _, topic := range []string{"", ".", "..", "a/b", "../x", "a\\b", "a\x00b"} {
		if st, err := build(topic, 0); err == nil {
			_ = st.Close()
			t.Errorf("build(%q, 0) succeeded", topic)
		}
	}
	if st, err := build("ok", -1); err == nil {
		_ = st.Close()
		t.Error("build with a negative partition succeeded")
	}
}

// cacheRefs reads the reference count of a Pebble cache. It depends on
// Pebble's internals and skips the test if they change.
func cacheRefs(t *testing.T, c *pebble.Cache) int64 {
	t.Helper()
	f := reflect.ValueOf(c).Elem().FieldByName("refs")
	if !f.IsValid() || f.Type() != reflect.TypeOf(atomic.Int64{}) {
		t.Skip("pebble cache internals changed; cannot read its reference count")
	}
	return (*atomic.Int64)(unsafe.Pointer(f.UnsafeAddr())).Load()
}

func TestBuilderSharedCacheLifecycle(t *testing.T) {
	b := New(t.TempDir(), WithCacheSize(1<<20))
	if b.blocks.cache != nil {
		t.Fatal("cache allocated before any store was opened")
	}
	var open []storage.Storage
	for p := range int32(3) {
		open = append(open, mustBuild(t, b.build, "t", p))
	}
	cache := b.blocks.cache
	if cache == nil || b.blocks.live != 3 {
		t.Fatalf("cache %v, live %d; want a cache and 3 live stores", cache, b.blocks.live)
	}
	for _, st := range open {
		if st.(*Store).db == nil {
			t.Fatal("store without database")
		}
	}
	// One reference for the builder and one per database.
	if got := cacheRefs(t, cache); got != 4 {
		t.Fatalf("cache refs with 3 open stores = %d, want 4", got)
	}
	mustClose(t, open[0])
	if got := cacheRefs(t, cache); got != 3 {
		t.Fatalf("cache refs after closing one store = %d, want 3", got)
	}
	mustClose(t, open[1])
	mustClose(t, open[2])
	if got := cacheRefs(t, cache); got != 0 {
		t.Fatalf("cache refs after closing all stores = %d, want 0 (freed)", got)
	}
	if b.blocks.cache != nil || b.blocks.live != 0 {
		t.Fatalf("builder still holds cache %v, live %d", b.blocks.cache, b.blocks.live)
	}
	// Closing again does not release twice.
	mustClose(t, open[0])
	if b.blocks.live != 0 {
		t.Fatalf("live = %d after double Close", b.blocks.live)
	}

	// The next store gets a fresh cache.
	st := mustBuild(t, b.build, "t", 0)
	if b.blocks.cache == nil || b.blocks.cache == cache {
		t.Fatal("reopened store did not get a fresh cache")
	}
	mustClose(t, st)
}

// Tables given one SharedCache use one cache: created at the first open of
// any of them, freed after the last close of all of them.
func TestSharedCacheAcrossTables(t *testing.T) {
	shared := NewSharedCache(1 << 20)
	a := New(t.TempDir(), WithSharedCache(shared))
	b := New(t.TempDir(), WithSharedCache(shared), WithCacheSize(64<<20))
	sa := mustBuild(t, a.build, "t", 0)
	cache := shared.cache
	if cache == nil || a.blocks != shared || b.blocks != shared {
		t.Fatal("the tables do not use the shared cache")
	}
	if got := cache.MaxSize(); got != 1<<20 {
		t.Fatalf("cache size %d, want the shared cache's 1 MiB", got)
	}
	sb := mustBuild(t, b.build, "t", 0)
	if shared.cache != cache || shared.live != 2 {
		t.Fatalf("second tables: cache %p (first %p), live %d", shared.cache, cache, shared.live)
	}
	// One reference for the shared cache and one per database.
	if got := cacheRefs(t, cache); got != 3 {
		t.Fatalf("cache refs with 2 open stores = %d, want 3", got)
	}
	mustClose(t, sa)
	if shared.cache != cache || cacheRefs(t, cache) != 2 {
		t.Fatal("closing one tables' store released the cache the other still uses")
	}
	mustClose(t, sb)
	if shared.cache != nil || shared.live != 0 || cacheRefs(t, cache) != 0 {
		t.Fatalf("after the last close: cache %v, live %d, refs %d", shared.cache, shared.live, cacheRefs(t, cache))
	}
}

func TestBuilderFailedOpenReleasesCache(t *testing.T) {
	dir := t.TempDir()
	b := New(dir, WithCacheSize(1<<20))
	held := mustBuild(t, b.build, "t", 0)
	cache := b.blocks.cache
	// held is open, so a second open fails, through the same Tables ...
	if st, err := b.build("t", 0); err == nil {
		_ = st.Close()
		t.Fatal("second open of an open database succeeded")
	}
	// ... and through another one, which finds the directory locked.
	other := New(dir, WithCacheSize(1<<20))
	if st, err := other.build("t", 0); err == nil {
		_ = st.Close()
		t.Fatal("second open of a locked database succeeded")
	}
	if other.blocks.live != 0 || other.blocks.cache != nil || len(other.paths) != 0 {
		t.Fatalf("other: live %d, cache %v, paths %v after failed open", other.blocks.live, other.blocks.cache, other.paths)
	}
	if !markerPresent(t, filepath.Join(dir, "t", "0")) {
		t.Fatal("failed open removed the marker of the open database")
	}
	if b.blocks.live != 1 {
		t.Fatalf("live = %d after failed open, want 1", b.blocks.live)
	}
	if got := cacheRefs(t, cache); got != 2 {
		t.Fatalf("cache refs after failed open = %d, want 2", got)
	}
	mustClose(t, held)
	if got := cacheRefs(t, cache); got != 0 {
		t.Fatalf("cache refs = %d, want 0", got)
	}

	// A file where the topic directory should be.
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := b.build("file", 0); err == nil {
		_ = st.Close()
		t.Fatal("open below a regular file succeeded")
	}
	if b.blocks.live != 0 || b.blocks.cache != nil {
		t.Fatalf("live = %d, cache %v after failed open", b.blocks.live, b.blocks.cache)
	}
}

func TestBuilderUserCacheNotLeaked(t *testing.T) {
	cache := pebble.NewCache(1 << 20)
	build := NewBuilder(t.TempDir(), WithCache(cache))
	for i := range 40 {
		st := mustBuild(t, build, "cycle", int32(i%4))
		mustSet(t, st, "k", fmt.Sprint(i))
		if err := st.SetOffset(int64(i)); err != nil {
			t.Fatal(err)
		}
		if got := cacheRefs(t, cache); got != 2 {
			t.Fatalf("cycle %d: cache refs with one open store = %d, want 2", i, got)
		}
		mustClose(t, st)
		if got := cacheRefs(t, cache); got != 1 {
			t.Fatalf("cycle %d: cache refs after Close = %d, want 1", i, got)
		}
	}
	cache.Unref()
}

// Goka rebuilds all partitions concurrently on every rebalance.
func TestBuilderConcurrentRebalances(t *testing.T) {
	b := New(t.TempDir(), WithCacheSize(1<<20))
	const partitions, rebalances = 6, 8
	for r := range rebalances {
		var wg sync.WaitGroup
		errs := make(chan error, partitions)
		for p := range int32(partitions) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := b.build("rebalance", p)
				if err != nil {
					errs <- err
					return
				}
				defer func() {
					if err := st.Close(); err != nil {
						errs <- err
					}
				}()
				if err := st.Open(); err != nil {
					errs <- err
					return
				}
				if r > 0 {
					if off, err := st.GetOffset(-1); err != nil || off != int64(r-1) {
						errs <- fmt.Errorf("partition %d rebalance %d: offset %d, %v", p, r, off, err)
						return
					}
				}
				if err := st.Set("k", []byte(fmt.Sprint(r))); err != nil {
					errs <- err
					return
				}
				if err := st.SetOffset(int64(r)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if b.blocks.live != 0 || b.blocks.cache != nil {
			t.Fatalf("after rebalance %d: live %d, cache %v", r, b.blocks.live, b.blocks.cache)
		}
	}
}

func TestOpenWithUserCache(t *testing.T) {
	cache := pebble.NewCache(1 << 20)
	defer cache.Unref()
	dir := t.TempDir()
	for i := range 5 {
		st, err := Open(dir, WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		if got := cacheRefs(t, cache); got != 2 {
			t.Fatalf("cycle %d: refs with open store = %d, want 2", i, got)
		}
		mustClose(t, st)
		if got := cacheRefs(t, cache); got != 1 {
			t.Fatalf("cycle %d: refs after Close = %d, want 1", i, got)
		}
	}
}
