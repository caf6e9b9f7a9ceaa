package pebblestore

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzIteratorWithRange compares IteratorWithRange and Seek on a fixed data
// set with a direct evaluation of goka's range semantics.
func FuzzIteratorWithRange(f *testing.F) {
	keys := []string{"", "\x00", "a", "a\x00", "a\xff", "ab", "b", "\xfe\xff", "\xff", "\xff\xff", "__offset"}
	st, err := Open(f.TempDir(), WithCacheSize(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	for _, k := range keys {
		if err := st.Set(k, []byte("v"+k)); err != nil {
			f.Fatal(err)
		}
	}
	if err := st.SetOffset(1); err != nil {
		f.Fatal(err)
	}
	if err := st.MarkRecovered(); err != nil {
		f.Fatal(err)
	}

	f.Add([]byte(nil), []byte(nil), []byte("a"))
	f.Add([]byte("a"), []byte(nil), []byte("a\x00"))
	f.Add([]byte("a"), []byte("b"), []byte(""))
	f.Add([]byte("\xff"), []byte{}, []byte("\xff\xff\xff"))
	f.Add([]byte("b"), []byte("a"), []byte("a"))
	f.Add([]byte("m"), []byte("n"), []byte("moffset"))

	f.Fuzz(func(t *testing.T, start, limit, seek []byte) {
		inRange := func(k string) bool {
			if k < string(start) {
				return false
			}
			if len(limit) > 0 {
				return k < string(limit)
			}
			return strings.HasPrefix(k, string(start))
		}
		var want []kv
		for _, k := range keys { // keys are sorted except "__offset"
			if inRange(k) {
				want = append(want, kv{k, "v" + k})
			}
		}
		sortKV(want)
		if diff := cmp.Diff(want, iterRange(t, st, start, limit)); diff != "" {
			t.Fatalf("IteratorWithRange(%q, %q) (-want +got):\n%s", start, limit, diff)
		}

		it, err := st.IteratorWithRange(start, limit)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Release()
		var wantSeek *kv
		for i := range want {
			if want[i].Key >= string(seek) {
				wantSeek = &want[i]
				break
			}
		}
		found := it.Seek(seek)
		if found != (wantSeek != nil) {
			t.Fatalf("Seek(%q) in [%q, %q) = %v, want %v", seek, start, limit, found, wantSeek != nil)
		}
		if found && string(it.Key()) != wantSeek.Key {
			t.Fatalf("Seek(%q) in [%q, %q) at %q, want %q", seek, start, limit, it.Key(), wantSeek.Key)
		}
	})
}
