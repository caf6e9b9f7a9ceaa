package hazelnut_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/internal/config"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// graphs are every processor group Hazelnut runs.
var graphs = func() []*goka.GroupGraph {
	var out []*goka.GroupGraph
	for _, name := range pipeline.Names() {
		g, err := pipeline.Define(name, processors.Deps{})
		if err != nil {
			panic(err)
		}
		out = append(out, g.Graph)
	}
	return out
}()

// TestGraphsMatchTopicsYAML checks every topic a group reads, writes or
// persists is declared, and that co-partitioned topics (all inputs and the
// table of a group) have equal partition counts.
func TestGraphsMatchTopicsYAML(t *testing.T) {
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, stream.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range graphs {
		if err := g.Validate(); err != nil {
			t.Errorf("group %s: %v", g.Group(), err)
		}
		var edges []goka.Edge
		edges = append(edges, g.InputStreams()...)
		edges = append(edges, g.OutputStreams()...)
		edges = append(edges, g.JointTables()...)
		if gt := g.GroupTable(); gt != nil {
			edges = append(edges, gt)
		}
		partitions := map[int]bool{}
		for _, e := range edges {
			tp, ok := topics.Get(e.Topic())
			if !ok {
				t.Errorf("group %s uses %s, which topics.yaml does not declare", g.Group(), e.Topic())
				continue
			}
			if isCopartitioned(g, e) {
				partitions[tp.Partitions] = true
			}
		}
		if len(partitions) > 1 {
			t.Errorf("group %s: co-partitioned topics have different partition counts %v", g.Group(), partitions)
		}
		if gt := g.GroupTable(); gt != nil {
			if tp, _ := topics.Get(gt.Topic()); tp.Cleanup != "compact" || tp.Owner != stream.OwnerProcessor {
				t.Errorf("table %s must be compacted and owned by its processor", gt.Topic())
			}
		}
		if _, ok := topics.Get(string(stream.DLQ(g.Group()))); !ok {
			t.Errorf("group %s: its DLQ %s is not declared", g.Group(), stream.DLQ(g.Group()))
		}
	}
}

func isCopartitioned(g *goka.GroupGraph, e goka.Edge) bool {
	for _, in := range g.InputStreams() {
		if in.Topic() == e.Topic() {
			return true
		}
	}
	for _, j := range g.JointTables() {
		if j.Topic() == e.Topic() {
			return true
		}
	}
	return g.GroupTable() != nil && g.GroupTable().Topic() == e.Topic()
}

// Topics written outside group graphs are declared too.
func TestOtherTopicsDeclared(t *testing.T) {
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, stream.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	ticks, ok := topics.Get(string(clock.Ticks))
	if !ok {
		t.Fatalf("%s is not declared", clock.Ticks)
	}
	installs, _ := topics.Get(string(attribution.Installs))
	if ticks.Partitions != installs.Partitions {
		t.Errorf("ticks has %d partitions, the install-keyed groups %d", ticks.Partitions, installs.Partitions)
	}
}

// plannedGroup is a processor group of DESIGN §4 with the topics it reads
// and writes besides its own table and DLQ.
type plannedGroup struct {
	name            string
	inputs, outputs []string
}

// plannedGroups are every processor group of DESIGN §4, built or not yet:
// topics.yaml must already carry what they need. A group that exists as a
// graph (graphs) must not use topics its plan does not list, so the plan
// follows the code.
var plannedGroups = []plannedGroup{
	{"clicks", []string{"clicks", "click-claims", "ticks"},
		[]string{"touchpoint-updates", "clicks-recorded", "attribution-replies"}},
	{"touchpoints", []string{"touchpoint-updates", "match-requests", "ticks"},
		[]string{"attribution-replies"}},
	{"attribution", []string{"installs", "attribution-replies", "san-answers", "ticks"},
		[]string{"match-requests", "click-claims", "san-requests", "attributions", "install-attributed", "postbacks", "analytics"}},
	{"san-resolver", []string{"san-requests"}, []string{"san-answers"}},
	{"payment-dedup", []string{"payment-keys"}, []string{"payment-accepted"}},
	{"identities", []string{"server-events", "user-links", "ticks"}, []string{"events", "payment-keys"}},
	{"events", []string{"events", "payment-accepted", "install-attributed", "ticks"},
		[]string{"user-events", "user-links", "postbacks", "analytics"}},
	// Projections: their re-keyed inputs come with the groups.
	{"decisions", []string{"attributions"}, []string{"device-decisions"}},
	{"device-installs", []string{"device-decisions"}, nil},
	{"user-installs", nil, nil},
}

