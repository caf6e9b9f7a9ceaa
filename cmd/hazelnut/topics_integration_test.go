//go:build integration

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// `topics apply` and `topics describe` against the real Kafka: every
// declared topic exists afterwards with the declared settings. The other
// integration tests share this broker and use 4 partitions and one replica,
// so apply runs with the same overrides.
func TestTopicsApplyKafka(t *testing.T) {
	brokers := realBrokers(t)
	env := map[string]string{"HAZELNUT_KAFKA_BROKERS": strings.Join(brokers, ",")}
	overrides := []string{"--kafka-partitions", "4", "--kafka-replication", "1"}

	code, out, errOut := runCLI(t, env, append([]string{"topics", "apply"}, overrides...)...)
	t.Logf("apply:\n%s%s", out, errOut)
	if code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	code, out, errOut = runCLI(t, env, append([]string{"topics", "describe"}, overrides...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("describe: exit %d\n%s%s", code, out, errOut)
	}
	topics := declaredTopics(t)
	for _, tp := range topics.List {
		row := rowOf(out, tp.Name)
		if row == nil {
			t.Errorf("describe has no row for %s", tp.Name)
			continue
		}
		if row[1] != "4/4" || row[3] != tp.Cleanup+"/"+tp.Cleanup || row[5] == "missing" || strings.HasPrefix(row[5], "error") {
			t.Errorf("describe: %s", strings.Join(row, " "))
		}
	}
	if strings.Contains(out, "__consumer_offsets") {
		t.Errorf("describe lists Kafka's internal topics:\n%s", out)
	}
	if want := fmt.Sprintf("%d declared topics (columns live/declared): ", len(topics.List)); !strings.Contains(out, want) ||
		!strings.Contains(out, " 0 missing") {
		t.Errorf("describe summary:\n%s", out)
	}
}

// A partition count or cleanup policy that differs from the declaration is
// refused on the real Kafka, shown on a throwaway topic so the topics other
// tests use stay as they are.
func TestTopicsMismatchKafka(t *testing.T) {
	k := stream.Kafka{Brokers: realBrokers(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("topics-mismatch-%d", time.Now().UnixNano())
	decl := func(partitions int, cleanup string) stream.Topics {
		tp := stream.Topic{Name: name, Cleanup: cleanup, Partitions: partitions, Replication: 1}
		if cleanup == stream.CleanupDelete {
			tp.Retention = time.Hour
		}
		return stream.Topics{List: []stream.Topic{tp}}
	}
	if err := k.EnsureTopics(ctx, decl(2, stream.CleanupDelete)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := sarama.NewClusterAdmin(k.Brokers, k.Sarama(k.ClientID("test-admin")))
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer admin.Close()
		if err := admin.DeleteTopic(name); err != nil {
			t.Errorf("delete %s: %v", name, err)
		}
	})

	// Effective configs as the broker reports them.
	states, err := k.DescribeTopics(ctx, decl(2, stream.CleanupDelete))
	if err != nil {
		t.Fatal(err)
	}
	if s := states[0]; !s.Exists || s.Partitions != 2 || s.Replication != 1 || s.Cleanup != "delete" || s.Retention != time.Hour ||
		len(s.Differences()) != 0 {
		t.Fatalf("created topic: %+v, differences %v", s, s.Differences())
	}
	for _, s := range states {
		if strings.HasPrefix(s.Name, "__") {
			t.Errorf("internal topic %s listed", s.Name)
		}
	}

	err = k.EnsureTopics(ctx, decl(3, stream.CleanupDelete))
	if !errors.Is(err, stream.ErrPartitionMismatch) || !strings.Contains(err.Error(), fmt.Sprintf("topic %s has 2 partitions, topics.yaml wants 3", name)) {
		t.Fatalf("EnsureTopics with 3 partitions declared: %v", err)
	}

	// What apply prints for it: partition count and cleanup policy, each on
	// its own line, and an error.
	want := decl(3, stream.CleanupCompact)
	after, err := k.DescribeTopics(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err = writeApply(&out, &errb, after, after, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "topics apply: 1 topic differs from topics.yaml") {
		t.Errorf("writeApply: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], fmt.Sprintf("hazelnut: topics apply: topic %s has 2 partitions, 3 declared", name)) ||
		!strings.HasPrefix(lines[1], fmt.Sprintf("hazelnut: topics apply: topic %s has cleanup.policy delete, compact declared", name)) {
		t.Errorf("stderr:\n%s", errb.String())
	}
}
