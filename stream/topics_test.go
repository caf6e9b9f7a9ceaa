package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseTopicsStrict(t *testing.T) {
	for _, bad := range []string{
		"defaults: {partitions: 1, replication: 1, retention: 1h}\ntopics: [{name: x, cleanup: delete, retension: 1h}]",
		"defaults: {partitions: 1, replication: 1, retention: 1h}\ntopics: [{name: x, cleanup: delete, owner: gateway}]",
		"defaults: {partitions: 1, replication: 1, retention: 1h}\ntopics: [{name: x, cleanup: delete, replay: skip}]",
		"defaults: {partitions: 1, replication: 1, retention: 1h}\ntopics: [{name: x, cleanup: compact, retention: 1h}]",
		"defaults: {partitions: 1, replication: 1, retention: 1h}\ntopics: [{name: x, cleanup: 'compact,delete'}]",
		"defaults: {partitions: 1, replication: 1, retention: -1h}\ntopics: [{name: x, cleanup: delete}]",
		"defaults: {partitions: 1, replication: 1}\ntopics: [{name: x, cleanup: delete}]", // no retention anywhere
	} {
		if _, err := ParseTopics([]byte(bad), Kafka{}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	tp, err := ParseTopics([]byte(`
defaults: {partitions: 2, replication: 1, retention: 10h}
topics:
  - {name: s, cleanup: compact, owner: processor, replay: keep}
  - {name: d, cleanup: delete, retention: 1h}
`), Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := tp.Get("s")
	d, _ := tp.Get("d")
	if s.Retention != 0 || s.Owner != OwnerProcessor || s.Replay != ReplayKeep || d.Retention != time.Hour {
		t.Errorf("parsed %+v %+v", s, d)
	}
}

func TestDifferences(t *testing.T) {
	decl := Topic{Name: "t", Cleanup: CleanupDelete, Partitions: 4, Replication: 3, Retention: time.Hour}
	table := Topic{Name: "t", Cleanup: CleanupCompact, Partitions: 4, Replication: 3}
	live := func(d Topic, parts, repl int, cleanup string, ret time.Duration) TopicState {
		return TopicState{Name: "t", Declared: d, Exists: true, Partitions: parts, Replication: repl, Cleanup: cleanup, Retention: ret}
	}
	cases := []struct {
		name string
		s    TopicState
		want string // "setting:fatal" joined by " "
	}{
		{"same", live(decl, 4, 3, "delete", time.Hour), ""},
		{"missing", TopicState{Name: "t", Declared: decl}, ""},
		{"undeclared", TopicState{Name: "t", Exists: true, Partitions: 1}, ""},
		{"partitions", live(decl, 2, 3, "delete", time.Hour), "partitions:true"},
		{"cleanup", live(decl, 4, 3, "compact", time.Hour), "cleanup.policy:true"},
		{"both policies on a table", live(table, 4, 3, "compact,delete", 7*24*time.Hour), "cleanup.policy:true"},
		{"table ignores retention", live(table, 4, 3, "compact", 7*24*time.Hour), ""},
		{"replication", live(decl, 4, 1, "delete", time.Hour), "replication:false"},
		{"retention", live(decl, 4, 3, "delete", 7*24*time.Hour), "retention.ms:false"},
		{"unlimited retention", live(decl, 4, 3, "delete", -1), "retention.ms:false"},
		{"all", live(decl, 8, 1, "compact", 2*time.Hour), "partitions:true cleanup.policy:true replication:false retention.ms:false"},
	}
	for _, c := range cases {
		var got []string
		for _, d := range c.s.Differences() {
			got = append(got, fmt.Sprintf("%s:%v", d.Setting, d.Fatal))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s: differences %q, want %q", c.name, g, c.want)
		}
	}
	d := live(decl, 2, 3, "delete", time.Hour).Differences()[0]
	if msg := d.String(); !strings.Contains(msg, "topic t has 2 partitions, 4 declared") {
		t.Errorf("partition message %q names neither topic nor counts", msg)
	}
	if got := normalizePolicy("delete, compact"); got != "compact,delete" {
		t.Errorf("normalizePolicy: %q", got)
	}
}

func TestFormatRetention(t *testing.T) {
	for d, want := range map[time.Duration]string{
		720 * time.Hour:  "720h",
		time.Hour:        "1h",
		90 * time.Minute: "1h30m",
		10 * time.Minute: "10m",
		90 * time.Second: "1m30s",
		-1:               "unlimited",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := FormatRetention(time.Hour); got != "3600000 (1h)" {
		t.Errorf("FormatRetention: %q", got)
	}
}

// DescribeTopics against the embedded broker: declared topics in order
// (missing ones marked), effective configs, a mismatch EnsureTopics refuses,
// and undeclared topics after them.
func TestDescribeTopics(t *testing.T) {
	emb, err := StartEmbedded("", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	k := Kafka{Brokers: emb.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	created := Topics{List: []Topic{
		{Name: "in", Cleanup: CleanupDelete, Partitions: 3, Replication: 1, Retention: time.Hour},
		{Name: "g-table", Cleanup: CleanupCompact, Partitions: 3, Replication: 1, Owner: OwnerProcessor},
		{Name: "other", Cleanup: CleanupDelete, Partitions: 2, Replication: 1, Retention: time.Hour},
	}}
	if err := k.EnsureTopics(ctx, created); err != nil {
		t.Fatal(err)
	}
	declared := Topics{List: []Topic{
		{Name: "in", Cleanup: CleanupDelete, Partitions: 3, Replication: 1, Retention: time.Hour},
		{Name: "g-table", Cleanup: CleanupDelete, Partitions: 3, Replication: 1, Retention: time.Hour},
		{Name: "absent", Cleanup: CleanupDelete, Partitions: 3, Replication: 1, Retention: time.Hour},
	}}
	states, err := k.DescribeTopics(ctx, declared)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range states {
		names = append(names, s.Name)
		if strings.HasPrefix(s.Name, "__") {
			t.Errorf("internal topic %s listed", s.Name)
		}
	}
	if got := strings.Join(names, " "); got != "in g-table absent other" {
		t.Fatalf("topics %q, want declared in order, then undeclared", got)
	}
	in, table, absent, other := states[0], states[1], states[2], states[3]
	if !in.Exists || in.Partitions != 3 || in.Replication != 1 || in.Cleanup != "delete" || in.Retention != time.Hour ||
		len(in.Differences()) != 0 {
		t.Errorf("in: %+v, differences %v", in, in.Differences())
	}
	// compact live, delete declared: a fatal cleanup difference, and the
	// broker's default retention.ms differs from the declared one.
	if diffs := table.Differences(); table.Cleanup != "compact" || len(diffs) != 2 ||
		diffs[0].Setting != "cleanup.policy" || !diffs[0].Fatal || diffs[1].Setting != "retention.ms" || diffs[1].Fatal {
		t.Errorf("g-table: %+v, differences %v", table, diffs)
	}
	if absent.Exists || !absent.IsDeclared() {
		t.Errorf("absent: %+v", absent)
	}
	if other.IsDeclared() || !other.Exists || other.Partitions != 2 {
		t.Errorf("other: %+v", other)
	}

	// A declared count that differs from the live one is refused, and the
	// other topics are still created.
	mismatch := Topics{List: []Topic{
		{Name: "other", Cleanup: CleanupDelete, Partitions: 3, Replication: 1, Retention: time.Hour},
		{Name: "absent", Cleanup: CleanupDelete, Partitions: 3, Replication: 1, Retention: time.Hour},
	}}
	err = k.EnsureTopics(ctx, mismatch)
	if !errors.Is(err, ErrPartitionMismatch) || !strings.Contains(err.Error(), "topic other has 2 partitions, topics.yaml wants 3") {
		t.Fatalf("EnsureTopics: %v, want a partition mismatch for other", err)
	}
	states, err = k.DescribeTopics(ctx, mismatch)
	if err != nil {
		t.Fatal(err)
	}
	if d := states[0].Differences(); len(d) != 1 || d[0].Setting != "partitions" || d[0].Live != "2" || d[0].Declared != "3" {
		t.Errorf("other: differences %v", d)
	}
	if !states[1].Exists || states[1].Partitions != 3 {
		t.Errorf("absent was not created: %+v", states[1])
	}
}

// A broker that does not answer is an error, not an empty result.
func TestDescribeTopicsNoBroker(t *testing.T) {
	k := Kafka{Brokers: []string{"127.0.0.1:1"}}
	if _, err := k.DescribeTopics(context.Background(), Topics{}); err == nil || !strings.Contains(err.Error(), "describe topics") {
		t.Errorf("DescribeTopics without broker: %v", err)
	}
}
