package stream

import (
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	metrics "github.com/rcrowley/go-metrics"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

func init() {
	// Sarama's own metrics (histograms and meters updated with every
	// request) are never read by Hazelnut: switched off the way sarama's
	// documentation says, with go-metrics' process-wide switch.
	metrics.UseNilMetrics = true
}

// DefaultVersion is the Kafka protocol version Hazelnut speaks unless told
// otherwise. 3.6 request versions are served by Kafka 3.x and 4.x brokers
// (Kafka 4 removed the pre-2.1 request versions) and by the embedded broker.
var DefaultVersion = sarama.V3_6_0_0

// Kafka describes how every component reaches the broker. It is a value:
// each call builds fresh sarama configs, so no two components share one.
type Kafka struct {
	// Brokers are the bootstrap addresses.
	Brokers []string
	// Version is the protocol version; zero means DefaultVersion.
	Version sarama.KafkaVersion
	// Linger is how long a producer waits to batch records (default 5ms).
	Linger time.Duration
	// ClientPrefix prefixes every client id (default "hazelnut").
	ClientPrefix string
	// Partitions overrides the partition count of topics.yaml when > 0.
	Partitions int
	// Replication overrides the replication factor of topics.yaml when > 0.
	Replication int
	// InstanceID, when set, makes every consumer group member of this
	// process a static member ("<InstanceID>-<group>"): a restart within the
	// session timeout gets its partitions back without a rebalance. It must
	// be unique per process and stable across its restarts.
	InstanceID string
	// Logger receives goka's and sarama's own logs at debug level; nil
	// discards them.
	Logger *zap.Logger
	// Uncompressed sends record batches without compression (otherwise
	// Snappy): for the embedded broker, which shares the process and has
	// no network to save.
	Uncompressed bool
}

func (k Kafka) version() sarama.KafkaVersion {
	if k.Version == (sarama.KafkaVersion{}) {
		return DefaultVersion
	}
	return k.Version
}

func (k Kafka) linger() time.Duration {
	if k.Linger <= 0 {
		return 5 * time.Millisecond
	}
	return k.Linger
}

// ClientID names a client of the given role, e.g. "hazelnut-attribution".
func (k Kafka) ClientID(role string) string {
	p := k.ClientPrefix
	if p == "" {
		p = "hazelnut"
	}
	return p + "-" + role
}

// Sarama builds a new sarama config for one client. Settings differ from
// goka's defaults on purpose:
//   - stream inputs start at the oldest offset when the group has no commit
//     (goka's newest would skip records after a rebalance);
//   - producers wait for all in-sync replicas and are idempotent;
//   - producers linger a few milliseconds instead of goka's 100ms;
//   - dial and metadata timeouts are short so a lost broker is noticed soon
//     and the supervisor can restart the component.
func (k Kafka) Sarama(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = k.version()

	c.Net.DialTimeout = 3 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 250 * time.Millisecond

	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.MaxProcessingTime = time.Second
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{goka.CopartitioningStrategy}
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 2 * time.Second

	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Compression = sarama.CompressionSnappy
	if k.Uncompressed {
		c.Producer.Compression = sarama.CompressionNone
	}
	c.Producer.Flush.Frequency = k.linger()
	c.Producer.Flush.Bytes = 64 * 1024
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Timeout = 10 * time.Second
	return c
}

// ProducerConfig is Sarama's config for a producer outside goka (feeders,
// tools): it partitions with goka's hasher, so its records land where goka's
// tables and views look for their keys.
func (k Kafka) ProducerConfig(clientID string) *sarama.Config {
	c := k.Sarama(clientID)
	c.Producer.Partitioner = sarama.NewCustomHashPartitioner(goka.DefaultHasher())
	return c
}

func (k Kafka) producerBuilder() goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := k.Sarama(clientID)
		c.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		return goka.NewProducer(brokers, c)
	}
}

func (k Kafka) consumerBuilder() goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		return sarama.NewConsumer(brokers, k.Sarama(clientID))
	}
}

