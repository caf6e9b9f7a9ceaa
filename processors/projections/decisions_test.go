package projections

import (
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/lovoo/goka/tester"
)

func decision(version int, source string) []byte {
	b, _ := codecs.JSON[codecs.Decision]{}.Encode(codecs.Decision{ProjectID: "p1", InstallID: "i1", Version: version, Source: source})
	return b
}

func TestDecisionsKeepTheNewestVersion(t *testing.T) {
	tt := tester.New(t)
	gokatest.Run(t, tt, Decisions(processors.Deps{}).Graph)
	dlq := tt.NewQueueTracker(string(DecisionsDLQ))
	in := string(attribution.Attributions)

	steps := []struct {
		version int
		source  string
		want    string
	}{
		{1, "ORGANIC", "ORGANIC"},
		{2, "META", "META"},
		{1, "ORGANIC", "META"}, // an older version arriving late never wins
		{2, "META", "META"},    // a redelivery changes nothing
		{3, "GOOGLE", "GOOGLE"},
	}
	for i, s := range steps {
		tt.Consume(in, "p1:i1", decision(s.version, s.source))
		got := tt.TableValue(DecisionsTable, "p1:i1").(*codecs.Decision)
		if got.Source != s.want {
			t.Fatalf("step %d: source %s, want %s", i, got.Source, s.want)
		}
	}
	if _, _, ok := dlq.Next(); ok {
		t.Error("nothing should reach the DLQ")
	}
}

func TestBadDecisionsGoToDLQ(t *testing.T) {
	tt := tester.New(t)
	gokatest.Run(t, tt, Decisions(processors.Deps{}).Graph)
	dlq := tt.NewQueueTracker(string(DecisionsDLQ))
	tt.Consume(string(attribution.Attributions), "p1:i1", []byte("nope"))
	tt.Consume(string(attribution.Attributions), "p1:other", decision(1, "ORGANIC"))
	for _, want := range []string{"p1:i1", "p1:other"} {
		k, _, ok := dlq.Next()
		if !ok || k != want {
			t.Fatalf("DLQ: got %q (%v), want %q", k, ok, want)
		}
	}
	if v := tt.TableValue(DecisionsTable, "p1:other"); v != nil {
		t.Errorf("mismatched key stored: %+v", v)
	}
}

// App opens travel on attributions too; they never replace the decision.
// Each decision version is re-keyed by the install's device ids, and the
// device's list keeps each install's newest version, oldest install first.
func TestAppOpensSkippedAndDevicesProjected(t *testing.T) {
	tt := tester.New(t)
	for _, g := range []processors.Group{Decisions(processors.Deps{}), DeviceInstalls(processors.Deps{})} {
		gokatest.Run(t, tt, g.Graph)
	}
	at := time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)
	send := func(d codecs.Decision) {
		b, _ := codecs.JSON[codecs.Decision]{}.Encode(d)
		tt.Consume(string(attribution.Attributions), attribution.Key(d.ProjectID, d.InstallID), b)
	}
	send(codecs.Decision{ProjectID: "p1", InstallID: "i2", Version: 1, Source: "ORGANIC", InstalledAt: at.Add(time.Hour), Devices: []string{"g1"}})
	send(codecs.Decision{ProjectID: "p1", InstallID: "i1", Version: 1, Source: "ORGANIC", InstalledAt: at, Devices: []string{"g1", "v1"}})
	send(codecs.Decision{ProjectID: "p1", InstallID: "i1", Version: 2, Source: "META", InstalledAt: at, Devices: []string{"g1", "v1"},
		Candidates: []codecs.Candidate{{ClickID: "c1", Outcome: "won"}}})
	send(codecs.Decision{ProjectID: "p1", InstallID: "i1", Version: 2, Kind: codecs.KindAppOpen, Source: "META", InstalledAt: at})
	send(codecs.Decision{ProjectID: "p1", InstallID: "i1", Version: 1, Source: "ORGANIC", InstalledAt: at, Devices: []string{"g1", "v1"}}) // late

	d := tt.TableValue(DecisionsTable, "p1:i1").(*codecs.Decision)
	if d.Version != 2 || d.Source != "META" || d.Kind == codecs.KindAppOpen || d.Candidates != nil {
		t.Errorf("decision %+v", d)
	}
	g1 := tt.TableValue(DeviceInstallsTable, codecs.DeviceKey("p1", "g1")).(*codecs.DeviceInstalls)
	if len(g1.Installs) != 2 || g1.Installs[0].InstallID != "i1" || g1.Installs[0].Version != 2 || g1.Installs[0].Source != "META" ||
		g1.Installs[1].InstallID != "i2" {
		t.Errorf("g1 %+v", g1)
	}
	if v1 := tt.TableValue(DeviceInstallsTable, codecs.DeviceKey("p1", "v1")).(*codecs.DeviceInstalls); len(v1.Installs) != 1 {
		t.Errorf("v1 %+v", v1)
	}
}
