package recorder

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// simpleGroup creates, under a fresh name, an input topic and a group
// table with the test partition count.
func simpleGroup(t testing.TB, kafka stream.Kafka, prefix string) (goka.Group, goka.Stream) {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	group, in := goka.Group(name), goka.Stream(name+"-in")
	if err := kafka.EnsureTopics(context.Background(), stream.Topics{List: []stream.Topic{
		{Name: string(in), Cleanup: "delete", Partitions: partitions, Replication: 1, Retention: time.Hour},
		{Name: string(goka.GroupTable(group)), Cleanup: "compact", Partitions: partitions, Replication: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	return group, in
}

// preload writes n records of 100 B to topic with goka's hasher; key(i)
// names the i-th record's key.
func preload(t testing.TB, kafka stream.Kafka, topic string, n int, key func(int) string) {
	t.Helper()
	prod, err := sarama.NewAsyncProducer(kafka.Brokers, kafka.ProducerConfig(kafka.ClientID("preload")))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range prod.Successes() {
		}
	}()
	go func() {
		for e := range prod.Errors() {
			t.Error(e)
		}
	}()
	val := []byte(strings.Repeat("v", 100))
	for i := range n {
		prod.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key(i)), Value: sarama.ByteEncoder(val)}
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
}
