package catalog

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func day(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }

func spans(h History[string]) []Span[string] { return h.Spans() }

func TestHistoryAt(t *testing.T) {
	h, err := NewHistory(
		Span[string]{From: day(1), Until: day(5), Value: "a"},
		Span[string]{From: day(5), Until: day(10), Value: "b"},
		// gap from day 10 to day 12 (deleted, then set again)
		Span[string]{From: day(12), Value: "c"},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
		ok   bool
	}{
		{day(1).Add(-time.Nanosecond), "", false},
		{day(1), "a", true},
		{day(5).Add(-time.Nanosecond), "a", true},
		{day(5), "b", true}, // a span's From is inclusive, Until exclusive
		{day(10).Add(-time.Nanosecond), "b", true},
		{day(10), "", false},
		{day(11), "", false},
		{day(12), "c", true},
		{day(31).AddDate(10, 0, 0), "c", true},
	} {
		got, ok := h.At(tc.at)
		if got != tc.want || ok != tc.ok {
			t.Errorf("At(%s) = %q %v, want %q %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
	if v, ok := h.Current(); v != "c" || !ok {
		t.Errorf("Current = %q %v", v, ok)
	}
	if _, ok := (History[string]{}).At(day(1)); ok {
		t.Error("empty history has a value")
	}
	if v, ok := Always("x").At(time.Time{}); v != "x" || !ok {
		t.Errorf("Always: %q %v", v, ok)
	}
}

func TestNewHistoryRejectsOverlaps(t *testing.T) {
	for name, ss := range map[string][]Span[string]{
		"overlap":         {{From: day(1), Until: day(6)}, {From: day(5)}},
		"open not last":   {{From: day(1)}, {From: day(5)}},
		"out of order":    {{From: day(5), Until: day(6)}, {From: day(1), Until: day(2)}},
		"until = from":    {{From: day(1), Until: day(1)}},
		"until < from":    {{From: day(2), Until: day(1)}},
		"same from twice": {{From: day(1), Until: day(2)}, {From: day(1)}},
	} {
		if _, err := NewHistory(ss...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewHistory(Span[string]{From: day(1), Until: day(2)}, Span[string]{From: day(2)}); err != nil {
		t.Errorf("adjacent spans: %v", err)
	}
}

func TestHistorySetEndTrim(t *testing.T) {
	var h History[string]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Set(day(1), "a"))
	must(h.Set(day(5), "b")) // closes a at day 5
	must(h.Set(day(5), "b2"))
	want := []Span[string]{{From: day(1), Until: day(5), Value: "a"}, {From: day(5), Value: "b2"}}
	if d := cmp.Diff(want, spans(h)); d != "" {
		t.Fatalf("after Set (-want +got):\n%s", d)
	}
	if err := h.Set(day(3), "old"); !errors.Is(err, ErrOverlap) {
		t.Errorf("Set before the latest span: %v", err)
	}

	must(h.End(day(8)))
	if _, ok := h.At(day(8)); ok {
		t.Error("value after End")
	}
	if v, _ := h.At(day(7)); v != "b2" {
		t.Errorf("At(day 7) = %q", v)
	}
	if err := h.End(day(9)); !errors.Is(err, ErrNotOpen) {
		t.Errorf("End twice: %v", err)
	}
	if err := h.Set(day(7), "inside"); !errors.Is(err, ErrOverlap) {
		t.Errorf("Set inside a closed span: %v", err)
	}
	must(h.Set(day(10), "c")) // after a gap
	if err := h.End(day(9)); !errors.Is(err, ErrOverlap) {
		t.Errorf("End before the open span: %v", err)
	}
	want = []Span[string]{
		{From: day(1), Until: day(5), Value: "a"},
		{From: day(5), Until: day(8), Value: "b2"},
		{From: day(10), Value: "c"},
	}
	if d := cmp.Diff(want, spans(h)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}

	trimmed := h
	trimmed.Trim(day(5)) // a ended exactly at the horizon: dropped
	if d := cmp.Diff(want[1:], spans(trimmed)); d != "" {
		t.Errorf("Trim(day 5) (-want +got):\n%s", d)
	}
	trimmed.Trim(day(6)) // b2 is in effect at the horizon: kept whole
	if d := cmp.Diff(want[1:], spans(trimmed)); d != "" {
		t.Errorf("Trim(day 6) (-want +got):\n%s", d)
	}
	trimmed.Trim(day(31))
	if d := cmp.Diff(want[2:], spans(trimmed)); d != "" {
		t.Errorf("Trim(day 31) keeps the open span (-want +got):\n%s", d)
	}
	if h.Len() != 3 {
		t.Errorf("Trim of a copy changed the original: %d spans", h.Len())
	}

	// Ending at the open span's own start removes it.
	must(h.End(day(10)))
	if h.Len() != 2 {
		t.Errorf("End at From: %d spans", h.Len())
	}
}

func TestHistoryJSON(t *testing.T) {
	h, _ := NewHistory(Span[string]{From: day(1), Until: day(2), Value: "a"}, Span[string]{From: day(2), Value: "b"})
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"from":"2025-01-01T00:00:00Z","until":"2025-01-02T00:00:00Z","value":"a"},{"from":"2025-01-02T00:00:00Z","value":"b"}]`
	if string(b) != want {
		t.Errorf("JSON %s", b)
	}
	var back History[string]
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(spans(h), spans(back)); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if err := json.Unmarshal([]byte(`[{"from":"2025-01-01T00:00:00Z","value":"a"},{"from":"2025-01-02T00:00:00Z","value":"b"}]`), &back); err == nil {
		t.Error("overlapping JSON accepted")
	}
	if b, _ := json.Marshal(History[string]{}); string(b) != "[]" {
		t.Errorf("empty history: %s", b)
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * Day, "24h": 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "10s": 10 * time.Second, "0s": 0,
	} {
		d, err := ParseDuration(in)
		if err != nil || d.D() != want {
			t.Errorf("ParseDuration(%q) = %v %v, want %v", in, d, err, want)
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Errorf("%q → %q → %v %v", in, d.String(), again, err)
		}
	}
	if got := Duration(36 * time.Hour).String(); got != "1d12h" {
		t.Errorf("String = %q", got)
	}
	if got := Duration(90 * time.Minute).String(); got != "1h30m" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []string{"", "7", "-1h", "1.5d", "d", "7dd", "week"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}