// designTopics are the topics of the table of DESIGN §3.
var designTopics = []string{
	"installs", "events", "payment-keys", "payment-accepted", "server-events", "user-links", "clicks",
	"touchpoint-updates", "match-requests", "click-claims", "attribution-replies", "san-requests", "san-answers",
	"install-attributed", "attributions", "user-events", "clicks-recorded", "postback-logs", "postbacks", "analytics",
	"postback-retry-1m", "postback-retry-10m", "postback-dlq", "catalog", "ticks",
}

func parseTopics(t *testing.T) stream.Topics {
	t.Helper()
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, stream.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	return topics
}

// Every group of DESIGN §4 has its table and DLQ declared, everything it
// reads and writes declared, and its inputs and table share one partition
// count.
func TestPlannedGroupsMatchTopicsYAML(t *testing.T) {
	topics := parseTopics(t)
	planned := map[string]plannedGroup{}
	for _, g := range plannedGroups {
		planned[g.name] = g
		table, dlq := string(goka.GroupTable(goka.Group(g.name))), string(stream.DLQ(goka.Group(g.name)))
		tt, ok := topics.Get(table)
		if !ok {
			t.Errorf("group %s: table %s is not declared", g.name, table)
		}
		if d, ok := topics.Get(dlq); !ok {
			t.Errorf("group %s: DLQ %s is not declared", g.name, dlq)
		} else if d.Cleanup != stream.CleanupDelete {
			t.Errorf("group %s: DLQ %s must not be compacted (records with one key are all kept)", g.name, dlq)
		}
		counts := map[int][]string{}
		if ok {
			counts[tt.Partitions] = append(counts[tt.Partitions], table)
		}
		for _, in := range g.inputs {
			tp, ok := topics.Get(in)
			if !ok {
				t.Errorf("group %s reads %s, which topics.yaml does not declare", g.name, in)
				continue
			}
			counts[tp.Partitions] = append(counts[tp.Partitions], in)
		}
		for _, out := range g.outputs {
			if _, ok := topics.Get(out); !ok {
				t.Errorf("group %s writes %s, which topics.yaml does not declare", g.name, out)
			}
		}
		if len(counts) > 1 {
			t.Errorf("group %s: its inputs and table have different partition counts: %v", g.name, counts)
		}
	}
	// The built groups use only what their plan lists.
	for _, g := range graphs {
		p, ok := planned[string(g.Group())]
		if !ok {
			t.Errorf("group %s is not in plannedGroups", g.Group())
			continue
		}
		for _, e := range g.InputStreams() {
			if !slices.Contains(p.inputs, e.Topic()) {
				t.Errorf("group %s reads %s, which its plan does not list", g.Group(), e.Topic())
			}
		}
		for _, e := range g.OutputStreams() {
			if e.Topic() != string(stream.DLQ(g.Group())) && !slices.Contains(p.outputs, e.Topic()) {
				t.Errorf("group %s writes %s, which its plan does not list", g.Group(), e.Topic())
			}
		}
	}
	for _, name := range config.Groups {
		if _, ok := planned[name]; !ok {
			t.Errorf("config.Groups has %s, which is not in plannedGroups", name)
		}
	}
}

// Every topic of DESIGN §3 is declared.
func TestDesignTopicsDeclared(t *testing.T) {
	topics := parseTopics(t)
	for _, name := range designTopics {
		if _, ok := topics.Get(name); !ok {
			t.Errorf("%s (DESIGN §3) is not declared", name)
		}
	}
}

