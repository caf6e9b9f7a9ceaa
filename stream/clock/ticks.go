package clock

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/lovoo/goka"
)

// Ticks is the topic the ticker writes to: one tick per partition per
// interval, under that partition's TickKey. It has the partition count of
// the groups that read it.
const Ticks goka.Stream = "ticks"

// DefaultTickInterval is how often the ticker writes a round of ticks.
const DefaultTickInterval = 5 * time.Second

// Tick is one message of the ticks topic. It carries no data a rule may use:
// At is the ticker's wall clock, for observability only.
type Tick struct {
	// Partition is the partition the tick was written for.
	Partition int32 `json:"partition"`
	// Partitions is the partition count of the topic when it was written.
	Partitions int `json:"partitions"`
	// Seq counts the ticker's rounds (per ticker process, from 1).
	Seq uint64 `json:"seq"`
	// At is the ticker's wall time. Rules must not use it.
	At time.Time `json:"at"`
}

// KeyPartition is the partition goka's default hasher sends key to among
// partitions: FNV-1a 32 of the key, read as int32, modulo the partition
// count, negated if negative — the computation of sarama's hash partitioner
// (sarama.NewCustomHashPartitioner(goka.DefaultHasher())) that every goka
// producer of Hazelnut uses. It panics if partitions is not positive.
func KeyPartition(key string, partitions int) int32 {
	p, _ := keyPartition(key, partitions)
	return p
}

// keyPartition also reports whether goka's own lookup (Processor.Get,
// View.Get), which negates before the modulo, agrees with the producer: it
// does not for a hash of math.MinInt32, whose negation overflows.
func keyPartition(key string, partitions int) (int32, bool) {
	if partitions <= 0 {
		panic(fmt.Sprintf("clock: %d partitions", partitions))
	}
	h := goka.DefaultHasher()()
	_, _ = h.Write([]byte(key)) // hash.Hash never returns an error
	sum := int32(h.Sum32())
	p := sum % int32(partitions)
	if p < 0 {
		p = -p
	}
	return p, sum != math.MinInt32
}

// TickKey is the key of partition's ticks in a topic of partitions
// partitions: the first of "tick-<partition>-0", "tick-<partition>-1", …
// that goka's default hasher maps to partition (and that goka's table
// lookups map there too). The same arguments always give the same key. A
// group that reads ticks keeps its watermark record in its table under this
// key. It panics if partition is not in [0, partitions).
func TickKey(partition int32, partitions int) string {
	if partitions <= 0 || partition < 0 || int(partition) >= partitions {
		panic(fmt.Sprintf("clock: partition %d of %d", partition, partitions))
	}
	prefix := "tick-" + strconv.Itoa(int(partition)) + "-"
	for i := 0; ; i++ {
		key := prefix + strconv.Itoa(i)
		if p, ok := keyPartition(key, partitions); ok && p == partition {
			return key
		}
	}
}

// isTick reports whether raw is a tick written for ctx's partition under
// that partition's key. Anything else on the ticks topic is not ours.
func isTick(ctx goka.Context, raw []byte) bool {
	var t Tick
	if err := json.Unmarshal(raw, &t); err != nil {
		return false
	}
	p := ctx.Partition()
	if t.Partitions <= 0 || t.Partition != p || int(p) >= t.Partitions {
		return false
	}
	return ctx.Key() == TickKey(p, t.Partitions)
}
