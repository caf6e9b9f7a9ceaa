package pebblestore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/lovoo/goka/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestGetReturnsCopy(t *testing.T) {
	st := openTest(t, t.TempDir())
	in := []byte("value")
	if err := st.Set("k", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // Set must have copied its argument
	got := mustGet(t, st, "k")
	if string(got) != "value" {
		t.Fatalf("Get after mutating Set's argument = %q", got)
	}
	got[0] = 'Y' // mutating a result must not affect the store
	if again := mustGet(t, st, "k"); string(again) != "value" {
		t.Fatalf("Get after mutating earlier result = %q", again)
	}
	if string(got) != "Yalue" {
		t.Fatalf("result was not writable as expected: %q", got)
	}
}

func TestNilAndEmptyValues(t *testing.T) {
	st := openTest(t, t.TempDir())
	if err := st.Set("nil", nil); err != nil {
		t.Fatalf("Set(nil value): %v", err)
	}
	if err := st.Set("empty", []byte{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"nil", "empty"} {
		if !mustHas(t, st, k) {
			t.Fatalf("Has(%q) = false", k)
		}
		v := mustGet(t, st, k)
		if v == nil || len(v) != 0 {
			t.Fatalf("Get(%q) = %#v, want non-nil empty slice", k, v)
		}
	}
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	n := 0
	for it.Next() {
		v, err := it.Value()
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("iterator Value for %q = %#v, %v; want non-nil empty slice", it.Key(), v, err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("iterated %d keys, want 2", n)
	}
}

// goka's LevelDB storage keeps its offset under the user key "__offset"; here
// it is an ordinary key.
func TestLegacyOffsetKeyIsOrdinary(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, st, "__offset", "user data")
	mustSet(t, st, "a", "1")
	if err := st.SetOffset(42); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOffset(43); err != nil {
		t.Fatal(err)
	}
	check := func(st storage.Storage) {
		t.Helper()
		if got := string(mustGet(t, st, "__offset")); got != "user data" {
			t.Fatalf(`Get("__offset") = %q`, got)
		}
		if got := mustOffset(t, st, -1); got != 43 {
			t.Fatalf("GetOffset = %d, want 43", got)
		}
		want := []kv{{"__offset", "user data"}, {"a", "1"}}
		if diff := cmp.Diff(want, iterAll(t, st)); diff != "" {
			t.Fatalf("Iterator (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want[:1], iterRange(t, st, []byte("__"), nil)); diff != "" {
			t.Fatalf("prefix iterator (-want +got):\n%s", diff)
		}
	}
	check(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, dir))
}

func TestIteratorPositioning(t *testing.T) {
	st := openTest(t, t.TempDir())
	for _, k := range []string{"a", "c", "e", "g"} {
		mustSet(t, st, k, "v"+k)
	}
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	if k := it.Key(); k != nil {
		t.Fatalf("Key before Next = %q", k)
	}
	if v, err := it.Value(); v != nil || err != nil {
		t.Fatalf("Value before Next = %q, %v", v, err)
	}
	at := func(want string) {
		t.Helper()
		if k := string(it.Key()); k != want {
			t.Fatalf("Key = %q, want %q", k, want)
		}
		if v, err := it.Value(); err != nil || string(v) != "v"+want {
			t.Fatalf("Value = %q, %v, want %q", v, err, "v"+want)
		}
	}
	if !it.Seek([]byte("b")) { // missing key: lands on the successor
		t.Fatal("Seek(b) = false")
	}
	at("c")
	if !it.Next() {
		t.Fatal("Next after Seek = false")
	}
	at("e")
	if !it.Seek([]byte("a")) { // backwards
		t.Fatal("Seek(a) = false")
	}
	at("a")
	for it.Next() {
	}
	if !it.Seek([]byte("f")) { // after exhaustion
		t.Fatal("Seek(f) after exhaustion = false")
	}
	at("g")
	if it.Seek([]byte("h")) {
		t.Fatal("Seek(h) = true")
	}
	if it.Key() != nil {
		t.Fatal("Key after failed Seek != nil")
	}
	if !it.Seek(nil) {
		t.Fatal("Seek(nil) = false")
	}
	at("a")

	// Seeks are confined to the range.
	r, err := st.IteratorWithRange([]byte("c"), []byte("g"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Seek([]byte("a")) || string(r.Key()) != "c" {
		t.Fatalf("Seek below range start: key %q, want c", r.Key())
	}
	if !r.Seek([]byte("d")) || string(r.Key()) != "e" {
		t.Fatalf("Seek(d) in range: key %q, want e", r.Key())
	}
	if r.Seek([]byte("f")) {
		t.Fatalf("Seek(f) in [c,g) found %q", r.Key())
	}
	if r.Seek([]byte("z")) {
		t.Fatalf("Seek beyond range found %q", r.Key())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestIteratorWithRangeEdges(t *testing.T) {
	st := openTest(t, t.TempDir())
	all := []string{"", "\x00", "a", "b", "b\x00", "b\xff", "c", "\xfe", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff"}
	for _, k := range all {
		mustSet(t, st, k, "v")
	}
	keys := func(ks ...string) []kv {
		var out []kv
		for _, k := range ks {
			out = append(out, kv{k, "v"})
		}
		return out
	}
	cases := []struct {
		name         string
		start, limit []byte
		want         []kv
	}{
		{"nil nil is everything", nil, nil, keys(all...)},
		{"empty empty is everything", []byte{}, []byte{}, keys(all...)},
		{"limit is exclusive", []byte("a"), []byte("c"), keys("a", "b", "b\x00", "b\xff")},
		{"nil start includes empty key", nil, []byte("a"), keys("", "\x00")},
		{"start == limit", []byte("b"), []byte("b"), nil},
		{"start > limit", []byte("c"), []byte("a"), nil},
		{"prefix", []byte("b"), nil, keys("b", "b\x00", "b\xff")},
		{"prefix of 0xff", []byte("\xff"), nil, keys("\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff")},
		{"prefix of 0xff 0xff", []byte("\xff\xff"), []byte{}, keys("\xff\xff", "\xff\xff\xff")},
		{"prefix of NUL", []byte("\x00"), nil, keys("\x00")},
	}
	for _, tc := range cases {
		if diff := cmp.Diff(tc.want, iterRange(t, st, tc.start, tc.limit)); diff != "" {
			t.Errorf("%s: IteratorWithRange(%q, %q) (-want +got):\n%s", tc.name, tc.start, tc.limit, diff)
		}
	}
	// The caller may reuse the bound slices once the iterator exists.
	start, limit := []byte("a"), []byte("c")
	it, err := st.IteratorWithRange(start, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	start[0], limit[0] = 'z', 'z'
	if diff := cmp.Diff(keys("a", "b", "b\x00", "b\xff"), collect(t, it)); diff != "" {
		t.Errorf("after mutating bounds (-want +got):\n%s", diff)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustOffset(t, st, -1); got != -1 {
		t.Fatalf("fresh GetOffset = %d", got)
	}
	mustSet(t, st, "a", "1")
	mustSet(t, st, "b", "2")
	// Recovery phase: kept in memory, persisted by Close.
	if err := st.SetOffset(10); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustOffset(t, st, -1); got != 10 {
		t.Fatalf("GetOffset after reopen = %d, want 10", got)
	}
	if diff := cmp.Diff([]kv{{"a", "1"}, {"b", "2"}}, iterAll(t, st)); diff != "" {
		t.Fatalf("data after reopen (-want +got):\n%s", diff)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete("a"); err != nil {
		t.Fatal(err)
	}
	mustSet(t, st, "c", "3")
	if err := st.SetOffset(11); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openTest(t, dir)
	if got := mustOffset(t, st, -1); got != 11 {
		t.Fatalf("GetOffset after second reopen = %d, want 11", got)
	}
	if diff := cmp.Diff([]kv{{"b", "2"}, {"c", "3"}}, iterAll(t, st)); diff != "" {
		t.Fatalf("data after second reopen (-want +got):\n%s", diff)
	}
}

// rawOffset reads the persisted offset directly from the database.
func rawOffset(t *testing.T, s *Store) (int64, bool) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	off, ok, err := s.readOffset()
	if err != nil {
		t.Fatal(err)
	}
	return off, ok
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func withClock(c *fakeClock) Option {
	return func(cfg *config) { cfg.now = c.Now }
}

func TestOffsetPersistence(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	st := openTest(t, t.TempDir(), withClock(clock), WithRecoveryOffsetInterval(time.Minute))
	if _, ok := rawOffset(t, st); ok {
		t.Fatal("fresh store has a persisted offset")
	}
	// During recovery the offset is only kept in memory ...
	for i := int64(1); i <= 5; i++ {
		if err := st.SetOffset(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := rawOffset(t, st); ok {
		t.Fatal("offset persisted before the recovery interval elapsed")
	}
	if got := mustOffset(t, st, -1); got != 5 {
		t.Fatalf("GetOffset = %d, want 5", got)
	}
	// ... until the interval has elapsed.
	clock.Advance(time.Minute)
	if err := st.SetOffset(6); err != nil {
		t.Fatal(err)
	}
	if off, ok := rawOffset(t, st); !ok || off != 6 {
		t.Fatalf("persisted offset = %d, %v; want 6", off, ok)
	}
	if err := st.SetOffset(7); err != nil {
		t.Fatal(err)
	}
	if off, _ := rawOffset(t, st); off != 6 {
		t.Fatalf("persisted offset = %d, want 6 (interval restarted)", off)
	}
	// MarkRecovered persists the current offset.
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if off, _ := rawOffset(t, st); off != 7 {
		t.Fatalf("persisted offset after MarkRecovered = %d, want 7", off)
	}
	// Afterwards the interval holds as before: a running processor does
	// not write its offset with every table write.
	if err := st.SetOffset(8); err != nil {
		t.Fatal(err)
	}
	if off, _ := rawOffset(t, st); off != 7 {
		t.Fatalf("persisted offset = %d, want 7 until the interval has elapsed", off)
	}
	clock.Advance(time.Minute)
	for _, o := range []int64{9, 3} {
		if err := st.SetOffset(o); err != nil {
			t.Fatal(err)
		}
	}
	if off, _ := rawOffset(t, st); off != 9 {
		t.Fatalf("persisted offset = %d, want 9", off)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatalf("second MarkRecovered: %v", err)
	}
}

func TestRecoveryIntervalZeroPersistsEveryOffset(t *testing.T) {
	st := openTest(t, t.TempDir(), WithRecoveryOffsetInterval(0))
	for _, o := range []int64{4, 9} {
		if err := st.SetOffset(o); err != nil {
			t.Fatal(err)
		}
		if off, ok := rawOffset(t, st); !ok || off != o {
			t.Fatalf("persisted offset = %d, %v; want %d", off, ok, o)
		}
	}
}

// After a crash the unclean-stop marker makes the next open start empty (see
// unclean_test.go). Underneath, the recovered offset must never be ahead of
// the recovered data, so that replaying the changelog from it would not skip
// anything even without the marker; the checks below remove the marker from
// the crashed file system to observe that.
func TestCrashNeverLosesDataBelowOffset(t *testing.T) {
	key := func(i int) string { return fmt.Sprintf("key-%04d", i) }
	const n = 400

	check := func(t *testing.T, fs *vfs.MemFS, wantAtLeast int64) {
		t.Helper()
		if err := fs.Remove("/db/" + markerName); err != nil {
			t.Fatalf("marker missing after crash: %v", err)
		}
		st := openTest(t, "/db", WithPebbleOptions(func(o *pebble.Options) { o.FS = fs }))
		off := mustOffset(t, st, -1)
		if off < wantAtLeast {
			t.Fatalf("recovered offset %d < %d", off, wantAtLeast)
		}
		for i := int64(0); i <= off; i++ {
			if got := string(mustGet(t, st, key(int(i)))); got != fmt.Sprint(i) {
				t.Fatalf("offset %d recovered but key %s = %q", off, key(int(i)), got)
			}
		}
	}

	fs := vfs.NewCrashableMem()
	st, err := Open("/db", WithCacheSize(1<<20), WithRecoveryOffsetInterval(0),
		WithPebbleOptions(func(o *pebble.Options) {
			o.FS = fs
			o.MemTableSize = 256 << 10 // a few flushes during the test
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := st.Set(key(i), []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
			if err := st.SetOffset(int64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}

	crashes := func(phase string, wantAtLeast int64) {
		for seed := range uint64(6) {
			pct := []int{50, 90, 99}[seed%3]
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(seed, 0))})
			t.Run(fmt.Sprintf("%s/unsynced=%d%%/seed=%d", phase, pct, seed), func(t *testing.T) { check(t, clone, wantAtLeast) })
		}
		// With the marker in place the crashed database is discarded.
		t.Run(phase+"/marker", func(t *testing.T) {
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(1, 1))})
			st := openTest(t, "/db", WithPebbleOptions(func(o *pebble.Options) { o.FS = clone }))
			if got := mustOffset(t, st, -3); got != -3 {
				t.Fatalf("offset after crash = %d, want the default", got)
			}
			if got := iterAll(t, st); len(got) != 0 {
				t.Fatalf("%d keys after crash, want none", len(got))
			}
		})
	}

	// A memtable flush in the middle of recovery leaves a synced table
	// followed by an unsynced WAL tail.
	write(0, n/2)
	if err := st.db.Flush(); err != nil {
		t.Fatal(err)
	}
	write(n/2, n)
	crashes("recovering", n/2-1)

	// MarkRecovered makes everything so far durable.
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	t.Run("after MarkRecovered", func(t *testing.T) {
		check(t, fs.CrashClone(vfs.CrashCloneCfg{}), n-1)
	})

	write(n, 2*n)
	crashes("recovered", n-1)
}

func TestClosedStore(t *testing.T) {
	st, err := Open(t.TempDir(), WithCacheSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, st, "a", "1")
	mustSet(t, st, "b", "2")
	leaked, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	if !leaked.Next() {
		t.Fatal("Next = false")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close with an open iterator: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// The open iterator has been released by Close.
	if leaked.Next() {
		t.Fatal("Next on iterator of closed store = true")
	}
	if leaked.Key() != nil {
		t.Fatal("Key on iterator of closed store != nil")
	}
	if v, err := leaked.Value(); v != nil || err != nil {
		t.Fatalf("Value on iterator of closed store = %q, %v", v, err)
	}
	if leaked.Seek([]byte("a")) {
		t.Fatal("Seek on iterator of closed store = true")
	}
	if err := leaked.Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Err on iterator of closed store = %v, want ErrClosed", err)
	}
	leaked.Release()

	checks := map[string]error{
		"Open":          st.Open(),
		"Set":           st.Set("a", nil),
		"Delete":        st.Delete("a"),
		"SetOffset":     st.SetOffset(1),
		"MarkRecovered": st.MarkRecovered(),
	}
	_, checks["Has"] = st.Has("a")
	_, checks["Get"] = st.Get("a")
	_, checks["GetOffset"] = st.GetOffset(0)
	_, checks["Iterator"] = st.Iterator()
	_, checks["IteratorWithRange"] = st.IteratorWithRange(nil, nil)
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestCloseRacesWithUsers(t *testing.T) {
	st, err := Open(t.TempDir(), WithCacheSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustSet(t, st, fmt.Sprint(i), "v")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	started := make(chan struct{}, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := func(err error) bool {
				if err == nil {
					return true
				}
				if !errors.Is(err, ErrClosed) {
					errs <- err
				}
				return false
			}
			for i := 0; ; i++ {
				if i == 10 {
					started <- struct{}{}
				}
				if !ok(st.Set(fmt.Sprint(i%50), []byte("w"))) || !ok(st.SetOffset(int64(i))) {
					return
				}
				if _, err := st.Get(fmt.Sprint((i + g) % 50)); !ok(err) {
					return
				}
				it, err := st.Iterator()
				if !ok(err) {
					return
				}
				for it.Next() {
					_, _ = it.Value()
				}
				err = it.Err()
				it.Release()
				if !ok(err) {
					return
				}
			}
		}()
	}
	for range 4 {
		<-started
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// One writer, an acknowledgement goroutine calling SetOffset (as goka's
// producer callbacks do), readers, and a long-lived iterator that must keep
// seeing the state from its creation.
func TestConcurrentReadersOneWriter(t *testing.T) {
	st := openTest(t, t.TempDir())
	const keys = 32
	for k := range keys {
		mustSet(t, st, fmt.Sprintf("k%02d", k), "initial")
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	snapshot, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer snapshot.Release()

	const rounds = 200
	acks := make(chan int64, 64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		defer close(acks)
		for r := 1; r <= rounds; r++ {
			k := fmt.Sprintf("k%02d", r%keys)
			if err := st.Set(k, []byte(fmt.Sprintf("%s:%d", k, r))); err != nil {
				report(err)
				return
			}
			acks <- int64(r)
		}
	}()
	wg.Add(1)
	go func() { // acknowledgements
		defer wg.Done()
		defer close(done)
		for off := range acks {
			if err := st.SetOffset(off); err != nil {
				report(err)
				return
			}
		}
	}()
	for g := range 3 {
		wg.Add(1)
		go func() { // readers
			defer wg.Done()
			last := int64(-1)
			for i := g; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := fmt.Sprintf("k%02d", i%keys)
				v, err := st.Get(k)
				if err != nil {
					report(err)
					return
				}
				if s := string(v); s != "initial" && !strings.HasPrefix(s, k+":") {
					report(fmt.Errorf("Get(%s) = %q", k, s))
					return
				}
				off, err := st.GetOffset(-1)
				if err != nil {
					report(err)
					return
				}
				if off < last {
					report(fmt.Errorf("offset went backwards: %d after %d", off, last))
					return
				}
				last = off
			}
		}()
	}

	// Meanwhile, the iterator created before the writes sees none of them.
	n := 0
	for snapshot.Next() {
		if v, err := snapshot.Value(); err != nil || string(v) != "initial" {
			t.Errorf("snapshot value for %s = %q, %v", snapshot.Key(), v, err)
		}
		n++
	}
	if n != keys {
		t.Errorf("snapshot saw %d keys, want %d", n, keys)
	}

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := mustOffset(t, st, -1); got != rounds {
		t.Fatalf("final offset %d, want %d", got, rounds)
	}
}

// TestMatchesModel applies random operations, including reopening, to a
// Store and to a map and compares every observable result.
func TestMatchesModel(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 0))
	st, err := Open(dir, WithCacheSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()

	model := map[string]string{}
	offset := int64(-1)
	alphabet := []byte{0x00, 'a', 'b', 0xff}
	randKey := func() []byte {
		k := make([]byte, rng.IntN(4))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
	modelRange := func(start, limit []byte) []kv {
		var out []kv
		for k, v := range model {
			in := string(start) <= k
			if len(limit) > 0 {
				in = in && k < string(limit)
			} else {
				in = in && strings.HasPrefix(k, string(start))
			}
			if in {
				out = append(out, kv{k, v})
			}
		}
		sortKV(out)
		return out
	}

	for step := range 2000 {
		switch op := rng.IntN(100); {
		case op < 40:
			k, v := string(randKey()), fmt.Sprint(step)
			mustSet(t, st, k, v)
			model[k] = v
		case op < 55:
			k := string(randKey())
			if err := st.Delete(k); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		case op < 75:
			k := string(randKey())
			got, err := st.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := model[k]
			if ok != (got != nil) || string(got) != want {
				t.Fatalf("step %d: Get(%q) = %q, model %q (present %v)", step, k, got, want, ok)
			}
			if has := mustHas(t, st, k); has != ok {
				t.Fatalf("step %d: Has(%q) = %v, model %v", step, k, has, ok)
			}
		case op < 90:
			start, limit := randKey(), randKey()
			if rng.IntN(4) == 0 {
				start = nil
			}
			if diff := cmp.Diff(modelRange(start, limit), iterRange(t, st, start, limit)); diff != "" {
				t.Fatalf("step %d: IteratorWithRange(%q, %q) (-model +got):\n%s", step, start, limit, diff)
			}
		case op < 95:
			offset = int64(step)
			if err := st.SetOffset(offset); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(3) == 0 {
				if err := st.MarkRecovered(); err != nil {
					t.Fatal(err)
				}
			}
		default:
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if st, err = Open(dir, WithCacheSize(1<<20)); err != nil {
				t.Fatal(err)
			}
			if got := mustOffset(t, st, -1); got != offset {
				t.Fatalf("step %d: offset after reopen %d, want %d", step, got, offset)
			}
		}
	}
	if diff := cmp.Diff(modelRange(nil, nil), iterAll(t, st)); diff != "" {
		t.Fatalf("final contents (-model +got):\n%s", diff)
	}
}

func sortKV(s []kv) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Key < s[j-1].Key; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestPebbleLoggerAdapter(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := zapLogger{l: zap.New(core).Sugar()}
	l.Infof("info %d", 1)
	l.Errorf("error %d", 2)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Fatalf returned")
			}
		}()
		l.Fatalf("fatal %d", 3)
	}()
	type entry struct {
		Level zapcore.Level
		Msg   string
	}
	var got []entry
	for _, e := range logs.All() {
		got = append(got, entry{e.Level, e.Message})
	}
	want := []entry{{zapcore.DebugLevel, "info 1"}, {zapcore.ErrorLevel, "error 2"}, {zapcore.ErrorLevel, "fatal 3"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("log entries (-want +got):\n%s", diff)
	}
}

func TestOpenWithLoggerAndSyncWrites(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	dir := t.TempDir()
	st := openTest(t, dir, WithLogger(zap.New(core)), WithSyncWrites(true))
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	mustSet(t, st, "a", "1")
	if err := st.SetOffset(1); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if st.Path() != dir {
		t.Fatalf("Path = %q", st.Path())
	}
	if n := logs.Len(); n != 0 {
		t.Fatalf("unexpected warnings: %v", logs.All())
	}
	// A nil logger is accepted.
	openTest(t, t.TempDir(), WithLogger(nil))
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir)
	_ = st
	// The directory is locked by the open store.
	if other, err := Open(dir); err == nil {
		_ = other.Close()
		t.Fatal("second Open of a locked directory succeeded")
	}
}
