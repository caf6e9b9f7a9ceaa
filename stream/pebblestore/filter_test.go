package pebblestore

import (
	"fmt"
	"slices"
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
	tables.FilterIterators(func(topic string, partition int32) EntryFilter {
		asked = append(asked, fmt.Sprintf("%s/%d", topic, partition))
		if topic != "table" {
			return nil
		}
		// Keeps the values "0" (k0, k3, k6, k9) except k6.
		return func(key, value []byte) bool { return string(value) == "0" && string(key) != "k6" }
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
