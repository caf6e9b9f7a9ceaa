package views

import (
	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/projections"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Decisions reads the `decisions` projection by install key. Safe for
// concurrent use; returns stream.ErrNotReady while the view recovers.
type Decisions struct {
	p projection[codecs.Decision]
}

// Get returns the latest decision of an install, or nil if none exists yet.
func (d *Decisions) Get(key string) (*codecs.Decision, error) { return d.p.get("decisions", key) }

// Component supervises the view behind d.
func (d *Decisions) Component(brokers []string, opts ...goka.ViewOption) stream.Component {
	return d.p.component("decisions", projections.DecisionsTable, brokers, opts)
}