// Topics of one copartition family have one partition count, as declared
// in the file (before any override).
func TestCopartitionFamilies(t *testing.T) {
	topics := parseTopics(t)
	families := map[string]map[int][]string{}
	for _, tp := range topics.List {
		if tp.Copartition == "" {
			continue
		}
		if families[tp.Copartition] == nil {
			families[tp.Copartition] = map[int][]string{}
		}
		families[tp.Copartition][tp.Partitions] = append(families[tp.Copartition][tp.Partitions], tp.Name)
	}
	for fam, counts := range families {
		if len(counts) > 1 {
			t.Errorf("copartition %s has different partition counts: %v", fam, counts)
		}
	}
	for _, want := range []string{"install", "click", "touchpoint", "user", "device", "payment"} {
		if families[want] == nil {
			t.Errorf("copartition family %s has no topic", want)
		}
	}
}

// The conventions of the file's header comment hold for every entry.
func TestTopicsYAMLConventions(t *testing.T) {
	topics := parseTopics(t)
	// Compacted topics other than group tables: each keeps the latest
	// value per key for good. Compacting anything else would drop records.
	compactedStreams := []string{"san-answers", "catalog"}
	for _, tp := range topics.List {
		isTable := strings.HasSuffix(tp.Name, "-table")
		if isTable != (tp.Owner == stream.OwnerProcessor) {
			t.Errorf("%s: owner processor marks exactly the <group>-table topics (owner %q)", tp.Name, tp.Owner)
		}
		if isTable {
			if tp.Cleanup != stream.CleanupCompact {
				t.Errorf("table %s must be compacted", tp.Name)
			}
			dlq := strings.TrimSuffix(tp.Name, "-table") + "-dlq"
			if _, ok := topics.Get(dlq); !ok {
				t.Errorf("table %s has no %s", tp.Name, dlq)
			}
		} else if tp.Cleanup == stream.CleanupCompact && !slices.Contains(compactedStreams, tp.Name) {
			t.Errorf("%s is compacted but neither a table nor one of %v", tp.Name, compactedStreams)
		}
		if strings.TrimSpace(tp.Key) == "" {
			t.Errorf("%s: no key", tp.Name)
		}
		if tp.Copartition == "" && tp.Name != "catalog" {
			t.Errorf("%s: no copartition family", tp.Name)
		}
		if tp.Cleanup == stream.CleanupDelete && (tp.Retention <= 0 || tp.Retention > topics.Defaults.Retention) {
			t.Errorf("%s: retention %s is not within the replay horizon %s", tp.Name, tp.Retention, topics.Defaults.Retention)
		}
		if (tp.Replay == stream.ReplayKeep) != (tp.Name == "san-answers") {
			t.Errorf("%s: replay %q; only san-answers is kept by a replay", tp.Name, tp.Replay)
		}
	}
	for _, tp := range compactedStreams {
		if c, _ := topics.Get(tp); c.Cleanup != stream.CleanupCompact {
			t.Errorf("%s must be compacted", tp)
		}
	}
	// Inputs written by the gateway keep the whole replay horizon.
	for _, in := range []string{"installs", "events", "payment-keys", "server-events", "clicks"} {
		if tp, _ := topics.Get(in); tp.Retention != topics.Defaults.Retention {
			t.Errorf("input %s keeps %s, not the replay horizon %s", in, tp.Retention, topics.Defaults.Retention)
		}
	}
	if tk, _ := topics.Get(string(clock.Ticks)); tk.Retention >= topics.Defaults.Retention {
		t.Errorf("ticks keep %s; they only trigger work", tk.Retention)
	}
}

// Overrides apply to every topic and keep the families consistent.
func TestTopicsOverrides(t *testing.T) {
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, stream.Kafka{Partitions: 4, Replication: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics.List {
		if tp.Partitions != 4 || tp.Replication != 1 {
			t.Errorf("%s: overrides not applied: %d partitions, replication %d", tp.Name, tp.Partitions, tp.Replication)
		}
	}
}

// TestImportDirection keeps the layers apart: processors never import the
// gateway, sinks or postback; codecs import nothing of ours.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/hazelnut-mmp/hazelnut"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rules := map[string][]string{
		mod + "/processors/": {mod + "/gateway", mod + "/sinks", mod + "/postback", mod + "/cmd"},
		mod + "/codecs":      {mod + "/"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for prefix, banned := range rules {
			if !strings.HasPrefix(pkg, prefix) {
				continue
			}
			for _, imp := range imports {
				for _, b := range banned {
					if strings.HasPrefix(imp, b) {
						t.Errorf("%s imports %s", pkg, imp)
					}
				}
			}
		}
	}
}
