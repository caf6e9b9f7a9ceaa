package views

import (
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
	p projection[codecs.DeviceInstalls]
}

// Get returns the installs of a device, or nil if it has none.
func (d *DeviceInstalls) Get(project, device string) (*codecs.DeviceInstalls, error) {
	return d.p.get("device-installs", codecs.DeviceKey(project, device))
}

// Component supervises the view behind d.
func (d *DeviceInstalls) Component(brokers []string, opts ...goka.ViewOption) stream.Component {
	return d.p.component("device-installs", projections.DeviceInstallsTable, brokers, opts)
}
