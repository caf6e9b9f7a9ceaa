package attribution

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lovoo/goka/tester"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
)

var t0 = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

func start(t *testing.T) (*tester.Tester, *tester.QueueTracker, *tester.QueueTracker) {
	t.Helper()
	tt := gokatest.Start(t, New)
	return tt, tt.NewQueueTracker(string(Attributions)), tt.NewQueueTracker(string(DLQ))
}

func install(id, req string, at time.Time) []byte {
	b, _ := codecs.JSON[codecs.Install]{}.Encode(codecs.Install{RequestID: req, ProjectID: "p1", InstallID: id, Platform: "IOS", ReceivedAt: at})
	return b
}

func next(t *testing.T, q *tester.QueueTracker) (string, *codecs.Decision) {
	t.Helper()
	k, v, ok := q.Next()
	if !ok {
		t.Fatal("expected a decision, none emitted")
	}
	return k, v.(*codecs.Decision)
}

func TestFirstInitDecidesOrganic(t *testing.T) {
	tt, decisions, dlq := start(t)
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0))

	k, d := next(t, decisions)
	want := &codecs.Decision{ID: DecisionID("p1", "i1", 1), ProjectID: "p1", InstallID: "i1", Version: 1,
		Source: "ORGANIC", MatchType: "organic", Platform: "IOS", InstalledAt: t0, RulesVersion: RulesVersion, RequestID: "r1"}
	if k != "p1:i1" {
		t.Errorf("key %q", k)
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	st := tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	if st.Opens != 0 || st.Decision.ID != want.ID {
		t.Errorf("state %+v", st)
	}
	if _, _, ok := dlq.Next(); ok {
		t.Error("nothing should reach the DLQ")
	}
}

func TestLaterInitsAreAppOpens(t *testing.T) {
	tt, decisions, _ := start(t)
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0))
	next(t, decisions)
	tt.Consume(string(Installs), "p1:i1", install("i1", "r2", t0.Add(time.Hour)))
	tt.Consume(string(Installs), "p1:i1", install("i1", "r3", t0.Add(30*time.Minute)))

	if _, _, ok := decisions.Next(); ok {
		t.Error("an app open must not re-decide")
	}
	st := tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	if st.Opens != 2 || !st.LastOpenAt.Equal(t0.Add(time.Hour)) || st.Decision.RequestID != "r1" {
		t.Errorf("opens=%d last=%s decided by %s", st.Opens, st.LastOpenAt, st.Decision.RequestID)
	}
}

// An input whose effect is already in state (redelivered after a crash) is
// not applied again, and the decision it produced is sent again with the
// same id.
func TestRedeliveredInputReemits(t *testing.T) {
	tt, decisions, _ := start(t)
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0))
	_, first := next(t, decisions)

	st := tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	st.Absorbed[string(Installs)] = 1 << 40 // pretend everything up to here was absorbed
	tt.SetTableValue(Table, "p1:i1", st)
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0))

	_, again := next(t, decisions)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("re-emitted decision differs (-first +again):\n%s", diff)
	}
	if got := tt.TableValue(Table, "p1:i1").(*codecs.InstallState).Opens; got != 0 {
		t.Errorf("redelivery counted as app open: opens=%d", got)
	}
}

func TestBadInputGoesToDLQ(t *testing.T) {
	tt, decisions, dlq := start(t)
	cases := map[string][]byte{
		"p1:bad":   []byte("{not json"),
		"p1:other": install("i1", "r1", t0),                                  // key does not match the body
		"p1:i2":    []byte(`{"project_id":"p1","install_instance_id":"i2"}`), // no received_at
	}
	for k, v := range cases {
		tt.Consume(string(Installs), k, v)
	}
	seen := map[string]bool{}
	for {
		k, v, ok := dlq.Next()
		if !ok {
			break
		}
		seen[k] = true
		if string(v.([]byte)) != string(cases[k]) {
			t.Errorf("DLQ record for %s altered: %s", k, v)
		}
	}
	if len(seen) != len(cases) {
		t.Errorf("DLQ got %v, want all of %d bad records", seen, len(cases))
	}
	if _, _, ok := decisions.Next(); ok {
		t.Error("bad input must not be decided")
	}
	// The partition keeps going.
	tt.Consume(string(Installs), "p1:i9", install("i9", "r9", t0))
	next(t, decisions)
}
