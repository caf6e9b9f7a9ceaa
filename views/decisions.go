package views

import (
	"fmt"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/projections"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Decisions reads the `decisions` projection by install key. Safe for
// concurrent use; returns stream.ErrNotReady while the view recovers.
type Decisions struct {
	holder stream.ViewHolder
}

// Get returns the latest decision of an install, or nil if none exists yet.
func (d *Decisions) Get(key string) (*codecs.Decision, error) {
	v, err := d.holder.Get(key)
	if err != nil {
		return nil, fmt.Errorf("decisions view: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	return v.(*codecs.Decision), nil
}

// Component supervises the view behind d.
func (d *Decisions) Component(brokers []string, opts ...goka.ViewOption) stream.Component {
	return stream.ViewComponent("view-decisions", &d.holder, func() (*goka.View, error) {
		return goka.NewView(brokers, projections.DecisionsTable, new(codecs.JSON[codecs.Decision]), opts...)
	})
}
