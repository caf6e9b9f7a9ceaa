package pebblestore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// childEnv makes the test binary act as a process that opens a store, writes
// to it and waits to be killed (see runChild).
const childEnv = "PEBBLESTORE_CHILD"

// goka's partition table asks for the local offset with this default and,
// when it gets it back, recovers the partition from the oldest changelog
// offset (offsetNotStored in goka's partition_table.go).
const gokaOffsetNotStored = -3

const childKeys = 500

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	os.Exit(m.Run())
}

// runChild opens topic "t" partition 0 under dir, performs a recovery and
// some normal processing, reports "ready" and waits to be killed.
func runChild(dir string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	st, err := NewBuilder(dir, WithCacheSize(1<<20))("t", 0)
	if err != nil {
		return fail(err)
	}
	for i := range childKeys {
		if err := st.Set(fmt.Sprintf("key-%04d", i), []byte("recovered")); err != nil {
			return fail(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			return fail(err)
		}
	}
	// MarkRecovered makes everything so far durable: it survives SIGKILL.
	if err := st.MarkRecovered(); err != nil {
		return fail(err)
	}
	// A table write whose changelog record was never acknowledged.
	if err := st.Set("unacknowledged", []byte("x")); err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return fail(errors.New("not killed"))
}

func TestUncleanStopAfterKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child said %q", line)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child did not become ready")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()

	db := filepath.Join(dir, "t", "0")
	if _, err := os.Stat(filepath.Join(db, markerName)); err != nil {
		t.Fatalf("marker after kill: %v", err)
	}

	// Control: without the marker the killed process's data would be used.
	control := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(control, os.DirFS(db)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(control, markerName)); err != nil {
		t.Fatal(err)
	}
	cst := openTest(t, control)
	if got := mustOffset(t, cst, gokaOffsetNotStored); got != childKeys-1 {
		t.Fatalf("control: offset %d, want %d", got, childKeys-1)
	}
	if got := len(iterAll(t, cst)); got < childKeys {
		t.Fatalf("control: %d keys, want at least %d", got, childKeys)
	}

	// With the marker the database is discarded and goka starts over.
	core, logs := observer.New(zapcore.WarnLevel)
	tables := New(dir, WithCacheSize(1<<20), WithLogger(zap.New(core)))
	st := mustBuild(t, tables.Builder(), "t", 0)
	if got := mustOffset(t, st, gokaOffsetNotStored); got != gokaOffsetNotStored {
		t.Fatalf("offset after kill = %d, want the default %d", got, gokaOffsetNotStored)
	}
	if got := iterAll(t, st); len(got) != 0 {
		t.Fatalf("%d keys after kill, want none", len(got))
	}
	warned := logs.FilterField(zap.String("path", db)).All()
	if len(warned) != 1 || warned[0].Level != zapcore.WarnLevel {
		t.Fatalf("want one warning naming %s, got %v", db, logs.All())
	}
	if m := warned[0].ContextMap()["marker"]; !strings.Contains(fmt.Sprint(m), "opened") {
		t.Errorf("warning does not describe the old marker: %v", m)
	}

	// The rebuilt store works normally and survives a clean close.
	mustSet(t, st, "rebuilt", "1")
	if err := st.SetOffset(7); err != nil {
		t.Fatal(err)
	}
	mustClose(t, st)
	st = mustBuild(t, tables.Builder(), "t", 0)
	defer mustClose(t, st)
	if got := mustOffset(t, st, gokaOffsetNotStored); got != 7 {
		t.Fatalf("offset after clean reopen = %d, want 7", got)
	}
	if got := iterAll(t, st); !slices.Equal(got, []kv{{"rebuilt", "1"}}) {
		t.Fatalf("contents after clean reopen = %v", got)
	}
	if logs.Len() != 1 {
		t.Fatalf("unexpected warnings: %v", logs.All())
	}
}

