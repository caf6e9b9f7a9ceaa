package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Span is one dated value of a History: Value is in effect from From
// (inclusive) until Until (exclusive); a zero Until means "still in effect".
// A zero From means "since always".
type Span[T any] struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until,omitzero"`
	Value T         `json:"value"`
}

// Open reports whether the span has no end.
func (s Span[T]) Open() bool { return s.Until.IsZero() }

func (s Span[T]) covers(t time.Time) bool {
	return !t.Before(s.From) && (s.Until.IsZero() || t.Before(s.Until))
}

// ErrOverlap is returned for spans that overlap or are out of order.
var ErrOverlap = errors.New("spans overlap or are out of order")

// ErrNotOpen is returned by End when no span is in effect at its end.
var ErrNotOpen = errors.New("no open span to end")

// History is the dated history of one setting: spans sorted by From, not
// overlapping, only the last one possibly open. Gaps are allowed (the
// setting did not exist, e.g. after a delete). The zero value is an empty
// history. A History is a value: methods with a pointer receiver modify it
// and are not safe for concurrent use; the others are.
type History[T any] struct {
	spans []Span[T]
}

// NewHistory checks spans (sorted, non-overlapping, From before Until,
// only the last open) and returns them as a History.
func NewHistory[T any](spans ...Span[T]) (History[T], error) {
	for i, s := range spans {
		s.From, s.Until = s.From.UTC(), s.Until.UTC()
		spans[i] = s
		if !s.Until.IsZero() && !s.From.Before(s.Until) {
			return History[T]{}, fmt.Errorf("span from %s: until %s is not after from", stamp(s.From), stamp(s.Until))
		}
		if i == 0 {
			continue
		}
		prev := spans[i-1]
		if prev.Until.IsZero() || prev.Until.After(s.From) {
			return History[T]{}, fmt.Errorf("span from %s starts before the span from %s ends: %w", stamp(s.From), stamp(prev.From), ErrOverlap)
		}
	}
	return History[T]{spans: append([]Span[T](nil), spans...)}, nil
}

// Always returns a history with one open span in effect since always.
func Always[T any](v T) History[T] {
	return History[T]{spans: []Span[T]{{Value: v}}}
}

// At returns the value in effect at t.
func (h History[T]) At(t time.Time) (T, bool) {
	for i := len(h.spans) - 1; i >= 0; i-- {
		s := h.spans[i]
		if s.covers(t) {
			return s.Value, true
		}
		if !t.Before(s.From) {
			break
		}
	}
	var zero T
	return zero, false
}

// Current returns the value of the open span, if there is one.
func (h History[T]) Current() (T, bool) {
	if n := len(h.spans); n > 0 && h.spans[n-1].Open() {
		return h.spans[n-1].Value, true
	}
	var zero T
	return zero, false
}

// Spans returns a copy of the spans, oldest first.
func (h History[T]) Spans() []Span[T] { return append([]Span[T](nil), h.spans...) }

// Len is the number of spans.
func (h History[T]) Len() int { return len(h.spans) }

// Set makes v the value from from on. An open span that started before
// from is closed at from; a span starting exactly at from gets v instead
// (a correction). from must not be before the last span's start, nor
// inside a closed last span.
func (h *History[T]) Set(from time.Time, v T) error {
	from = from.UTC()
	n := len(h.spans)
	if n == 0 {
		h.spans = []Span[T]{{From: from, Value: v}}
		return nil
	}
	last := &h.spans[n-1]
	switch {
	case from.Before(last.From):
		return fmt.Errorf("set from %s: before the latest span (from %s): %w", stamp(from), stamp(last.From), ErrOverlap)
	case from.Equal(last.From):
		last.Value, last.Until = v, time.Time{}
		return nil
	case last.Open():
		last.Until = from
	case last.Until.After(from):
		return fmt.Errorf("set from %s: inside the span from %s until %s: %w", stamp(from), stamp(last.From), stamp(last.Until), ErrOverlap)
	}
	h.spans = append(h.spans, Span[T]{From: from, Value: v})
	return nil
}

// End ends the open span at at (a delete). Ending at the open span's own
// start removes that span. Without an open span, End returns ErrNotOpen.
func (h *History[T]) End(at time.Time) error {
	at = at.UTC()
	n := len(h.spans)
	if n == 0 || !h.spans[n-1].Open() {
		return ErrNotOpen
	}
	last := &h.spans[n-1]
	switch {
	case at.Before(last.From):
		return fmt.Errorf("end at %s: before the open span's start %s: %w", stamp(at), stamp(last.From), ErrOverlap)
	case at.Equal(last.From):
		h.spans = h.spans[:n-1]
	default:
		last.Until = at
	}
	return nil
}

// Trim drops the spans that ended at or before horizon; the span in effect
// at horizon and later ones stay whole.
func (h *History[T]) Trim(horizon time.Time) {
	i := 0
	for i < len(h.spans) && !h.spans[i].Open() && !h.spans[i].Until.After(horizon) {
		i++
	}
	if i > 0 {
		h.spans = append([]Span[T](nil), h.spans[i:]...)
	}
}

// MarshalJSON encodes the spans as a JSON array (oldest first).
func (h History[T]) MarshalJSON() ([]byte, error) {
	if h.spans == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(h.spans)
}

// UnmarshalJSON decodes a JSON array of spans and checks it as NewHistory does.
func (h *History[T]) UnmarshalJSON(b []byte) error {
	var spans []Span[T]
	if err := json.Unmarshal(b, &spans); err != nil {
		return err
	}
	nh, err := NewHistory(spans...)
	if err != nil {
		return err
	}
	if len(nh.spans) == 0 {
		nh.spans = nil
	}
	*h = nh
	return nil
}

// validate checks every span's value with check, naming the span.
func (h History[T]) validate(name string, check func(T) error) error {
	var errs []error
	for _, s := range h.spans {
		if err := check(s.Value); err != nil {
			for _, e := range splitErrors(err) {
				errs = append(errs, fmt.Errorf("%s (from %s): %w", name, stamp(s.From), e))
			}
		}
	}
	return errors.Join(errs...)
}

// stamp formats a span boundary for messages.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "the beginning"
	}
	return t.UTC().Format(time.RFC3339)
}

// splitErrors flattens an errors.Join tree.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}
