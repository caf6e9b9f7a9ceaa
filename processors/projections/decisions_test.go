package projections

import (
	"testing"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
)

func decision(version int, source string) []byte {
	b, _ := codecs.JSON[codecs.Decision]{}.Encode(codecs.Decision{ProjectID: "p1", InstallID: "i1", Version: version, Source: source})
	return b
}

func TestDecisionsKeepTheNewestVersion(t *testing.T) {
	tt := gokatest.Start(t, NewDecisions)
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
	tt := gokatest.Start(t, NewDecisions)
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
