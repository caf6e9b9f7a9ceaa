package pebblestore

import (
	"fmt"
	"sync"
	"testing"
)

// TestKeyFilterNoFalseNegatives adds keys past several layers' capacity and
// checks every one is reported and few others are.
func TestKeyFilterNoFalseNegatives(t *testing.T) {
	f := newKeyFilter()
	const n = 70_000 // layers of 16,384 and 32,768 keys, and a third
	for i := range n {
		f.add(fmt.Sprintf("p:install-%d", i))
	}
	if layers := len(*f.layers.Load()); layers != 3 {
		t.Fatalf("%d layers for %d keys", layers, n)
	}
	for i := range n {
		if k := fmt.Sprintf("p:install-%d", i); !f.mayContain(k) {
			t.Fatalf("added key %q reported absent", k)
		}
	}
	fp := 0
	for i := range n {
		if f.mayContain(fmt.Sprintf("p:other-%d", i)) {
			fp++
		}
	}
	if rate := float64(fp) / n; rate > 0.05 {
		t.Fatalf("false positive rate %.3f", rate)
	}
}

// TestKeyFilterConcurrentAdds grows the filter from several goroutines
// while others read; run with -race.
func TestKeyFilterConcurrentAdds(t *testing.T) {
	f := newKeyFilter()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10_000 {
				k := fmt.Sprintf("%d-%d", w, i)
				f.add(k)
				if !f.mayContain(k) {
					t.Errorf("key %q absent right after its add", k)
					return
				}
			}
		})
	}
	wg.Wait()
	for w := range 4 {
		for i := range 10_000 {
			if k := fmt.Sprintf("%d-%d", w, i); !f.mayContain(k) {
				t.Fatalf("key %q absent", k)
			}
		}
	}
}

// TestKeyFilterFilledAtOpen reopens a store: keys written before are found
// (the filter is rebuilt from the database), missing ones are not, and a
// deleted key set again is found.
func TestKeyFilterFilledAtOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		mustSet(t, st, fmt.Sprint("k", i), "v")
	}
	if err := st.Delete("k7"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openTest(t, dir)
	for i := range 1000 {
		v, err := st.Get(fmt.Sprint("k", i))
		if err != nil {
			t.Fatal(err)
		}
		if (v == nil) != (i == 7) {
			t.Fatalf("k%d after reopen: %q", i, v)
		}
		if ok, _ := st.Has(fmt.Sprint("k", i)); ok != (i != 7) {
			t.Fatalf("Has(k%d) = %v", i, ok)
		}
	}
	if v, _ := st.Get("missing"); v != nil {
		t.Fatalf("missing key read %q", v)
	}
	mustSet(t, st, "k7", "again")
	if v, _ := st.Get("k7"); string(v) != "again" {
		t.Fatalf("k7 set again reads %q", v)
	}
	if st.keys == nil || st.keys.mayContain("missing") {
		t.Fatal("the store has no key filter, or it holds a key never set")
	}
}
