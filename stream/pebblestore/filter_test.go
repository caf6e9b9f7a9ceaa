package pebblestore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lovoo/goka/storage"
)

// keys lists what it returns, Seek first when from is set.
func iterKeys(t *testing.T, it storage.Iterator, from string) []string {
	t.Helper()
	defer it.Release()
	var out []string
	ok := false
	if from != "" {
		ok = it.Seek([]byte(from))
	} else {
		ok = it.Next()
	}
	for ; ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(it.Key())+"="+string(v))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFilterIteratorsSkipsRejectedEntries(t *testing.T) {
	tables := New(t.TempDir(), WithCacheSize(1<<20))
	a := mustBuild(t, tables.Builder(), "table", 1)
	b := mustBuild(t, tables.Builder(), "other", 0)
	defer mustClose(t, a)
	defer mustClose(t, b)
	for i := range 10 {
		for _, st := range []storage.Storage{a, b} {
			if err := st.Set(fmt.Sprintf("k%d", i), []byte(fmt.Sprint(i%3))); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := func(st storage.Storage) []string {
		it, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		return iterKeys(t, it, "")
	}
	unfiltered := all(a)
	if len(unfiltered) != 10 {
		t.Fatalf("without a filter: %v", unfiltered)
	}

	var asked []string
	tables.FilterIterators(func(topic string, partition int32) IterScope {
		asked = append(asked, fmt.Sprintf("%s/%d", topic, partition))
		if topic != "table" {
			return IterScope{}
		}
		// Keeps the values "0" (k0, k3, k6, k9) except k6.
		return IterScope{Keep: func(key, value []byte) bool { return string(value) == "0" && string(key) != "k6" }}
	})
	want := []string{"k0=0", "k3=0", "k9=0"}
	if got := all(a); !slices.Equal(got, want) {
		t.Errorf("filtered: %v, want %v", got, want)
	}
	it, err := a.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	if got := iterKeys(t, it, "k4"); !slices.Equal(got, want[2:]) {
		t.Errorf("filtered from a Seek to k4: %v, want %v", got, want[2:])
	}
	it, err = a.IteratorWithRange([]byte("k1"), []byte("k5"))
	if err != nil {
		t.Fatal(err)
	}
	if got := iterKeys(t, it, ""); !slices.Equal(got, want[1:2]) {
		t.Errorf("filtered range [k1, k5): %v, want %v", got, want[1:2])
	}
	if got := all(b); len(got) != 10 {
		t.Errorf("a nil filter for the other topic returned %v", got)
	}
	if !slices.Equal(asked, []string{"table/1", "table/1", "table/1", "other/0"}) {
		t.Errorf("the filter was asked for %v", asked)
	}

	// An iterator keeps the filter it was opened with.
	it, err = a.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	tables.FilterIterators(nil)
	if got := iterKeys(t, it, ""); !slices.Equal(got, want) {
		t.Errorf("an iterator opened before the filter was removed: %v, want %v", got, want)
	}
	if got := all(a); !slices.Equal(got, unfiltered) {
		t.Errorf("after FilterIterators(nil): %v", got)
	}
}

// The slices of one pass meet every key once, keys written during the pass
// included, and each reads only its part of the table.
func TestIteratorSlicesMeetEveryKeyOnce(t *testing.T) {
	tables := New(t.TempDir(), WithCacheSize(1<<20))
	st := mustBuild(t, tables.Builder(), "table", 0)
	defer mustClose(t, st)
	// 24 MiB in eight flushes of disjoint keys: several table files.
	const files, perFile, n = 8, 3000, 4
	value := make([]byte, 1024) // incompressible
	rand.NewChaCha8([32]byte{1}).Read(value)
	want := map[string]bool{}
	for f := range files {
		for i := range perFile {
			k := fmt.Sprintf("k%05d", f*perFile+i)
			if err := st.Set(k, value); err != nil {
				t.Fatal(err)
			}
			want[k] = true
		}
		if err := st.(*Store).db.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	var slice int
	var keep EntryFilter
	tables.FilterIterators(func(string, int32) IterScope { return IterScope{Slice: slice, Slices: n, Keep: keep} })
	pass := func(during func(slice int)) (met map[string]int, sizes []int) {
		met = map[string]int{}
		for slice = 0; slice < n; slice++ {
			it, err := st.Iterator()
			if err != nil {
				t.Fatal(err)
			}
			during(slice)
			keys := iterKeys(t, it, "")
			sizes = append(sizes, len(keys))
			for _, kv := range keys {
				met[strings.SplitN(kv, "=", 2)[0]]++
			}
		}
		return met, sizes
	}
	check := func(name string, met map[string]int) {
		t.Helper()
		for k := range want {
			if met[k] != 1 {
				t.Errorf("%s: %s met %d times", name, k, met[k])
			}
		}
		if len(met) != len(want) {
			t.Errorf("%s: met %d keys, want %d", name, len(met), len(want))
		}
	}

	met, sizes := pass(func(int) {})
	check("a pass", met)
	for i, size := range sizes {
		if size == 0 || size > 2*len(want)/n {
			t.Errorf("slice %d has %d of %d keys: not a part of about 1/%d (%v)", i, size, len(want), n, sizes)
		}
	}

	// Keys written and files flushed during the pass are met once too: the
	// ranges stay those chosen at slice 0.
	met, _ = pass(func(slice int) {
		for i := range 50 {
			k := fmt.Sprintf("k%05d-%d", i*480, slice)
			if err := st.Set(k, value); err != nil {
				t.Fatal(err)
			}
			want[k] = true
		}
		if err := st.(*Store).db.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	// A key written during slice s lands in some slice: before s, it is
	// met in the next pass.
	next, _ := pass(func(int) {})
	check("the next pass", next)
	for k, c := range met {
		if c != 1 || !want[k] {
			t.Errorf("during a pass: %s met %d times", k, c)
		}
	}

	// A slice within a range, with a filter.
	keep = func(key, _ []byte) bool { return len(key) == 6 && key[5] == '0' }
	var got []string
	for slice = 0; slice < n; slice++ {
		it, err := st.IteratorWithRange([]byte("k01000"), []byte("k02000"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, iterKeys(t, it, "")...)
	}
	if len(got) != 100 || !strings.HasPrefix(got[0], "k01000=") || !strings.HasPrefix(got[99], "k01990=") {
		t.Errorf("range [k01000, k02000) sliced and filtered: %d entries", len(got))
	}
}
