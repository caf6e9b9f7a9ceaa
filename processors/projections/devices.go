package projections

import (
	"errors"
	"slices"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// DeviceInstallsGroup is the group behind the `device-installs` view.
const DeviceInstallsGroup goka.Group = "device-installs"

// DeviceInstallsDLQ receives records that could not be processed.
var DeviceInstallsDLQ = stream.DLQ(DeviceInstallsGroup)

// DeviceInstallsTable is keyed project:device id.
var DeviceInstallsTable = goka.GroupTable(DeviceInstallsGroup)

// DeviceInstalls is the device-installs projection: input
// `device-decisions`, table keyed by device holding the device's installs
// with their newest decision version, oldest install first.
func DeviceInstalls(processors.Deps) processors.Group {
	return processors.Group{Name: DeviceInstallsGroup, Graph: goka.DefineGroup(DeviceInstallsGroup,
		goka.Input(DeviceDecisions, new(codecs.Wire), stream.Guard(DeviceInstallsGroup, projectDevice)),
		goka.Persist(new(codecs.JSON[codecs.DeviceInstalls])),
		goka.Output(DeviceInstallsDLQ, new(codec.Bytes)),
	)}
}

// projectDevice merges one install's decision into its device's list; a
// version older than the stored one changes nothing, so redelivery is
// harmless.
func projectDevice(ctx goka.Context, raw []byte) error {
	r, err := codecs.Decode[codecs.DeviceInstall](raw)
	if err != nil {
		return err
	}
	if r.ProjectID == "" || r.InstallID == "" || codecs.DeviceKey(r.ProjectID, r.Device) != ctx.Key() {
		return errDeviceKey
	}
	cur, _ := ctx.Value().(*codecs.DeviceInstalls)
	if cur == nil {
		cur = &codecs.DeviceInstalls{}
	}
	i := slices.IndexFunc(cur.Installs, func(x codecs.DeviceInstall) bool { return x.InstallID == r.InstallID })
	switch {
	case i >= 0 && cur.Installs[i].Version >= r.Version:
		return nil
	case i >= 0:
		cur.Installs[i] = *r
	default:
		cur.Installs = append(cur.Installs, *r)
	}
	slices.SortFunc(cur.Installs, func(x, y codecs.DeviceInstall) int {
		return codecs.CompareInstalls(codecs.InstallRef{InstallID: x.InstallID, InstalledAt: x.InstalledAt},
			codecs.InstallRef{InstallID: y.InstallID, InstalledAt: y.InstalledAt})
	})
	if over := len(cur.Installs) - codecs.MaxDeviceInstalls; over > 0 {
		cur.Installs = slices.Delete(cur.Installs, 0, over)
		cur.Dropped += over
	}
	ctx.SetValue(cur)
	return nil
}

var errDeviceKey = errors.New("device install: key does not match project and device")
