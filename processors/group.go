// Package processors holds what every processor group shares: the catalog
// it reads settings and campaigns from (as of an event's time) and the
// definition a role runs. Each group is a package below.
package processors

import (
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
	"github.com/hazelnut-mmp/hazelnut/stream/commit"
)

// Catalog is what groups read from the catalog, always as of an event
// time. Reads are local (an in-memory catalog or a view's local table).
type Catalog interface {
	ProjectSettingsAt(projectID string, t time.Time) (catalog.Effective, bool, error)
	CampaignAt(id string, t time.Time) (projectID string, spec catalog.CampaignSpec, ok bool, err error)
}

// Defaults of Deps.
const (
	// DefaultLateness is how long, in event time, a claim for a click not
	// seen yet waits for it.
	DefaultLateness = 30 * time.Minute
	// DefaultSlack is added to every expiry: state is kept this much longer
	// than its window so inputs that arrive out of order still find it.
	DefaultSlack = time.Hour
	// DefaultSweepPause spaces the sweeps of groups that expire state. A
	// sweep walks one key range of the group's table (goka's visitor; the
	// walk judges the entries and hands on only what expires), so on a
	// table of millions of keys it is the biggest cost after the work
	// itself; expiry windows are hours to days, and the answers a
	// sweep sends (a claim's click never came) change no decision.
	DefaultSweepPause = time.Minute
)

// Deps are a group's dependencies and tunables.
type Deps struct {
	// Catalog may be nil: every project then has the default settings and
	// no campaign resolves.
	Catalog Catalog
	// Lateness (DefaultLateness when 0) and Slack (DefaultSlack when 0).
	Lateness time.Duration
	Slack    time.Duration
	// Sweep configures the sweeper of groups that expire state.
	Sweep clock.SweepConfig
	// InFlight is how many installs per partition the attribution group
	// may be waiting on the click side for before it takes the next one
	// (stream.DefaultGateLimit when 0).
	InFlight int
}

// WithDefaults fills zero fields.
func (d Deps) WithDefaults() Deps {
	if d.Lateness <= 0 {
		d.Lateness = DefaultLateness
	}
	if d.Slack <= 0 {
		d.Slack = DefaultSlack
	}
	if d.Sweep.Pause <= 0 {
		d.Sweep.Pause = DefaultSweepPause
	}
	return d
}

// Settings are a project's settings in effect at t; the defaults when the
// catalog does not know the project.
func (d Deps) Settings(project string, t time.Time) (catalog.Effective, error) {
	if d.Catalog == nil {
		return catalog.DefaultEffective(), nil
	}
	e, ok, err := d.Catalog.ProjectSettingsAt(project, t)
	if err != nil {
		return catalog.Effective{}, err
	}
	if !ok {
		return catalog.DefaultEffective(), nil
	}
	return e, nil
}

// Retention is how long, in event time after t, state about a click of
// project made at t is kept: the project's longest window plus the slack.
func (d Deps) Retention(project string, t time.Time) (time.Duration, error) {
	e, err := d.Settings(project, t)
	if err != nil {
		return 0, err
	}
	return time.Duration(e.Windows.Longest()) + d.Slack, nil
}

// Group is a processor group as a role runs it.
type Group struct {
	Name  goka.Group
	Graph *goka.GroupGraph
	// Sweeper is set for groups that expire state by watermark; the role
	// runs the processor through it.
	Sweeper *clock.Sweeper
	// Gate is set for groups that hold an input topic back while too many
	// of its keys wait for answers (stream.Gate).
	Gate *stream.Gate
	// Scope is set for groups that keep state in memory between callbacks
	// and hold commits until it is written (commit.Scope).
	Scope *commit.Scope
}

// Wrap is how the group's consumer group is wrapped beyond contiguous
// commits: the gate's admission and the scope, when set.
func (g Group) Wrap() []commit.Option {
	var opts []commit.Option
	if g.Gate != nil {
		opts = append(opts, g.Gate.Admission())
	}
	if g.Scope != nil {
		opts = append(opts, commit.WithScope(g.Scope))
	}
	return opts
}