// fill writes n keys and offsets like a goka recovery followed by one
// processed record.
func fill(t *testing.T, st storage.Storage, prefix string, n int) {
	t.Helper()
	for i := range n {
		mustSet(t, st, fmt.Sprintf("%s-%03d", prefix, i), prefix)
		if err := st.SetOffset(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	mustSet(t, st, prefix+"-processed", prefix)
	if err := st.SetOffset(int64(n)); err != nil {
		t.Fatal(err)
	}
}

// wantEmpty checks that st is a discarded store: no keys and no offset.
func wantEmpty(t *testing.T, st storage.Storage) {
	t.Helper()
	if got := mustOffset(t, st, gokaOffsetNotStored); got != gokaOffsetNotStored {
		t.Fatalf("offset = %d, want the default (discarded)", got)
	}
	if got := iterAll(t, st); len(got) != 0 {
		t.Fatalf("%d keys, want none (discarded)", len(got))
	}
}

// wantFilled checks that st holds what fill(prefix, n) wrote.
func wantFilled(t *testing.T, st storage.Storage, prefix string, n int) {
	t.Helper()
	if got := mustOffset(t, st, gokaOffsetNotStored); got != int64(n) {
		t.Fatalf("offset = %d, want %d", got, n)
	}
	if got := len(iterAll(t, st)); got != n+1 {
		t.Fatalf("%d keys, want %d", got, n+1)
	}
}

func markerPresent(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(path, markerName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCleanCloseKeepsData(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zapcore.WarnLevel)
	tables := New(dir, WithCacheSize(1<<20), WithLogger(zap.New(core)))
	st := mustBuild(t, tables.Builder(), "t", 0)
	path := st.(*Store).Path()
	if !markerPresent(t, path) {
		t.Fatal("no marker while open")
	}
	fill(t, st, "a", 20)
	mustClose(t, st)
	if markerPresent(t, path) {
		t.Fatal("marker left after a clean close")
	}
	for range 2 { // also through a second Tables, as after a restart
		st = mustBuild(t, tables.Builder(), "t", 0)
		wantFilled(t, st, "a", 20)
		mustClose(t, st)
		tables = New(dir, WithCacheSize(1<<20), WithLogger(zap.New(core)))
	}
	if logs.Len() != 0 {
		t.Fatalf("unexpected warnings: %v", logs.All())
	}
	// A Tables that opened nothing has nothing to discard.
	if err := tables.Discard(); err != nil {
		t.Fatal(err)
	}
	st = mustBuild(t, tables.Builder(), "t", 0)
	wantFilled(t, st, "a", 20)
	mustClose(t, st)
}

func TestDiscardAfterClose(t *testing.T) {
	dir := t.TempDir()
	// A database from an earlier run that this run does not open.
	earlier := mustBuild(t, NewBuilder(dir, WithCacheSize(1<<20)), "t", 9)
	fill(t, earlier, "old", 10)
	mustClose(t, earlier)

	tables := New(dir, WithCacheSize(1<<20))
	build := tables.Builder()
	type tp struct {
		topic     string
		partition int32
	}
	tps := []tp{{"t", 0}, {"t", 1}, {"u", 0}}
	for _, p := range tps {
		st := mustBuild(t, build, p.topic, p.partition)
		fill(t, st, p.topic, 10)
		mustClose(t, st)
	}
	// goka reopens partitions on a rebalance; still one database each.
	st := mustBuild(t, build, "t", 0)
	mustClose(t, st)

	if err := tables.Discard(); err != nil {
		t.Fatal(err)
	}
	for _, p := range tps {
		path := filepath.Join(dir, p.topic, fmt.Sprint(p.partition))
		names, err := os.ReadDir(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if n.Name() != lockName {
				t.Errorf("%s still holds %s after Discard", path, n.Name())
			}
		}
		st := mustBuild(t, build, p.topic, p.partition)
		wantEmpty(t, st)
		mustClose(t, st)
	}
	st = mustBuild(t, build, "t", 9)
	wantFilled(t, st, "old", 10)
	mustClose(t, st)

	// Discard covers only what was opened since the previous Discard: the
	// stores reopened above were not written, but they were opened.
	st = mustBuild(t, build, "t", 0)
	fill(t, st, "new", 5)
	mustClose(t, st)
	if err := tables.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := tables.Discard(); err != nil {
		t.Fatal(err)
	}
	st = mustBuild(t, build, "t", 0)
	wantEmpty(t, st)
	mustClose(t, st)
}

func TestDiscardWhileOpen(t *testing.T) {
	dir := t.TempDir()
	tables := New(dir, WithCacheSize(1<<20))
	build := tables.Builder()
	st := mustBuild(t, build, "t", 0)
	path := st.(*Store).Path()
	fill(t, st, "a", 10)
	if err := tables.Discard(); err != nil {
		t.Fatal(err)
	}
	// The store keeps working until goka closes it ...
	fill(t, st, "b", 10)
	if got := len(iterAll(t, st)); got != 22 {
		t.Fatalf("%d keys before Close, want 22", got)
	}
	// ... and a clean close does not resurrect its data.
	mustClose(t, st)
	if !markerPresent(t, path) {
		t.Fatal("marker removed by the close of a discarded store")
	}
	st = mustBuild(t, build, "t", 0)
	wantEmpty(t, st)

	// The discard applied to one incarnation only: the rebuilt state is kept
	// by a clean close.
	fill(t, st, "c", 10)
	mustClose(t, st)
	if markerPresent(t, path) {
		t.Fatal("marker left by a clean close after the discarded incarnation")
	}
	st = mustBuild(t, build, "t", 0)
	wantFilled(t, st, "c", 10)
	mustClose(t, st)

	// Stores opened after Discard are not affected by it.
	st = mustBuild(t, build, "t", 0)
	if err := tables.Discard(); err != nil {
		t.Fatal(err)
	}
	other := mustBuild(t, build, "t", 1)
	fill(t, other, "d", 3)
	mustClose(t, st)
	mustClose(t, other)
	st = mustBuild(t, build, "t", 1)
	wantFilled(t, st, "d", 3)
	mustClose(t, st)
	st = mustBuild(t, build, "t", 0)
	wantEmpty(t, st)
	mustClose(t, st)
}

// Close and Discard racing: whichever wins, the state is gone afterwards.
func TestDiscardRacesWithClose(t *testing.T) {
	tables := New(t.TempDir(), WithCacheSize(1<<20))
	build := tables.Builder()
	for i := range 20 {
		st := mustBuild(t, build, "t", 0)
		wantEmpty(t, st)
		fill(t, st, "x", 3)
		var wg sync.WaitGroup
		var closeErr, discardErr error
		wg.Add(2)
		go func() { defer wg.Done(); closeErr = st.Close() }()
		go func() { defer wg.Done(); discardErr = tables.Discard() }()
		wg.Wait()
		if closeErr != nil || discardErr != nil {
			t.Fatalf("round %d: Close %v, Discard %v", i, closeErr, discardErr)
		}
	}
	st := mustBuild(t, build, "t", 0)
	wantEmpty(t, st)
	mustClose(t, st)
	if tables.blocks.live != 0 || tables.blocks.cache != nil {
		t.Fatalf("live %d, cache %v", tables.blocks.live, tables.blocks.cache)
	}
}

func TestDiscardLockedElsewhere(t *testing.T) {
	dir := t.TempDir()
	first := New(dir, WithCacheSize(1<<20))
	st := mustBuild(t, first.Builder(), "t", 0)
	fill(t, st, "a", 5)
	mustClose(t, st)

	// Misuse: another Tables holds the database.
	holder := mustBuild(t, NewBuilder(dir, WithCacheSize(1<<20)), "t", 0)
	if err := first.Discard(); err == nil {
		t.Fatal("Discard of a database open elsewhere succeeded")
	}
	wantFilled(t, holder, "a", 5)
	mustClose(t, holder)

	// The failed database stays covered by the next Discard.
	if err := first.Discard(); err != nil {
		t.Fatal(err)
	}
	st = mustBuild(t, first.Builder(), "t", 0)
	wantEmpty(t, st)
	mustClose(t, st)
}

func TestFailedOpens(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir)
	fill(t, st, "a", 5)
	mustClose(t, st)

	// A failed open of a clean database leaves it clean.
	if _, err := Open(dir, WithPebbleOptions(func(o *pebble.Options) { o.ErrorIfExists = true })); err == nil {
		t.Fatal("open with ErrorIfExists succeeded")
	}
	if markerPresent(t, dir) {
		t.Fatal("failed open left a marker")
	}
	st = openTest(t, dir)
	wantFilled(t, st, "a", 5)

	// An unreadable offset record: the open fails and the next one starts
	// over.
	if err := st.db.Set(offsetKey, []byte("bad"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	mustClose(t, st)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "corrupt offset") {
		t.Fatalf("open with a corrupt offset: %v", err)
	}
	st = openTest(t, dir)
	wantEmpty(t, st)

	// Layouts that wiping the directory could not discard are refused.
	for name, fn := range map[string]func(*pebble.Options){
		"WALDir":      func(o *pebble.Options) { o.WALDir = filepath.Join(dir, "wal") },
		"WALFailover": func(o *pebble.Options) { o.WALFailover = &pebble.WALFailoverOptions{} },
	} {
		if _, err := Open(t.TempDir(), WithPebbleOptions(fn)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("open with %s: %v", name, err)
		}
	}
}

// A Discard while a store is being opened applies to that store, whether the
// open succeeds or fails.
func TestDiscardDuringOpen(t *testing.T) {
	type gate struct {
		entered, proceed chan struct{}
		fail             bool
	}
	var current atomic.Pointer[gate]
	tables := New(t.TempDir(), WithCacheSize(1<<20), WithPebbleOptions(func(o *pebble.Options) {
		if g := current.Swap(nil); g != nil {
			close(g.entered)
			<-g.proceed
			o.ErrorIfExists = g.fail
		}
	}))
	build := tables.Builder()

	for _, fail := range []bool{false, true} {
		st := mustBuild(t, build, "t", 0)
		fill(t, st, "a", 3)
		mustClose(t, st)

		g := &gate{entered: make(chan struct{}), proceed: make(chan struct{}), fail: fail}
		current.Store(g)
		type result struct {
			st  storage.Storage
			err error
		}
		done := make(chan result, 1)
		go func() {
			st, err := build("t", 0)
			done <- result{st, err}
		}()
		<-g.entered
		if err := tables.Discard(); err != nil {
			t.Fatal(err)
		}
		close(g.proceed)
		r := <-done
		if fail {
			if r.err == nil {
				_ = r.st.Close()
				t.Fatal("open with ErrorIfExists succeeded")
			}
		} else {
			if r.err != nil {
				t.Fatal(r.err)
			}
			// The open began before Discard, so it sees the old state,
			// which is discarded once the store is closed.
			wantFilled(t, r.st, "a", 3)
			mustClose(t, r.st)
		}
		st = mustBuild(t, build, "t", 0)
		wantEmpty(t, st)
		mustClose(t, st)
	}
}
