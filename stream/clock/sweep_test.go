package clock

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/lovoo/goka/tester"
)

// keys of the tester's table other than watermark records
func entryKeys(tt *tester.Tester) []string {
	var out []string
	for _, k := range tt.GetTableKeys(testTable) {
		if _, rec := tt.TableValue(testTable, k).(*Record); !rec {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestSweepDeletesExactlyTheExpiredEntries(t *testing.T) {
	const slices = 4
	examined := map[int][]string{} // sweep number → keys handed to the SweepFunc
	sweep := 0
	g := newTestGroup(SweepConfig{Slices: slices}, func(key string) { examined[sweep] = append(examined[sweep], key) })
	tt := tester.New(t)
	p, _ := runOnTester(t, tt, g)
	ctx := context.Background()

	var all, expired []string
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("p:e%02d", i)
		tt.Consume(string(inA), k, entryBytes(entry{At: at(i * 10)}))
		all = append(all, k)
		if at(i * 10).Add(testTTL).Before(at(150)) { // i <= 11
			expired = append(expired, k)
		}
	}
	tt.Consume(string(inB), "p:edge", entryBytes(entry{At: at(115)}))                 // expiry == watermark: kept
	tt.Consume(string(inB), "p:forever", entryBytes(entry{At: at(0), Forever: true})) // never expires
	all = append(all, "p:edge", "p:forever")
	sort.Strings(all)

	// Before any tick the watermark is unknown: a sweep deletes nothing.
	for sweep = 0; sweep < slices; sweep++ {
		if _, err := g.s.Sweep(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := entryKeys(tt); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("swept without a watermark: %v", got)
	}

	tt.Consume(string(inA), "p:mark", entryBytes(entry{At: at(150), Mark: true}))
	tt.Consume(string(inB), "p:mark", entryBytes(entry{At: at(150), Mark: true}))
	tick(tt)
	wantMark(t, "before sweeping", storedRecord(t, tt).Watermark, at(150))

	clear(examined)
	for sweep = 0; sweep < slices; sweep++ {
		visited, err := g.s.Sweep(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if visited == 0 {
			t.Error("a sweep visited nothing")
		}
		// After each slice: the expired keys it examined are gone, every
		// entry that has not expired is still there.
		for _, k := range examined[sweep] {
			if contains(expired, k) && tt.TableValue(testTable, k) != nil {
				t.Errorf("sweep %d examined expired %s and kept it", sweep, k)
			}
		}
		left := entryKeys(tt)
		for _, k := range diff(all, expired) {
			if !contains(left, k) {
				t.Errorf("sweep %d deleted %s, which has not expired", sweep, k)
			}
		}
	}
	want := diff(all, expired)
	if got := entryKeys(tt); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a full pass:\n got %v\nwant %v", got, want)
	}
	if r := storedRecord(t, tt); !r.Watermark.Equal(at(150)) {
		t.Errorf("the watermark record was touched: %+v", r)
	}
	// Each entry was examined in exactly one slice; more than one slice
	// had work.
	seen := map[string]int{}
	busy := 0
	for _, keys := range examined {
		if len(keys) > 0 {
			busy++
		}
		for _, k := range keys {
			seen[k]++
		}
	}
	for _, k := range all {
		if seen[k] != 1 {
			t.Errorf("%s examined %d times in one pass", k, seen[k])
		}
	}
	if busy < 2 {
		t.Errorf("only %d of %d slices had work", busy, slices)
	}
}

// Keys of one goka partition spread over the slices: slicing must not reuse
// the partitioning hash.
func TestSlicesSpreadAPartitionsKeys(t *testing.T) {
	for _, c := range []struct{ partitions, slices int }{{8, 4}, {8, 8}, {8, 16}, {4, 16}, {3, 6}} {
		count := make([]int, c.slices)
		total := 0
		for i := 0; total < 400*c.slices; i++ {
			k := fmt.Sprintf("p%d:install-%d", i%5, i)
			if KeyPartition(k, c.partitions) != 1 {
				continue
			}
			total++
			for s := 0; s < c.slices; s++ {
				if inSlice(k, slice{I: uint32(s), N: uint32(c.slices)}) {
					count[s]++
				}
			}
		}
		for s, n := range count {
			if n < 200 { // expected 400 per slice
				t.Errorf("%d partitions, %d slices: slice %d got %d of %d keys: %v", c.partitions, c.slices, s, n, total, count)
				break
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func diff(all, remove []string) []string {
	var out []string
	for _, k := range all {
		if !contains(remove, k) {
			out = append(out, k)
		}
	}
	return out
}
