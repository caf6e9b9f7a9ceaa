// Package projections holds the small groups that feed the gateway's views,
// each re-keyed from a processor's outputs so the gateway never holds a
// processor's full state.
//
// decisions: input `attributions` → table keyed by install holding the
// latest decision version (an older version never overwrites a newer one).
package projections
