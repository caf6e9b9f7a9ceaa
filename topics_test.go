package hazelnut_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/projections"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// graphs are every processor group Hazelnut runs.
var graphs = []*goka.GroupGraph{attribution.Graph(), projections.DecisionsGraph()}

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
			if tp, _ := topics.Get(gt.Topic()); tp.Cleanup != "compact" {
				t.Errorf("table %s must be compacted", gt.Topic())
			}
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
