package views

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/processors/projections"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

// The view finds a device's installs by project and device id in any
// case, in the partition goka's hasher gives the key.
func TestDeviceInstallsView(t *testing.T) {
	var d DeviceInstalls
	if _, err := d.Get("p", "g"); !errors.Is(err, stream.ErrNotReady) {
		t.Fatalf("before the view runs: %v", err)
	}
	broker, err := stream.StartEmbedded("", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	kafka := stream.Kafka{Brokers: broker.Brokers()}
	table := string(projections.DeviceInstallsTable)
	var topics stream.Topics
	topics.List = []stream.Topic{{Name: table, Cleanup: stream.CleanupCompact, Partitions: 3, Replication: 1}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(kafka.Brokers, kafka.ProducerConfig("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	key := codecs.DeviceKey("p", "GAID-1")
	value := codecs.DeviceInstalls{Installs: []codecs.DeviceInstall{{ProjectID: "p", Device: "gaid-1", InstallID: "i1", Version: 2, Source: "META"}}}
	b, _ := codecs.JSON[codecs.DeviceInstalls]{}.Encode(value)
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: table, Key: sarama.StringEncoder(key),
		Partition: clock.KeyPartition(key, 3), Value: sarama.ByteEncoder(b)}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = stream.NewSupervisor(nil).Run(runCtx, d.Component(kafka.Brokers, kafka.ViewOptions("devices-test", pebblestore.NewBuilder(t.TempDir()), 1)...))
	}()
	defer func() { stop(); <-done }()
	poll.Until(t, 30*time.Second, "the device's installs", func() bool { v, err := d.Get("p", "gaid-1"); return err == nil && v != nil })
	got, err := d.Get("p", "GAID-1")
	if err != nil || got == nil || len(got.Installs) != 1 || got.Installs[0].InstallID != "i1" || got.Installs[0].Version != 2 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if got, err := d.Get("p", "other"); got != nil || err != nil {
		t.Fatalf("unknown device: %+v, %v", got, err)
	}
}
