package stream

import (
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"
)

func TestSaramaConfigIsSafe(t *testing.T) {
	k := Kafka{Brokers: []string{"127.0.0.1:9092"}, Linger: 3 * time.Millisecond}
	a, b := k.Sarama(k.ClientID("a")), k.Sarama(k.ClientID("b"))
	if a == b {
		t.Fatal("every client must get its own config")
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"valid", a.Validate() == nil},
		{"explicit version", a.Version == DefaultVersion},
		{"client id per role", a.ClientID == "hazelnut-a" && b.ClientID == "hazelnut-b"},
		{"streams start at oldest", a.Consumer.Offsets.Initial == sarama.OffsetOldest},
		{"acks=all", a.Producer.RequiredAcks == sarama.WaitForAll},
		{"idempotent", a.Producer.Idempotent && a.Net.MaxOpenRequests == 1},
		{"linger", a.Producer.Flush.Frequency == 3*time.Millisecond},
		{"successes returned", a.Producer.Return.Successes && a.Producer.Return.Errors},
		{"copartitioning", len(a.Consumer.Group.Rebalance.GroupStrategies) == 1 &&
			a.Consumer.Group.Rebalance.GroupStrategies[0].Name() == "copartition"},
		{"no sarama metrics", isNilMeter(metrics.GetOrRegisterMeter("request-rate", a.MetricRegistry))},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("sarama config: %s does not hold", c.name)
		}
	}
	if err := (Kafka{Brokers: []string{"nohost"}}).Validate(); err == nil {
		t.Error("a broker without port must be rejected")
	}
}

func isNilMeter(m metrics.Meter) bool {
	_, ok := m.(metrics.NilMeter)
	return ok
}

func TestParseTopics(t *testing.T) {
	yml := []byte(`
defaults: {partitions: 8, replication: 3, retention: 720h}
topics:
  - {name: a, cleanup: delete}
  - {name: b, cleanup: compact, partitions: 2}
`)
	tp, err := ParseTopics(yml, Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tp.Get("a")
	b, _ := tp.Get("b")
	if a.Partitions != 8 || a.Replication != 3 || a.Retention != 720*time.Hour || b.Partitions != 2 {
		t.Errorf("defaults not applied: %+v %+v", a, b)
	}
	tp, err = ParseTopics(yml, Kafka{Partitions: 4, Replication: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := tp.Get("a"); a.Partitions != 4 || a.Replication != 1 {
		t.Errorf("overrides not applied: %+v", a)
	}
	for _, bad := range []string{
		"topics: [{name: x, cleanup: sometimes}]",
		"topics: [{name: x, cleanup: delete}, {name: x, cleanup: delete}]",
		"topics: [{cleanup: delete}]",
		"topics: [{name: x, cleanup: delete}]", // no partitions anywhere
		"topics: {",
	} {
		if _, err := ParseTopics([]byte(bad), Kafka{}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// Records produced outside goka land on the partition goka's tables and
// views compute for their key (FNV-1a 32, |hash| % n).
func TestProducersUseGokaHasher(t *testing.T) {
	k := Kafka{Brokers: []string{"127.0.0.1:9092"}}
	part := k.ProducerConfig("x").Producer.Partitioner("installs")
	for _, n := range []int32{1, 4, 8, 12} {
		for i := range 500 {
			key := fmt.Sprintf("demo:install-%d", i)
			got, err := part.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			h := fnv.New32a()
			h.Write([]byte(key))
			want := int32(h.Sum32())
			if want < 0 {
				want = -want
			}
			if want%n != got {
				t.Fatalf("key %s with %d partitions: producer %d, goka %d", key, n, got, want%n)
			}
		}
	}
}
