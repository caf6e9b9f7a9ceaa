package pebblestore

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lovoo/goka/storage"
)

// The benchmarks compare this package with goka's own storages on the calls
// goka makes:
//
//   - recovery: Set then SetOffset for every changelog record, before
//     MarkRecovered (PartitionTable.storeEvent);
//   - processing: Set from the callback, then SetOffset when the changelog
//     write is acknowledged, after MarkRecovered (cbContext.setValueForKey);
//   - random Get on a populated table.
//
// "leveldb" is goka's default storage (storage.DefaultBuilder: LevelDB with
// default options); "pebble" is this package with its defaults. goka's
// memory storage is left out: its Set re-sorts the whole key slice for every
// new key, so it cannot hold tables of this size. Keys are 20 bytes in
// random order (as hashed keys arrive from a changelog), values 100 random
// bytes. See docs/BENCHMARKS.md for the commands and figures.

const (
	benchKeyLen   = 20
	benchValueLen = 100
	benchKeys     = 1 << 20 // distinct keys; larger runs overwrite
	benchValues   = 1024    // distinct values, cycled
)

// benchData returns benchKeys keys and benchValues values, generated once.
var benchData = sync.OnceValues(func() ([]string, [][]byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, benchKeys)
	for i := range keys {
		// "key-" and 16 hex digits of a random 64-bit number: 20 bytes.
		keys[i] = fmt.Sprintf("key-%016x", rng.Uint64())
	}
	values := make([][]byte, benchValues)
	for i := range values {
		v := make([]byte, benchValueLen)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		values[i] = v
	}
	return keys, values
})

type benchBackend struct {
	name string
	// open returns an opened storage at a fresh location under dir.
	open func(tb testing.TB, dir string) storage.Storage
}

var benchBackends = []benchBackend{
	{"pebble", func(tb testing.TB, dir string) storage.Storage {
		return benchOpen(tb, NewBuilder(dir))
	}},
	{"leveldb", func(tb testing.TB, dir string) storage.Storage {
		return benchOpen(tb, storage.DefaultBuilder(dir))
	}},
}

func benchOpen(tb testing.TB, build storage.Builder) storage.Storage {
	tb.Helper()
	st, err := build("bench", 0)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Open(); err != nil {
		tb.Fatal(err)
	}
	return st
}

// writeRecords performs the Set and SetOffset calls of records [from, to).
func writeRecords(tb testing.TB, st storage.Storage, from, to int) {
	keys, values := benchData()
	for i := from; i < to; i++ {
		if err := st.Set(keys[i%benchKeys], values[i%benchValues]); err != nil {
			tb.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			tb.Fatal(err)
		}
	}
}

// benchWrites runs, per iteration, one partition's worth of table writes
// into a fresh store: records Set+SetOffset calls plus MarkRecovered, either
// after the writes (recovery) or before them (normal processing). Opening,
// closing and deleting the store are not timed. Each iteration does the
// same work, so the result does not depend on how many iterations the
// benchmark framework chooses.
func benchWrites(b *testing.B, be benchBackend, records int, recovery bool) {
	benchData() // generate outside the timed region
	root := b.TempDir()
	round := 0
	var size int64
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(root, fmt.Sprint(round))
		round++
		st := be.open(b, dir)
		b.StartTimer()

		if !recovery {
			if err := st.MarkRecovered(); err != nil {
				b.Fatal(err)
			}
		}
		writeRecords(b, st, 0, records)
		if recovery {
			if err := st.MarkRecovered(); err != nil {
				b.Fatal(err)
			}
		}

		b.StopTimer()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		size = dirSize(b, dir)
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(records*round)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size)/1e6, "MB-disk")
}

// BenchmarkRecovery measures changelog recovery of 100k records:
// Set+SetOffset per record, then MarkRecovered.
func BenchmarkRecovery(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) { benchWrites(b, be, 100_000, true) })
	}
}

// BenchmarkProcessing measures the table writes of normal processing:
// MarkRecovered, then Set+SetOffset for 100k records.
func BenchmarkProcessing(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) { benchWrites(b, be, 100_000, false) })
	}
}

// BenchmarkRecovery1M measures the recovery of a table of 1M records into a
// fresh store. It runs only with HAZELNUT_LONG=1; use -benchtime=1x.
func BenchmarkRecovery1M(b *testing.B) {
	if os.Getenv("HAZELNUT_LONG") != "1" {
		b.Skip("set HAZELNUT_LONG=1 to run")
	}
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) { benchWrites(b, be, 1_000_000, true) })
	}
}

// BenchmarkGet measures random Gets of present keys on a table of 100k
// records populated through the recovery path.
func BenchmarkGet(b *testing.B) {
	const populated = 100_000
	keys, _ := benchData()
	rng := rand.New(rand.NewPCG(3, 4))
	order := make([]string, 1<<16)
	for i := range order {
		order[i] = keys[rng.IntN(populated)]
	}
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b, b.TempDir())
			defer st.Close()
			writeRecords(b, st, 0, populated)
			if err := st.MarkRecovered(); err != nil {
				b.Fatal(err)
			}
			n := 0
			for b.Loop() {
				v, err := st.Get(order[n%len(order)])
				if err != nil || len(v) != benchValueLen {
					b.Fatalf("Get: %d bytes, %v", len(v), err)
				}
				n++
			}
		})
	}
}

func dirSize(tb testing.TB, dir string) int64 {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return size
}

// BenchmarkSweepPass walks a table the way a sweep pass of 8 slices does:
// "whole table per slice" opens 8 iterators over every key and keeps the
// slice's keys by hash (how a pass read the table before iterators took a
// key range), "key range per slice" opens the 8 scoped iterators. 256k keys
// of 20 bytes with 250-byte values, flushed into table files.
func BenchmarkSweepPass(b *testing.B) {
	const n, keys = 8, 1 << 18
	names, _ := benchData()
	value := make([]byte, 250)
	rand.NewChaCha8([32]byte{2}).Read(value)
	tables := New(b.TempDir(), WithCacheSize(64<<20))
	st, err := tables.Builder()("table", 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Open(); err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, k := range names[:keys] {
		if err := st.Set(k, value); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.(*Store).db.Flush(); err != nil {
		b.Fatal(err)
	}
	var slice int
	var scope func() IterScope
	tables.FilterIterators(func(string, int32) IterScope { return scope() })
	for _, c := range []struct {
		name  string
		scope func() IterScope
	}{
		{"whole table per slice", func() IterScope {
			return IterScope{Keep: func(key, _ []byte) bool { return int(key[len(key)-1])%n == slice }}
		}},
		{"key range per slice", func() IterScope { return IterScope{Slice: slice, Slices: n} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			scope = c.scope
			for b.Loop() {
				met := 0
				for slice = 0; slice < n; slice++ {
					it, err := st.Iterator()
					if err != nil {
						b.Fatal(err)
					}
					for it.Next() {
						met++
					}
					it.Release()
				}
				if met != keys {
					b.Fatalf("a pass met %d keys, want %d", met, keys)
				}
			}
		})
	}
}
