package pebblestore

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lovoo/goka/storage"
)

// kv is a key/value pair as seen through an iterator.
type kv struct {
	Key, Value string
}

// collect drains it from its current position, calling Next first.
func collect(t *testing.T, it storage.Iterator) []kv {
	t.Helper()
	var out []kv
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatalf("Value: %v", err)
		}
		out = append(out, kv{string(it.Key()), string(v)})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterator error: %v", err)
	}
	return out
}

func iterAll(t *testing.T, st storage.Storage) []kv {
	t.Helper()
	it, err := st.Iterator()
	if err != nil {
		t.Fatalf("Iterator: %v", err)
	}
	defer it.Release()
	return collect(t, it)
}

func iterRange(t *testing.T, st storage.Storage, start, limit []byte) []kv {
	t.Helper()
	it, err := st.IteratorWithRange(start, limit)
	if err != nil {
		t.Fatalf("IteratorWithRange(%q, %q): %v", start, limit, err)
	}
	defer it.Release()
	return collect(t, it)
}

func mustSet(t *testing.T, st storage.Storage, key, value string) {
	t.Helper()
	if err := st.Set(key, []byte(value)); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, st storage.Storage, key string) []byte {
	t.Helper()
	v, err := st.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func mustHas(t *testing.T, st storage.Storage, key string) bool {
	t.Helper()
	ok, err := st.Has(key)
	if err != nil {
		t.Fatalf("Has(%q): %v", key, err)
	}
	return ok
}

func mustOffset(t *testing.T, st storage.Storage, def int64) int64 {
	t.Helper()
	off, err := st.GetOffset(def)
	if err != nil {
		t.Fatalf("GetOffset: %v", err)
	}
	return off
}

// runConformance checks the behaviour that goka's storage.Storage contract
// promises and that both goka's memory storage and this package honour.
// newStorage must return an opened, empty storage and arrange for its
// cleanup.
//
// Deliberately not covered here because goka's memory storage differs:
//   - Get returning a copy (memory returns its internal slice, and Set does
//     not copy its argument);
//   - Set with a nil value (memory rejects it, LevelDB stores an empty value);
//   - a key equal to the upper limit of IteratorWithRange (memory treats the
//     limit as inclusive);
//   - IteratorWithRange with an empty start and no limit (memory returns
//     only the empty key instead of everything);
//   - Key and Value before the first Next (memory panics);
//   - Seek to a missing key (memory scans forward for a key having the sought
//     key as a prefix instead of seeking to the first key >= it) and Seek
//     backwards.
func runConformance(t *testing.T, newStorage func(t *testing.T) storage.Storage) {
	t.Run("MissingKey", func(t *testing.T) {
		st := newStorage(t)
		if mustHas(t, st, "nope") {
			t.Fatal("Has(missing) = true")
		}
		if v := mustGet(t, st, "nope"); v != nil {
			t.Fatalf("Get(missing) = %q, want nil", v)
		}
		if err := st.Delete("nope"); err != nil {
			t.Fatalf("Delete(missing): %v", err)
		}
	})

	t.Run("SetGetHasDelete", func(t *testing.T) {
		st := newStorage(t)
		mustSet(t, st, "k", "v1")
		if !mustHas(t, st, "k") {
			t.Fatal("Has after Set = false")
		}
		if got := string(mustGet(t, st, "k")); got != "v1" {
			t.Fatalf("Get = %q, want v1", got)
		}
		mustSet(t, st, "k", "v2")
		if got := string(mustGet(t, st, "k")); got != "v2" {
			t.Fatalf("Get after overwrite = %q, want v2", got)
		}
		if err := st.Delete("k"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if mustHas(t, st, "k") {
			t.Fatal("Has after Delete = true")
		}
		if v := mustGet(t, st, "k"); v != nil {
			t.Fatalf("Get after Delete = %q, want nil", v)
		}
		mustSet(t, st, "k", "v3")
		if got := string(mustGet(t, st, "k")); got != "v3" {
			t.Fatalf("Get after re-Set = %q, want v3", got)
		}
	})

	t.Run("OddKeys", func(t *testing.T) {
		st := newStorage(t)
		keys := []string{"", "\x00", "\x00\x00", "a\x00b", "\xff", "\xff\xff", "ü", "with space"}
		for i, k := range keys {
			mustSet(t, st, k, fmt.Sprint(i))
		}
		for i, k := range keys {
			if got := string(mustGet(t, st, k)); got != fmt.Sprint(i) {
				t.Fatalf("Get(%q) = %q, want %d", k, got, i)
			}
		}
	})

	t.Run("EarlierGetUnaffectedByLaterSet", func(t *testing.T) {
		st := newStorage(t)
		mustSet(t, st, "k", "before")
		v := mustGet(t, st, "k")
		mustSet(t, st, "k", "after!")
		if string(v) != "before" {
			t.Fatalf("earlier Get result changed to %q", v)
		}
	})

	t.Run("Offset", func(t *testing.T) {
		st := newStorage(t)
		if got := mustOffset(t, st, -2); got != -2 {
			t.Fatalf("GetOffset(-2) on fresh storage = %d", got)
		}
		if got := mustOffset(t, st, 17); got != 17 {
			t.Fatalf("GetOffset(17) on fresh storage = %d", got)
		}
		if err := st.SetOffset(100); err != nil {
			t.Fatalf("SetOffset: %v", err)
		}
		if got := mustOffset(t, st, -2); got != 100 {
			t.Fatalf("GetOffset = %d, want 100", got)
		}
		// 0 is a real offset, not "unset".
		if err := st.SetOffset(0); err != nil {
			t.Fatalf("SetOffset(0): %v", err)
		}
		if got := mustOffset(t, st, -2); got != 0 {
			t.Fatalf("GetOffset after SetOffset(0) = %d, want 0", got)
		}
		if err := st.MarkRecovered(); err != nil {
			t.Fatalf("MarkRecovered: %v", err)
		}
		if got := mustOffset(t, st, -2); got != 0 {
			t.Fatalf("GetOffset after MarkRecovered = %d, want 0", got)
		}
		if err := st.SetOffset(101); err != nil {
			t.Fatalf("SetOffset: %v", err)
		}
		if got := mustOffset(t, st, -2); got != 101 {
			t.Fatalf("GetOffset = %d, want 101", got)
		}
	})

	t.Run("OffsetNotAKey", func(t *testing.T) {
		st := newStorage(t)
		mustSet(t, st, "a", "1")
		if err := st.SetOffset(5); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkRecovered(); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOffset(6); err != nil {
			t.Fatal(err)
		}
		want := []kv{{"a", "1"}}
		if diff := cmp.Diff(want, iterAll(t, st)); diff != "" {
			t.Fatalf("Iterator (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, iterRange(t, st, nil, []byte("\xff\xff\xff"))); diff != "" {
			t.Fatalf("IteratorWithRange (-want +got):\n%s", diff)
		}
	})

	t.Run("Iterator", func(t *testing.T) {
		st := newStorage(t)
		for _, k := range []string{"key-3", "key-1", "key-2"} {
			mustSet(t, st, k, "val"+k[3:])
		}
		it, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Release()
		want := []kv{{"key-1", "val-1"}, {"key-2", "val-2"}, {"key-3", "val-3"}}
		if diff := cmp.Diff(want, collect(t, it)); diff != "" {
			t.Fatalf("Iterator (-want +got):\n%s", diff)
		}
		// Exhausted.
		if k := it.Key(); k != nil {
			t.Fatalf("Key after exhaustion = %q", k)
		}
		if v, err := it.Value(); v != nil || err != nil {
			t.Fatalf("Value after exhaustion = %q, %v", v, err)
		}
		if it.Next() {
			t.Fatal("Next after exhaustion = true")
		}
	})

	t.Run("EmptyStorage", func(t *testing.T) {
		st := newStorage(t)
		if got := iterAll(t, st); len(got) != 0 {
			t.Fatalf("Iterator on empty storage = %v", got)
		}
		if got := iterRange(t, st, []byte("a"), nil); len(got) != 0 {
			t.Fatalf("IteratorWithRange on empty storage = %v", got)
		}
	})

	t.Run("IteratorWithRange", func(t *testing.T) {
		st := newStorage(t)
		// No key equals a limit (or the end of a prefix range): memory
		// storage treats the limit as inclusive.
		for _, k := range []string{"a", "b", "b1", "b2", "ba", "c1", "c2"} {
			mustSet(t, st, k, "v"+k)
		}
		cases := []struct {
			name         string
			start, limit []byte
			want         []string
		}{
			{"half-open", []byte("b"), []byte("b3"), []string{"b", "b1", "b2"}},
			{"start inclusive", []byte("b1"), []byte("bz"), []string{"b1", "b2", "ba"}},
			{"start between keys", []byte("b0"), []byte("b9"), []string{"b1", "b2"}},
			{"nil start", nil, []byte("b0"), []string{"a", "b"}},
			{"nil limit is prefix", []byte("b"), nil, []string{"b", "b1", "b2", "ba"}},
			{"empty limit is prefix", []byte("c"), []byte{}, []string{"c1", "c2"}},
			{"prefix longer than key", []byte("b1x"), nil, nil},
			{"prefix matching nothing", []byte("d"), nil, nil},
			{"beyond all keys", []byte("x"), []byte("z"), nil},
		}
		for _, tc := range cases {
			var want []kv
			for _, k := range tc.want {
				want = append(want, kv{k, "v" + k})
			}
			got := iterRange(t, st, tc.start, tc.limit)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: IteratorWithRange(%q, %q) (-want +got):\n%s", tc.name, tc.start, tc.limit, diff)
			}
		}
	})

	t.Run("Seek", func(t *testing.T) {
		st := newStorage(t)
		for _, k := range []string{"key-1", "key-2", "key-3"} {
			mustSet(t, st, k, "val"+k[3:])
		}
		it, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Release()
		if !it.Seek([]byte("key-2")) {
			t.Fatal("Seek(key-2) = false")
		}
		// Positioned on the sought key right away.
		if k := string(it.Key()); k != "key-2" {
			t.Fatalf("Key after Seek = %q", k)
		}
		if v, err := it.Value(); err != nil || string(v) != "val-2" {
			t.Fatalf("Value after Seek = %q, %v", v, err)
		}
		// Next moves past it.
		if diff := cmp.Diff([]kv{{"key-3", "val-3"}}, collect(t, it)); diff != "" {
			t.Fatalf("after Seek (-want +got):\n%s", diff)
		}

		it2, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		defer it2.Release()
		if it2.Seek([]byte("key-4")) {
			t.Fatal("Seek past the end = true")
		}
		if k := it2.Key(); k != nil {
			t.Fatalf("Key after failed Seek = %q", k)
		}
	})

	t.Run("IteratorIsSnapshot", func(t *testing.T) {
		st := newStorage(t)
		mustSet(t, st, "a", "1")
		mustSet(t, st, "b", "2")
		mustSet(t, st, "c", "3")
		full, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		defer full.Release()
		ranged, err := st.IteratorWithRange([]byte("a"), []byte("bz"))
		if err != nil {
			t.Fatal(err)
		}
		defer ranged.Release()

		mustSet(t, st, "a", "changed")
		mustSet(t, st, "aa", "new")
		if err := st.Delete("b"); err != nil {
			t.Fatal(err)
		}

		if diff := cmp.Diff([]kv{{"a", "1"}, {"b", "2"}, {"c", "3"}}, collect(t, full)); diff != "" {
			t.Fatalf("Iterator is not a snapshot (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]kv{{"a", "1"}, {"b", "2"}}, collect(t, ranged)); diff != "" {
			t.Fatalf("IteratorWithRange is not a snapshot (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]kv{{"a", "changed"}, {"aa", "new"}, {"c", "3"}}, iterAll(t, st)); diff != "" {
			t.Fatalf("new iterator (-want +got):\n%s", diff)
		}
	})

	t.Run("Release", func(t *testing.T) {
		st := newStorage(t)
		mustSet(t, st, "key-1", "v")
		mustSet(t, st, "key-2", "v")
		it, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		if !it.Next() {
			t.Fatal("Next = false")
		}
		it.Release()
		if it.Next() {
			t.Fatal("Next after Release = true")
		}
		if it.Seek([]byte("key-2")) {
			t.Fatal("Seek after Release = true")
		}
		it.Release() // twice is harmless
	})

	t.Run("ConcurrentReadersOneWriter", func(t *testing.T) {
		st := newStorage(t)
		const keys, rounds = 8, 300
		value := func(k, round int) []byte { return []byte(fmt.Sprintf("key-%d=%d", k, round)) }
		check := func(key string, v []byte) error {
			if v != nil && !bytes.HasPrefix(v, []byte(key+"=")) {
				return fmt.Errorf("value %q for key %q", v, key)
			}
			return nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		stop := make(chan struct{})
		wg.Add(1)
		go func() { // the writer
			defer wg.Done()
			defer close(stop)
			for r := range rounds {
				for k := range keys {
					key := fmt.Sprintf("key-%d", k)
					var err error
					if (r+k)%5 == 0 {
						err = st.Delete(key)
					} else {
						err = st.Set(key, value(k, r))
					}
					if err == nil {
						err = st.SetOffset(int64(r*keys + k))
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
		for range 3 {
			wg.Add(1)
			go func() { // readers
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("key-%d", i%keys)
					v, err := st.Get(key)
					if err == nil {
						err = check(key, v)
					}
					if err == nil {
						_, err = st.Has(key)
					}
					if err == nil {
						_, err = st.GetOffset(-1)
					}
					if err == nil && i%16 == 0 {
						err = func() error {
							it, err := st.Iterator()
							if err != nil {
								return err
							}
							defer it.Release()
							for it.Next() {
								v, err := it.Value()
								if err != nil {
									return err
								}
								if err := check(string(it.Key()), v); err != nil {
									return err
								}
							}
							return it.Err()
						}()
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := mustOffset(t, st, -1); got != rounds*keys-1 {
			t.Fatalf("final offset = %d, want %d", got, rounds*keys-1)
		}
	})
}

func TestConformanceMemory(t *testing.T) {
	runConformance(t, func(t *testing.T) storage.Storage {
		st := storage.NewMemory()
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	})
}

func TestConformancePebble(t *testing.T) {
	runConformance(t, func(t *testing.T) storage.Storage {
		return openTest(t, t.TempDir())
	})
}

func TestConformancePebbleViaBuilder(t *testing.T) {
	build := NewBuilder(t.TempDir(), WithCacheSize(1<<20))
	var n int32
	runConformance(t, func(t *testing.T) storage.Storage {
		n++
		st, err := build("conformance", n)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return st
	})
}

// openTest opens a Store at dir with a small cache and closes it at the end
// of the test.
func openTest(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	st, err := Open(dir, append([]Option{WithCacheSize(1 << 20)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := st.Open(); err != nil {
		t.Fatalf("Store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}
