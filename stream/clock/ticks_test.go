package clock

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// saramaPartition is where Hazelnut's producers (sarama's hash partitioner
// over goka's default hasher, as stream.Kafka builds them) send key.
func saramaPartition(t *testing.T, key string, n int) int32 {
	t.Helper()
	p, err := sarama.NewCustomHashPartitioner(goka.DefaultHasher())("ticks").
		Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, int32(n))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTickKeyMatchesSaramaPartitioner(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 6, 7, 8, 12, 16, 24, 32, 64, 100, 256} {
		seen := map[string]bool{}
		for p := int32(0); int(p) < n; p++ {
			key := TickKey(p, n)
			if got := saramaPartition(t, key, n); got != p {
				t.Errorf("n=%d: TickKey(%d)=%q goes to partition %d", n, p, key, got)
			}
			if again := TickKey(p, n); again != key {
				t.Errorf("n=%d p=%d: TickKey not deterministic: %q then %q", n, p, key, again)
			}
			if seen[key] {
				t.Errorf("n=%d: key %q used twice", n, key)
			}
			seen[key] = true
		}
	}
	if got := TickKey(0, 1); got != "tick-0-0" {
		t.Errorf("TickKey(0, 1) = %q", got)
	}
}

func TestKeyPartitionMatchesSarama(t *testing.T) {
	for _, n := range []int{1, 3, 4, 8, 17} {
		for i := 0; i < 2000; i++ {
			key := fmt.Sprintf("p%d:install-%d", i%7, i)
			if got, want := KeyPartition(key, n), saramaPartition(t, key, n); got != want {
				t.Fatalf("n=%d key %q: KeyPartition %d, sarama %d", n, key, got, want)
			}
		}
	}
}

func TestTickKeyRejectsBadArguments(t *testing.T) {
	for _, c := range []struct {
		p int32
		n int
	}{{-1, 4}, {4, 4}, {0, 0}, {0, -2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("TickKey(%d, %d) did not panic", c.p, c.n)
				}
			}()
			TickKey(c.p, c.n)
		}()
	}
}
