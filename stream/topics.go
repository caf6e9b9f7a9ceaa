package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// Replay "keep" marks topics a replay never resets (san-answers).
	Replay string `yaml:"replay"`
}

// Cleanup policies of topics.yaml.
const (
	CleanupDelete  = "delete"
	CleanupCompact = "compact"
)

// OwnerProcessor marks a goka group table in topics.yaml.
const OwnerProcessor = "processor"

// ReplayKeep marks a topic a replay never resets.
const ReplayKeep = "keep"

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
// overrides (> 0) of k. Unknown fields are errors, so a misspelt setting is
// not silently ignored.
func ParseTopics(data []byte, k Kafka) (Topics, error) {
	var t Topics
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("parse topics: %w", err)
	}
	if t.Defaults.Retention < 0 {
		return t, errors.New("parse topics: defaults: retention must not be negative")
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
		if tp.Cleanup != CleanupDelete && tp.Cleanup != CleanupCompact {
			return t, fmt.Errorf("parse topics: %s: cleanup must be delete or compact, not %q", tp.Name, tp.Cleanup)
		}
		if tp.Retention < 0 {
			return t, fmt.Errorf("parse topics: %s: retention must not be negative", tp.Name)
		}
		if tp.Retention != 0 && tp.Cleanup == CleanupCompact {
			return t, fmt.Errorf("parse topics: %s: retention applies to cleanup: delete only", tp.Name)
		}
		if tp.Owner != "" && tp.Owner != OwnerProcessor {
			return t, fmt.Errorf("parse topics: %s: owner must be empty or %s, not %q", tp.Name, OwnerProcessor, tp.Owner)
		}
		if tp.Replay != "" && tp.Replay != ReplayKeep {
			return t, fmt.Errorf("parse topics: %s: replay must be empty or %s, not %q", tp.Name, ReplayKeep, tp.Replay)
		}
		if tp.Partitions == 0 {
			tp.Partitions = t.Defaults.Partitions
		}
		if tp.Replication == 0 {
			tp.Replication = t.Defaults.Replication
		}
		if tp.Retention == 0 && tp.Cleanup == CleanupDelete {
			tp.Retention = t.Defaults.Retention
		}
		if k.Partitions > 0 {
			tp.Partitions = k.Partitions
		}
		if k.Replication > 0 {
			tp.Replication = k.Replication
		}
		if tp.Partitions <= 0 || tp.Replication <= 0 {
			return t, fmt.Errorf("parse topics: %s: partitions and replication must be positive", tp.Name)
		}
		if tp.Cleanup == CleanupDelete && tp.Retention == 0 {
			return t, fmt.Errorf("parse topics: %s: no retention (set it or defaults.retention)", tp.Name)
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
		if tp.Cleanup == CleanupDelete && tp.Retention > 0 {
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

// TopicState is the live state of one topic next to its declaration.
type TopicState struct {
	// Name is the topic.
	Name string
	// Declared is the declaration of topics.yaml (overrides applied); its
	// Name is empty for a live topic topics.yaml does not declare.
	Declared Topic
	// Exists reports whether the topic exists on the cluster; the live
	// fields below are zero when it does not.
	Exists bool
	// Partitions and Replication are the live partition count and
	// replication factor.
	Partitions, Replication int
	// Cleanup is the live cleanup.policy ("delete", "compact" or both,
	// comma separated).
	Cleanup string
	// Retention is the live retention.ms; negative means unlimited.
	Retention time.Duration
}

// IsDeclared reports whether topics.yaml declares the topic.
func (s TopicState) IsDeclared() bool { return s.Declared.Name != "" }

// Difference is one setting of a live topic that differs from topics.yaml.
// Nothing is ever changed on a live topic automatically.
type Difference struct {
	Topic string
	// Setting is "partitions", "cleanup.policy", "replication" or
	// "retention.ms".
	Setting        string
	Live, Declared string
	// Fatal marks differences Hazelnut cannot run with: a partition count
	// other than its co-partitioned topics' (keys would be looked up on
	// other partitions than their state) and a cleanup policy other than
	// declared (compacting a stream drops records, deleting from a table
	// drops state). The others (replication, retention) are warnings.
	Fatal bool
}

func (d Difference) String() string {
	switch d.Setting {
	case "partitions":
		return fmt.Sprintf("topic %s has %s partitions, %s declared: partition counts are never changed on a live topic "+
			"(keys would move away from their state); recreate the topic or change the declaration", d.Topic, d.Live, d.Declared)
	case "cleanup.policy":
		return fmt.Sprintf("topic %s has cleanup.policy %s, %s declared: not changed automatically "+
			"(compacting a stream drops records, deleting from a table drops state); alter the topic's config", d.Topic, d.Live, d.Declared)
	default:
		return fmt.Sprintf("topic %s has %s %s, %s declared (not changed automatically)", d.Topic, d.Setting, d.Live, d.Declared)
	}
}

// Differences compares a declared, existing topic with its declaration.
func (s TopicState) Differences() []Difference {
	if !s.IsDeclared() || !s.Exists {
		return nil
	}
	d := s.Declared
	var out []Difference
	add := func(setting, live, declared string, fatal bool) {
		out = append(out, Difference{Topic: s.Name, Setting: setting, Live: live, Declared: declared, Fatal: fatal})
	}
	if s.Partitions != d.Partitions {
		add("partitions", strconv.Itoa(s.Partitions), strconv.Itoa(d.Partitions), true)
	}
	if s.Cleanup != "" && normalizePolicy(s.Cleanup) != d.Cleanup {
		add("cleanup.policy", s.Cleanup, d.Cleanup, true)
	}
	if s.Replication != d.Replication {
		add("replication", strconv.Itoa(s.Replication), strconv.Itoa(d.Replication), false)
	}
	if d.Cleanup == CleanupDelete && d.Retention > 0 && s.Retention != d.Retention {
		add("retention.ms", FormatRetention(s.Retention), FormatRetention(d.Retention), false)
	}
	return out
}

// FormatRetention prints a retention as milliseconds and as a duration,
// e.g. "3600000 (1h)"; negative is unlimited.
func FormatRetention(d time.Duration) string {
	if d < 0 {
		return "-1 (unlimited)"
	}
	return fmt.Sprintf("%d (%s)", d.Milliseconds(), ShortDuration(d))
}

// ShortDuration prints d without zero units: 720h, 1h30m, 10m, 90s.
func ShortDuration(d time.Duration) string {
	if d < 0 {
		return "unlimited"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// normalizePolicy sorts a comma-separated cleanup.policy.
func normalizePolicy(p string) string {
	parts := strings.Split(p, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// DescribeTopics returns the live state of every declared topic, in the
// order of t (missing ones with Exists false), followed by the live topics
// t does not declare, by name. Kafka's internal topics (`__*`) are left out.
func (k Kafka) DescribeTopics(ctx context.Context, t Topics) ([]TopicState, error) {
	admin, err := sarama.NewClusterAdmin(k.Brokers, k.Sarama(k.ClientID("admin")))
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	defer admin.Close()
	live, err := admin.ListTopics()
	if err != nil {
		return nil, fmt.Errorf("describe topics: list: %w", err)
	}
	var out []TopicState
	declared := map[string]bool{}
	for _, tp := range t.List {
		declared[tp.Name] = true
		out = append(out, TopicState{Name: tp.Name, Declared: tp})
	}
	var extra []string
	for name := range live {
		if !declared[name] && !strings.HasPrefix(name, "__") {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		out = append(out, TopicState{Name: name})
	}
	var present []string
	for i := range out {
		d, ok := live[out[i].Name]
		if !ok {
			continue
		}
		out[i].Exists = true
		out[i].Partitions = int(d.NumPartitions)
		out[i].Replication = int(d.ReplicationFactor)
		present = append(present, out[i].Name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	configs, err := k.topicConfigs(admin, present, "cleanup.policy", "retention.ms")
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	for i := range out {
		c := configs[out[i].Name]
		out[i].Cleanup = c["cleanup.policy"]
		if v, ok := c["retention.ms"]; ok {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("describe topics: %s: retention.ms %q: %w", out[i].Name, v, err)
			}
			if ms < 0 {
				out[i].Retention = -1
			} else {
				out[i].Retention = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return out, nil
}

// topicConfigs returns the effective values (defaults included) of the
// named configs of topics, with one DescribeConfigs request. A topic that
// disappeared in between is left out.
func (k Kafka) topicConfigs(admin sarama.ClusterAdmin, topics []string, names ...string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	if len(topics) == 0 {
		return out, nil
	}
	req := &sarama.DescribeConfigsRequest{}
	if v := k.version(); v.IsAtLeast(sarama.V2_0_0_0) {
		req.Version = 2
	} else if v.IsAtLeast(sarama.V1_1_0_0) {
		req.Version = 1
	}
	for _, tp := range topics {
		req.Resources = append(req.Resources, &sarama.ConfigResource{Type: sarama.TopicResource, Name: tp, ConfigNames: names})
	}
	b, err := admin.Controller()
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	resp, err := b.DescribeConfigs(req)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	for _, r := range resp.Resources {
		if kerr := sarama.KError(r.ErrorCode); kerr != sarama.ErrNoError {
			if kerr == sarama.ErrUnknownTopicOrPartition {
				continue
			}
			return nil, fmt.Errorf("configs of %s: %w", r.Name, kerr)
		}
		m := map[string]string{}
		for _, c := range r.Configs {
			m[c.Name] = c.Value
		}
		out[r.Name] = m
	}
	return out, nil
}
