package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"gopkg.in/yaml.v3"
)

// Topic is one declaration of topics.yaml.
type Topic struct {
	Name        string        `yaml:"name"`
	Key         string        `yaml:"key"`
	Cleanup     string        `yaml:"cleanup"`
	Copartition string        `yaml:"copartition"`
	Partitions  int           `yaml:"partitions"`
	Replication int           `yaml:"replication"`
	Retention   time.Duration `yaml:"retention"`
	// Owner "processor" marks tables goka creates itself.
	Owner string `yaml:"owner"`
}

// Topics is the parsed topics.yaml with defaults applied.
type Topics struct {
	Defaults struct {
		Partitions  int           `yaml:"partitions"`
		Replication int           `yaml:"replication"`
		Retention   time.Duration `yaml:"retention"`
	} `yaml:"defaults"`
	List []Topic `yaml:"topics"`
}

// ParseTopics reads topics.yaml, applies the defaults and then the
// overrides (> 0) of k.
func ParseTopics(data []byte, k Kafka) (Topics, error) {
	var t Topics
	if err := yaml.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("parse topics: %w", err)
	}
	seen := map[string]bool{}
	for i := range t.List {
		tp := &t.List[i]
		if tp.Name == "" {
			return t, fmt.Errorf("parse topics: entry %d has no name", i)
		}
		if seen[tp.Name] {
			return t, fmt.Errorf("parse topics: %s declared twice", tp.Name)
		}
		seen[tp.Name] = true
		if tp.Partitions == 0 {
			tp.Partitions = t.Defaults.Partitions
		}
		if tp.Replication == 0 {
			tp.Replication = t.Defaults.Replication
		}
		if tp.Retention == 0 {
			tp.Retention = t.Defaults.Retention
		}
		if k.Partitions > 0 {
			tp.Partitions = k.Partitions
		}
		if k.Replication > 0 {
			tp.Replication = k.Replication
		}
		if tp.Cleanup != "delete" && tp.Cleanup != "compact" {
			return t, fmt.Errorf("parse topics: %s: cleanup must be delete or compact, not %q", tp.Name, tp.Cleanup)
		}
		if tp.Partitions <= 0 || tp.Replication <= 0 {
			return t, fmt.Errorf("parse topics: %s: partitions and replication must be positive", tp.Name)
		}
	}
	return t, nil
}

// Get returns the declaration of a topic.
func (t Topics) Get(name string) (Topic, bool) {
	for _, tp := range t.List {
		if tp.Name == name {
			return tp, true
		}
	}
	return Topic{}, false
}

// ErrPartitionMismatch is returned when an existing topic has another
// partition count than declared: goka's co-partitioning would silently
// route keys elsewhere, so this is never repaired automatically.
var ErrPartitionMismatch = errors.New("partition count differs from topics.yaml")

// EnsureTopics creates the declared topics that do not exist yet (tables
// owned by processors included, so their partition count is the declared
// one) and fails on an existing topic whose partition count differs.
func (k Kafka) EnsureTopics(ctx context.Context, t Topics) error {
	admin, err := sarama.NewClusterAdmin(k.Brokers, k.Sarama(k.ClientID("admin")))
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer admin.Close()
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("ensure topics: list: %w", err)
	}
	var errs []error
	var created []string
	for _, tp := range t.List {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d, ok := existing[tp.Name]; ok {
			if int(d.NumPartitions) != tp.Partitions {
				errs = append(errs, fmt.Errorf("topic %s has %d partitions, topics.yaml wants %d: %w",
					tp.Name, d.NumPartitions, tp.Partitions, ErrPartitionMismatch))
			}
			continue
		}
		cfg := map[string]*string{"cleanup.policy": ptr(tp.Cleanup)}
		if tp.Cleanup == "delete" {
			cfg["retention.ms"] = ptr(strconv.FormatInt(tp.Retention.Milliseconds(), 10))
		}
		err := admin.CreateTopic(tp.Name, &sarama.TopicDetail{
			NumPartitions:     int32(tp.Partitions),
			ReplicationFactor: int16(tp.Replication),
			ConfigEntries:     cfg,
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", tp.Name, err))
			continue
		}
		created = append(created, tp.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return k.waitForLeaders(ctx, created)
}

// waitForLeaders returns once every partition of topics has a leader in the
// cluster metadata, so clients that start right after creation do not fail.
func (k Kafka) waitForLeaders(ctx context.Context, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	client, err := sarama.NewClient(k.Brokers, k.Sarama(k.ClientID("admin")))
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := client.RefreshMetadata(topics...)
		if err == nil {
			err = allLed(client, topics)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ensure topics: no leaders yet: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allLed(client sarama.Client, topics []string) error {
	for _, tp := range topics {
		parts, err := client.Partitions(tp)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := client.Leader(tp, p); err != nil {
				return fmt.Errorf("%s/%d: %w", tp, p, err)
			}
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
