package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// startProducer starts an embedded broker with topic (parts partitions) and
// runs p's component on it until the test ends.
func startProducer(t testing.TB, dataDir string, topic string, parts int, p *Producer) (*Embedded, Kafka) {
	t.Helper()
	emb, err := StartEmbedded(dataDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	k := Kafka{Brokers: emb.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.EnsureTopics(ctx, Topics{List: []Topic{{Name: topic, Cleanup: CleanupDelete, Partitions: parts,
		Replication: 1, Retention: time.Hour}}}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Component("producer", k, "test").Run(runCtx, func() { close(ready) })
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("producer did not stop")
		}
		emb.Close()
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("producer stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("producer not ready")
	}
	return emb, k
}

// readAll returns every record of topic by partition, in offset order.
func readAll(t *testing.T, k Kafka, topic string) map[int32][]*sarama.ConsumerMessage {
	t.Helper()
	client, err := sarama.NewClient(k.Brokers, k.Sarama("test-reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32][]*sarama.ConsumerMessage{}
	for _, p := range parts {
		hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if hw == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case m := <-pc.Messages():
				out[p] = append(out[p], m)
			case <-time.After(10 * time.Second):
				t.Fatalf("partition %d: read %d of %d records", p, len(out[p]), hw)
			}
			if out[p][len(out[p])-1].Offset >= hw-1 {
				break
			}
		}
		pc.Close()
	}
	return out
}

func TestProducerNotReadyBeforeComponent(t *testing.T) {
	p := NewProducer()
	if err := p.Send(context.Background(), Record{Topic: "t", Key: "k"}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Send before Component: %v, want ErrNotReady", err)
	}
	if err := p.SendAll(context.Background(), []Record{{Topic: "t", Key: "k"}}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("SendAll before Component: %v, want ErrNotReady", err)
	}
}

// The partition a record is written to is the one goka's views compute,
// the same as Kafka.ProducerConfig's partitioner.
func TestPartitionOfMatchesProducerConfig(t *testing.T) {
	part := Kafka{}.ProducerConfig("x").Producer.Partitioner("t")
	for _, n := range []int32{1, 3, 4, 8, 12, 64} {
		for i := range 2000 {
			key := fmt.Sprintf("demo:install-%d", i)
			want, err := part.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got := partitionOf(key, n); got != want {
				t.Fatalf("key %s, %d partitions: %d, ProducerConfig %d", key, n, got, want)
			}
		}
	}
}

// Concurrent senders, several shards: every acknowledged record is
// readable, on goka's partition for its key, and the records of one key are
// in the order they were sent (SendAll batches and consecutive Sends).
func TestProducerOrderPerKeyAndEveryAckReadable(t *testing.T) {
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			p := NewProducer(WithProducerShards(shards))
			_, k := startProducer(t, "", "orders", 8, p)
			const senders, keysPerSender, perKey = 16, 4, 30
			var acked atomic.Int64
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					for seq := 0; seq < perKey; seq += 3 {
						// one SendAll with a record per key and step, then
						// single Sends
						var batch []Record
						for kk := range keysPerSender {
							key := fmt.Sprintf("s%d-k%d", s, kk)
							for j := range 2 {
								batch = append(batch, Record{Topic: "orders", Key: key, Value: []byte(strconv.Itoa(seq + j))})
							}
						}
						if err := p.SendAll(ctx, batch); err != nil {
							t.Error(err)
							return
						}
						acked.Add(int64(len(batch)))
						for kk := range keysPerSender {
							key := fmt.Sprintf("s%d-k%d", s, kk)
							if err := p.Send(ctx, Record{Topic: "orders", Key: key, Value: []byte(strconv.Itoa(seq + 2)),
								Headers: map[string][]byte{"h": []byte("v")}}); err != nil {
								t.Error(err)
								return
							}
							acked.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			seqs := map[string][]int{}
			total := 0
			for part, msgs := range readAll(t, k, "orders") {
				for _, m := range msgs {
					key := string(m.Key)
					if want := partitionOf(key, 8); part != want {
						t.Fatalf("key %s on partition %d, want %d", key, part, want)
					}
					n, _ := strconv.Atoi(string(m.Value))
					seqs[key] = append(seqs[key], n)
					total++
				}
			}
			if int64(total) != acked.Load() {
				t.Fatalf("read %d records, %d were acknowledged", total, acked.Load())
			}
			if len(seqs) != senders*keysPerSender {
				t.Fatalf("%d keys, want %d", len(seqs), senders*keysPerSender)
			}
			for key, s := range seqs {
				if len(s) != perKey || !slices.IsSorted(s) {
					t.Fatalf("key %s: %v", key, s)
				}
			}
		})
	}
}

// With the broker gone, Send returns an error by its context's deadline
// (never a false acknowledgement), and the component asks to be rebuilt.
func TestProducerBrokerGone(t *testing.T) {
	p := NewProducer(WithProducerShards(2))
	emb, _ := startProducer(t, "", "gone", 4, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := p.Send(ctx, Record{Topic: "gone", Key: "a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	cancel()
	emb.Close()
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		t0 := time.Now()
		err := p.Send(ctx, Record{Topic: "gone", Key: fmt.Sprint("k", i), Value: []byte("1")})
		took := time.Since(t0)
		cancel()
		if err == nil {
			t.Fatal("Send acknowledged with the broker gone")
		}
		if took > 1500*time.Millisecond {
			t.Fatalf("Send took %s with a 1s deadline (err %v)", took, err)
		}
	}
}

// BenchmarkProducer measures Send on the embedded broker (with a data dir,
// as `hazelnut dev`): callers concurrent Send loops of 1 KiB records over 8
// partitions, the rate and the p50/p99 wait for the acknowledgement.
//
//	go test -run '^$' -bench Producer -benchtime 20000x ./stream
func BenchmarkProducer(b *testing.B) {
	value := make([]byte, 1024)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	type variant struct {
		name string
		opts []ProducerOption
	}
	tune := func(fn func(*sarama.Config)) ProducerOption { return withSaramaTuning(fn) }
	lingerOnly := tune(func(c *sarama.Config) { c.Producer.Flush.Messages = 0 })
	noSnappy := func(c *sarama.Config) { c.Producer.Compression = sarama.CompressionNone }
	chan1024 := func(c *sarama.Config) { c.ChannelBufferSize = 1024 }
	variants := []variant{
		{"linger/shards=1", []ProducerOption{WithProducerShards(1), lingerOnly}},
		{"free/shards=1", []ProducerOption{WithProducerShards(1)}},
		{"free/shards=2", []ProducerOption{WithProducerShards(2)}},
		{"free/shards=4", []ProducerOption{WithProducerShards(4)}},
		{"free/shards=1/nosnappy", []ProducerOption{WithProducerShards(1), tune(noSnappy)}},
		{"free/shards=1/chan1024", []ProducerOption{WithProducerShards(1), tune(chan1024)}},
		{"free/shards=4/chan1024", []ProducerOption{WithProducerShards(4), tune(chan1024)}},
	}
	for _, v := range variants {
		for _, callers := range []int{16, 64, 256} {
			b.Run(fmt.Sprintf("%s/callers=%d", v.name, callers), func(b *testing.B) {
				p := NewProducer(v.opts...)
				startProducer(b, b.TempDir(), "bench", 8, p)
				var seq atomic.Int64
				lat := make([][]time.Duration, callers)
				var wg sync.WaitGroup
				b.ResetTimer()
				for c := range callers {
					wg.Go(func() {
						ctx := context.Background()
						for {
							i := seq.Add(1)
							if i > int64(b.N) {
								return
							}
							t0 := time.Now()
							if err := p.Send(ctx, Record{Topic: "bench", Key: "demo:install-" + strconv.FormatInt(i, 10), Value: value}); err != nil {
								b.Error(err)
								return
							}
							lat[c] = append(lat[c], time.Since(t0))
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
					b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}
