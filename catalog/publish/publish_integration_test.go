//go:build integration

package publish_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore/pgtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish/publishtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// postgres is the scenario's catalog in PostgreSQL, written through the
// store as the admin tools do.
type postgres struct{ store *pgstore.Store }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (p postgres) Campaign(ctx context.Context, id string) (catalog.Campaign, error) {
	return p.store.Campaign(ctx, id)
}

func (p postgres) snapshot(t *testing.T) (*catalog.Catalog, []catalog.Rotation) {
	c, err := p.store.Catalog(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	rot, err := p.store.Rotations(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	return c, rot
}

func (p postgres) setCampaign(t *testing.T, id string, from time.Time, spec catalog.CampaignSpec) {
	if _, err := p.store.SetCampaignSpec(ctx(t), id, from, spec); err != nil {
		t.Fatal(err)
	}
}

func (p postgres) deleteCampaign(t *testing.T, id string, at time.Time) {
	if _, err := p.store.DeleteCampaign(ctx(t), id, at); err != nil {
		t.Fatal(err)
	}
}

func (p postgres) rotateToken(t *testing.T, projectID, token string) {
	if _, err := p.store.RotateToken(ctx(t), projectID, token); err != nil {
		t.Fatal(err)
	}
}

// TestPublishServices runs the scenario from PostgreSQL to the real
// broker. The catalog topic is shared by every run, so this run's ids,
// hosts and secrets carry a random suffix and only they are compared.
func TestPublishServices(t *testing.T) {
	brokers := os.Getenv("HAZELNUT_KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("HAZELNUT_KAFKA_BROKERS is not set: run the integration tier through `make test` (scripts/services.sh up)")
	}
	url := pgtest.NewDatabase(t)
	if _, err := pgstore.Migrate(ctx(t), url); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.Open(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sfx := "-" + hex.EncodeToString(b)
	cat, err := yamlcat.Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := publishtest.WithSuffix(cat, sfx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Seed(ctx(t), cat); err != nil {
		t.Fatal(err)
	}

	// One test broker: one copy, and the partition count the other tests use.
	kafka := stream.Kafka{Brokers: strings.Split(brokers, ","), Partitions: 4, Replication: 1}
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
	if err != nil {
		t.Fatal(err)
	}
	decl, ok := topics.Get(publish.Topic)
	if !ok {
		t.Fatal("topics.yaml declares no catalog topic")
	}
	topics.List = []stream.Topic{decl}
	// Views read every partition, so another run's partition count is fine.
	if err := kafka.EnsureTopics(ctx(t), topics); err != nil && !errors.Is(err, stream.ErrPartitionMismatch) {
		t.Fatal(err)
	}
	id := idsFor(sfx)
	runScenario(t, kafka, postgres{store}, id, func() { compactRealTopic(t, kafka, "campaign:"+id.summer) })
}

// compactRealTopic makes Kafka's log cleaner compact the catalog topic
// soon (short segments, any dirty ratio), rolls the segment holding key by
// appending a marker record to its partition, and waits until only one
// record of key is left. The topic's settings are restored afterwards.
func compactRealTopic(t *testing.T, kafka stream.Kafka, key string) {
	admin, err := sarama.NewClusterAdmin(kafka.Brokers, kafka.Sarama("compact-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	set := func(v string) sarama.IncrementalAlterConfigsEntry {
		return sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	fast := map[string]sarama.IncrementalAlterConfigsEntry{
		"segment.ms": set("100"), "min.cleanable.dirty.ratio": set("0.001"), "min.compaction.lag.ms": set("0"),
	}
	if err := admin.IncrementalAlterConfig(sarama.TopicResource, publish.Topic, fast, false); err != nil {
		t.Fatal(err)
	}
	defer func() {
		restore := map[string]sarama.IncrementalAlterConfigsEntry{}
		for k := range fast {
			restore[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
		}
		if err := admin.IncrementalAlterConfig(sarama.TopicResource, publish.Topic, restore, false); err != nil {
			t.Errorf("restore catalog topic settings: %v", err)
		}
	}()
	details, err := admin.DescribeTopics([]string{publish.Topic})
	if err != nil || len(details) != 1 {
		t.Fatalf("describe catalog topic: %v", err)
	}
	partition := clock.KeyPartition(key, len(details[0].Partitions))
	cfg := kafka.Sarama("compact-test")
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(kafka.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	count := func() int { return len(topicValues(t, kafka)[key]) }
	if n := count(); n < 2 {
		t.Fatalf("%d records of %s before compaction; the scenario wrote several", n, key)
	}
	// Appending to key's partition rolls the segment that holds key's
	// records (older than segment.ms), so the cleaner may compact them.
	// The marker is a key no reader asks for.
	var lastRoll time.Time
	poll.Until(t, 120*time.Second, "Kafka's cleaner to leave one record of "+key, func() bool {
		if time.Since(lastRoll) >= 500*time.Millisecond {
			lastRoll = time.Now()
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: publish.Topic, Partition: partition,
				Key: sarama.StringEncoder("test:segment-roll"), Value: sarama.StringEncoder(`{"kind":"marker","version":0}`)}); err != nil {
				t.Fatal(err)
			}
		}
		return count() == 1
	})
}
