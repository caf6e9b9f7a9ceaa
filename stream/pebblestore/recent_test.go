package pebblestore

import (
	"fmt"
	"testing"
)

// The cache answers the latest write of a key, forgets deleted keys, and
// lets the oldest writes go once over its bound, never a key's newer value
// for an older write of it.
func TestRecentCache(t *testing.T) {
	r := newRecent(100)
	r.set("a", []byte("1234567890")) // 11 bytes
	r.set("b", []byte("1234567890"))
	r.set("a", []byte("x")) // a's first write is now stale
	if v, ok := r.get("a"); !ok || string(v) != "x" {
		t.Fatalf("a = %q, %v", v, ok)
	}
	for i := range 10 {
		r.set(fmt.Sprintf("k%d", i), []byte("123456789")) // 11 bytes each
	}
	if _, ok := r.get("b"); ok {
		t.Error("b, the oldest write, should have left")
	}
	if r.bytes > r.max {
		t.Errorf("%d bytes cached, bound %d", r.bytes, r.max)
	}
	if v, ok := r.get("k9"); !ok || string(v) != "123456789" {
		t.Errorf("k9 = %q, %v", v, ok)
	}
	r.forget("k9")
	if _, ok := r.get("k9"); ok {
		t.Error("forgotten key still cached")
	}
	r.set("big", make([]byte, 60)) // over a quarter of the bound: not cached
	if _, ok := r.get("big"); ok {
		t.Error("oversized value cached")
	}
	var off *recent
	off.set("a", []byte("1"))
	if _, ok := off.get("a"); ok {
		t.Error("a nil cache answered")
	}
}

// Reads through a store see writes and deletes whether or not the value is
// still in the cache.
func TestStoreReadsThroughRecent(t *testing.T) {
	for _, bound := range []int{0, 64, 4 << 20} {
		st := openTest(t, t.TempDir(), WithRecentBytes(bound))
		for i := range 50 {
			if err := st.Set(fmt.Sprintf("k%02d", i), []byte(fmt.Sprintf("v%02d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Delete("k07"); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			v, err := st.Get(fmt.Sprintf("k%02d", i))
			want := fmt.Sprintf("v%02d", i)
			if i == 7 {
				want = ""
			}
			if err != nil || string(v) != want {
				t.Fatalf("bound %d: k%02d = %q, %v; want %q", bound, i, v, err, want)
			}
			if ok, _ := st.Has(fmt.Sprintf("k%02d", i)); ok != (i != 7) {
				t.Fatalf("bound %d: Has(k%02d) = %v", bound, i, ok)
			}
		}
	}
}
