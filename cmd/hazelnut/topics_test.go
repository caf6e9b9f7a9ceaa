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

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// runCLI executes the binary's command line with env as the environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = execute(ctx, args, &out, &errb, lookup)
	return code, out.String(), errb.String()
}

func declaredTopics(t *testing.T) stream.Topics {
	t.Helper()
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, stream.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	return topics
}

// rowOf returns the columns of topic's row in describe's output, the
// status as one column.
func rowOf(out, topic string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == topic {
			return append(f[:5:5], strings.Join(f[5:], " "))
		}
	}
	return nil
}

// statusOf returns the STATUS column of topic in describe's output.
func statusOf(out, topic string) string {
	if r := rowOf(out, topic); r != nil {
		return r[5]
	}
	return ""
}

// apply creates every declared topic on the embedded broker, describe then
// shows them all as they were declared, and a second apply with another
// partition count or a changed cleanup policy fails naming each topic.
func TestTopicsApplyDescribeEmbedded(t *testing.T) {
	emb, err := stream.StartEmbedded("", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	brokers := strings.Join(emb.Brokers(), ",")
	topics := declaredTopics(t)
	n := len(topics.List)

	code, out, errOut := runCLI(t, nil, "topics", "apply", "--brokers", brokers, "--kafka-partitions", "4", "--kafka-replication", "1")
	if code != 0 || errOut != "" {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := fmt.Sprintf("%d declared topics: %d created, 0 already present, 0 missing; 0 errors, 0 warnings", n, n); !strings.Contains(out, want) {
		t.Errorf("apply summary missing %q:\n%s", want, out)
	}
	for _, tp := range topics.List {
		if !strings.Contains(out, "created  "+tp.Name+" ") {
			t.Errorf("apply does not report %s as created:\n%s", tp.Name, out)
		}
	}

	// The broker address from the environment, as deployments set it.
	env := map[string]string{"HAZELNUT_KAFKA_BROKERS": brokers, "HAZELNUT_KAFKA_PARTITIONS": "4", "HAZELNUT_KAFKA_REPLICATION": "1"}
	code, out, errOut = runCLI(t, env, "topics", "describe")
	if code != 0 || errOut != "" {
		t.Fatalf("describe: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, tp := range topics.List {
		if st := statusOf(out, tp.Name); st != "ok" {
			t.Errorf("describe: %s has status %q, want ok", tp.Name, st)
		}
	}
	if want := fmt.Sprintf("%d declared topics (columns live/declared): %d ok, 0 missing, 0 differ", n, n); !strings.Contains(out, want) {
		t.Errorf("describe summary missing %q:\n%s", want, out)
	}
	for topic, want := range map[string]string{
		"installs":          "installs 4/4 1/1 delete/delete 720h/720h ok",
		"ticks":             "ticks 4/4 1/1 delete/delete 1h/1h ok",
		"attribution-table": "attribution-table 4/4 1/1 compact/compact -/- ok",
	} {
		if got := strings.Join(rowOf(out, topic), " "); got != want {
			t.Errorf("describe row %q, want %q", got, want)
		}
	}
	if strings.Contains(out, "not declared") {
		t.Errorf("describe lists undeclared topics on a broker that has none:\n%s", out)
	}

	// Applying again changes nothing.
	code, out, _ = runCLI(t, env, "topics", "apply")
	if want := fmt.Sprintf("%d declared topics: 0 created, %d already present", n, n); code != 0 || !strings.Contains(out, want) {
		t.Errorf("second apply: exit %d, want %q in:\n%s", code, want, out)
	}

	// Another partition count: every topic is refused on its own line.
	code, out, errOut = runCLI(t, env, "topics", "apply", "--kafka-partitions", "3")
	if code != 1 {
		t.Errorf("apply with 3 partitions: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != n+1 {
		t.Errorf("apply with 3 partitions: %d stderr lines, want one per topic and a summary:\n%s", len(lines), errOut)
	}
	for _, tp := range topics.List {
		want := fmt.Sprintf("hazelnut: topics apply: topic %s has 4 partitions, 3 declared: partition counts are never changed", tp.Name)
		if !strings.Contains(errOut, want+" ") {
			t.Errorf("apply with 3 partitions: no line %q", want)
		}
	}
	if last := lines[len(lines)-1]; last != fmt.Sprintf("hazelnut: topics apply: %d topics differ from topics.yaml in partition count "+
		"or cleanup policy; nothing was changed on existing topics", n) {
		t.Errorf("apply with 3 partitions: last line %q", last)
	}

	// A table whose cleanup policy was changed behind our back, and an
	// undeclared topic.
	admin, err := sarama.NewClusterAdmin(emb.Brokers(), stream.Kafka{}.Sarama("test-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.AlterConfig(sarama.TopicResource, "attribution-table", map[string]*string{"cleanup.policy": ptr("delete")}, false); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("scratch", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, env, "topics", "apply")
	if code != 1 || !strings.Contains(errOut, "hazelnut: topics apply: topic attribution-table has cleanup.policy delete, compact declared") ||
		!strings.Contains(errOut, "hazelnut: topics apply: 1 topic differs from topics.yaml") {
		t.Errorf("apply with a deleting table: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "topics", "describe")
	if st := statusOf(out, "attribution-table"); code != 0 || st != "error: cleanup.policy" {
		t.Errorf("describe: exit %d, attribution-table status %q\n%s", code, st, out)
	}
	if !strings.Contains(out, "1 live topic not declared in topics.yaml:") || !strings.Contains(out, "scratch  2           1") {
		t.Errorf("describe does not list the undeclared topic:\n%s", out)
	}
}

func ptr[T any](v T) *T { return &v }

// Settings are checked before any broker is contacted; only the Kafka
// settings are flags of the topics commands.
func TestTopicsConfigErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"topics", "apply"}, nil, "hazelnut: config: --brokers (HAZELNUT_KAFKA_BROKERS): required for topics apply"},
		{[]string{"topics", "describe"}, nil, "hazelnut: config: --brokers (HAZELNUT_KAFKA_BROKERS): required for topics describe"},
		{[]string{"topics", "apply", "--brokers", "nohost"}, nil, `hazelnut: config: --brokers (HAZELNUT_KAFKA_BROKERS): "nohost" is not host:port`},
		{[]string{"topics", "apply"}, map[string]string{"HAZELNUT_KAFKA_BROKERS": "127.0.0.1:1", "HAZELNUT_KAFKA_PARTITIONS": "-1"},
			`hazelnut: config: --kafka-partitions (HAZELNUT_KAFKA_PARTITIONS): -1 is not between 0 and 1024`},
		{[]string{"topics", "apply", "--brokers", "127.0.0.1:1", "--kafka-version", "x"}, nil,
			`hazelnut: config: --kafka-version (HAZELNUT_KAFKA_VERSION): "x" is not a Kafka version`},
		{[]string{"topics", "apply", "--http", "127.0.0.1:1"}, nil, "hazelnut: config: unknown flag: --http"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(t, c.env, c.args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != exitConfig || len(lines) != 1 || !strings.HasPrefix(lines[0], c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit %d and one line starting %q", c.args, c.env, code, errOut, exitConfig, c.want)
		}
	}
	// Settings of other roles in the environment are not read.
	env := map[string]string{"HAZELNUT_HTTP": "nowhere", "HAZELNUT_KAFKA_LINGER": "soon"}
	if code, _, errOut := runCLI(t, env, "topics", "apply"); code != exitConfig || !strings.Contains(errOut, "required for topics apply") {
		t.Errorf("apply reads settings it does not use: exit %d %q", code, errOut)
	}
}

// An unreachable broker is an error (exit 1), not a configuration error.
func TestTopicsNoBroker(t *testing.T) {
	code, _, errOut := runCLI(t, nil, "topics", "describe", "--brokers", "127.0.0.1:1")
	if code != 1 || !strings.HasPrefix(errOut, "hazelnut: describe topics: ") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// writeApply with made-up results: what was created goes to stdout, each
// difference and failure to stderr on its own line, and only partition,
// cleanup and creation problems fail.
func TestWriteApply(t *testing.T) {
	decl := func(name, cleanup string) stream.Topic {
		tp := stream.Topic{Name: name, Cleanup: cleanup, Partitions: 8, Replication: 3}
		if cleanup == stream.CleanupDelete {
			tp.Retention = 720 * time.Hour
		}
		return tp
	}
	live := func(d stream.Topic, parts, repl int, cleanup string, ret time.Duration) stream.TopicState {
		return stream.TopicState{Name: d.Name, Declared: d, Exists: true, Partitions: parts, Replication: repl, Cleanup: cleanup, Retention: ret}
	}
	installs, ticks, table, fresh := decl("installs", "delete"), decl("ticks", "delete"), decl("a-table", "compact"), decl("fresh", "delete")
	before := []stream.TopicState{
		live(installs, 8, 3, "delete", 720*time.Hour),
		live(ticks, 8, 1, "delete", 168*time.Hour),
		live(table, 8, 3, "compact", 168*time.Hour),
		{Name: "fresh", Declared: fresh},
		{Name: "stray", Exists: true, Partitions: 1, Replication: 1, Cleanup: "delete"},
	}
	after := append([]stream.TopicState(nil), before...)
	after[3] = live(fresh, 8, 3, "delete", 720*time.Hour)

	// Only warnings: exit 0.
	var out, errb bytes.Buffer
	if err := writeApply(&out, &errb, before, after, nil); err != nil {
		t.Errorf("warnings only: %v", err)
	}
	if want := "created  fresh  partitions 8  replication 3  delete  720h\n" +
		"4 declared topics: 1 created, 3 already present, 0 missing; 0 errors, 2 warnings\n"; out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	if want := "hazelnut: topics apply: warning: topic ticks has replication 1, 3 declared (not changed automatically)\n" +
		"hazelnut: topics apply: warning: topic ticks has retention.ms 604800000 (168h), 2592000000 (720h) declared (not changed automatically)\n"; errb.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), want)
	}

	// A partition and a cleanup mismatch: each on its own line, then fail.
	after[0] = live(installs, 4, 3, "delete", 720*time.Hour)
	after[2] = live(table, 8, 3, "delete", 168*time.Hour)
	out.Reset()
	errb.Reset()
	err := writeApply(&out, &errb, before, after, nil)
	if err == nil || err.Error() != "topics apply: 2 topics differ from topics.yaml in partition count or cleanup policy; nothing was changed on existing topics" {
		t.Errorf("mismatches: %v", err)
	}
	for _, want := range []string{
		"hazelnut: topics apply: topic installs has 4 partitions, 8 declared: partition counts are never changed on a live topic (keys would move away from their state); recreate the topic or change the declaration\n",
		"hazelnut: topics apply: topic a-table has cleanup.policy delete, compact declared: not changed automatically",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}

	// A topic that could not be created.
	after = append([]stream.TopicState(nil), before...)
	out.Reset()
	errb.Reset()
	failed := []error{fmt.Errorf("create topic fresh: %w", sarama.ErrInvalidReplicationFactor)}
	err = writeApply(&out, &errb, before, after, failed)
	if err == nil || !strings.Contains(err.Error(), "1 topic could not be created (the replication factor exceeds the number of brokers: set --kafka-replication)") {
		t.Errorf("failed creation: %v", err)
	}
	if !strings.Contains(errb.String(), "hazelnut: topics apply: create topic fresh: kafka server: Replication-factor is invalid") {
		t.Errorf("stderr:\n%s", errb.String())
	}
	if !errors.Is(failed[0], sarama.ErrInvalidReplicationFactor) {
		t.Fatal("test error does not wrap the sarama error")
	}
}

// writeDescribe with made-up states: live/declared pairs, statuses, and the
// undeclared topics after the declared ones.
func TestWriteDescribe(t *testing.T) {
	in := stream.Topic{Name: "installs", Cleanup: "delete", Partitions: 8, Replication: 3, Retention: 720 * time.Hour}
	tb := stream.Topic{Name: "attribution-table", Cleanup: "compact", Partitions: 8, Replication: 3}
	tk := stream.Topic{Name: "ticks", Cleanup: "delete", Partitions: 8, Replication: 3, Retention: time.Hour}
	states := []stream.TopicState{
		{Name: "installs", Declared: in, Exists: true, Partitions: 4, Replication: 3, Cleanup: "delete", Retention: 720 * time.Hour},
		{Name: "attribution-table", Declared: tb},
		{Name: "ticks", Declared: tk, Exists: true, Partitions: 8, Replication: 3, Cleanup: "delete", Retention: -1},
		{Name: "stray", Exists: true, Partitions: 1, Replication: 1, Cleanup: "compact", Retention: 168 * time.Hour},
	}
	var out bytes.Buffer
	writeDescribe(&out, states)
	want := `TOPIC              PARTITIONS  REPLICATION  CLEANUP        RETENTION     STATUS
installs           4/8         3/3          delete/delete  720h/720h     error: partitions
attribution-table  -/8         -/3          -/compact      -/-           missing
ticks              8/8         3/3          delete/delete  unlimited/1h  warning: retention.ms
3 declared topics (columns live/declared): 0 ok, 1 missing, 2 differ

1 live topic not declared in topics.yaml:
TOPIC  PARTITIONS  REPLICATION  CLEANUP  RETENTION
stray  1           1            compact  -
`
	if out.String() != want {
		t.Errorf("describe output:\n%s\nwant:\n%s", out.String(), want)
	}
}
