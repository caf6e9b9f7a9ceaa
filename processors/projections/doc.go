// Package projections holds the small groups that feed the gateway's views,
// each re-keyed from a processor's outputs so the gateway never holds a
// processor's full state.
//
// decisions: input `attributions` → table keyed by install holding the
// latest decision version (an older version never overwrites a newer one),
// and each version re-keyed by device id to `device-decisions`.
//
// device-installs: input `device-decisions` → table keyed by device id
// holding the device's installs and their latest decisions.
package projections