func (k Kafka) consumerGroupBuilder() goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		c := k.Sarama(clientID)
		if k.InstanceID != "" {
			c.Consumer.Group.InstanceId = k.InstanceID + "-" + group
		}
		return sarama.NewConsumerGroup(brokers, group, c)
	}
}

// TopicManagerConfig is the goka topic manager config for tables and loops
// that goka creates itself: compacted tables, replication as configured,
// and a mismatch between an existing topic and the declaration is an error.
func (k Kafka) TopicManagerConfig(replication int) *goka.TopicManagerConfig {
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = replication
	tm.Stream.Replication = replication
	tm.Stream.Retention = 7 * 24 * time.Hour
	tm.MismatchBehavior = goka.TMConfigMismatchBehaviorFail
	return tm
}

func (k Kafka) topicManagerBuilder(replication int) goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		return goka.NewTopicManager(brokers, k.Sarama(k.ClientID("topic-manager")), k.TopicManagerConfig(replication))
	}
}

// ProcessorOptions are the goka options every processor group runs with.
// replication is the replication factor for the group table goka creates.
// wrap configures the consumer group's commit wrapper beyond its contiguous
// commits: a gate's admission (Gate.Admission), a scope (commit.WithScope).
func (k Kafka) ProcessorOptions(group string, tables storage.Builder, replication int, wrap ...commit.Option) []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithClientID(k.ClientID(group)),
		goka.WithStorageBuilder(tables),
		goka.WithProducerBuilder(k.producerBuilder()),
		goka.WithConsumerGroupBuilder(commit.WrapBuilder(k.consumerGroupBuilder(), wrap...)),
		goka.WithConsumerSaramaBuilder(k.consumerBuilder()),
		goka.WithTopicManagerBuilder(k.topicManagerBuilder(replication)),
		goka.WithHasher(goka.DefaultHasher()),
		goka.WithLogger(gokaLogger(k.Logger, group)),
	}
}

// ViewOptions are the goka options every view runs with. Views do not
// reconnect by themselves: the supervisor restarts them.
func (k Kafka) ViewOptions(name string, tables storage.Builder, replication int) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewClientID(k.ClientID("view-" + name)),
		goka.WithViewStorageBuilder(tables),
		goka.WithViewConsumerSaramaBuilder(k.consumerBuilder()),
		goka.WithViewTopicManagerBuilder(k.topicManagerBuilder(replication)),
		goka.WithViewHasher(goka.DefaultHasher()),
		goka.WithViewLogger(gokaLogger(k.Logger, "view-"+name)),
	}
}

// EmitterOptions are the goka options every emitter runs with.
func (k Kafka) EmitterOptions(name string, replication int) []goka.EmitterOption {
	return []goka.EmitterOption{
		goka.WithEmitterClientID(k.ClientID("emitter-" + name)),
		goka.WithEmitterProducerBuilder(k.producerBuilder()),
		goka.WithEmitterTopicManagerBuilder(k.topicManagerBuilder(replication)),
		goka.WithEmitterHasher(goka.DefaultHasher()),
		goka.WithEmitterLogger(gokaLogger(k.Logger, "emitter-"+name)),
	}
}

// Validate reports bad settings, one error per setting.
func (k Kafka) Validate() error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	for _, b := range k.Brokers {
		if b == "" || !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("broker %q is not host:port", b))
		}
	}
	return errors.Join(errs...)
}

// zapGokaLogger adapts zap to goka's logger interface. goka's own messages
// are lifecycle chatter; failures reach the supervisor as errors, so they are
// logged at debug level.
type zapGokaLogger struct{ s *zap.SugaredLogger }

func gokaLogger(l *zap.Logger, name string) goka.Logger {
	if l == nil {
		l = zap.NewNop()
	}
	return zapGokaLogger{l.Named(name).Sugar()}
}

func (z zapGokaLogger) Print(v ...interface{})                 { z.s.Debug(v...) }
func (z zapGokaLogger) Println(v ...interface{})               { z.s.Debug(v...) }
func (z zapGokaLogger) Printf(format string, v ...interface{}) { z.s.Debugf(format, v...) }
