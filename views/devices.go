package views

import (
	"fmt"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/projections"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// DeviceInstalls reads the `device-installs` projection: a device's
// installs and their latest decisions, by project and device id (GAID,
// IDFA or IDFV, any case). Safe for concurrent use; returns
// stream.ErrNotReady while the view recovers.
type DeviceInstalls struct {
	holder stream.ViewHolder
}

// Get returns the installs of a device, or nil if it has none.
func (d *DeviceInstalls) Get(project, device string) (*codecs.DeviceInstalls, error) {
	v, err := d.holder.Get(codecs.DeviceKey(project, device))
	if err != nil {
		return nil, fmt.Errorf("device-installs view: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	return v.(*codecs.DeviceInstalls), nil
}

// Component supervises the view behind d.
func (d *DeviceInstalls) Component(brokers []string, opts ...goka.ViewOption) stream.Component {
	return stream.ViewComponent("view-device-installs", &d.holder, func() (*goka.View, error) {
		return goka.NewView(brokers, projections.DeviceInstallsTable, new(codecs.JSON[codecs.DeviceInstalls]), opts...)
	})
}
