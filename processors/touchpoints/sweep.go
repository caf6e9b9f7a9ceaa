package touchpoints

import (
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// sweeper expires what the watermark has passed: a click at clicked_at plus
// its project's retention, an install at installed_at plus its window plus
// the slack (no click that arrives later can fall in its window unless it
// is later than the slack allows), the overflow count once its latest
// dropped click would have expired. An entry with nothing left is deleted.
func sweeper(deps processors.Deps) clock.SweepFunc {
	return func(ctx goka.Context, value any, watermark time.Time) {
		st, ok := value.(*State)
		if !ok {
			return
		}
		// A catalog error keeps the click: it expires on a later sweep.
		expired := func(project string, at time.Time) bool {
			r, err := deps.Retention(project, at)
			return err == nil && at.Add(r).Before(watermark)
		}
		n, m, overflow := len(st.Clicks), len(st.Installs), st.Overflow
		st.Clicks = slices.DeleteFunc(st.Clicks, func(c codecs.ClickRef) bool {
			return expired(c.ProjectID, c.ClickedAt)
		})
		st.Installs = slices.DeleteFunc(st.Installs, func(r Recorded) bool {
			return !r.keptAt(watermark, deps.Slack)
		})
		if st.Overflow > 0 && expired(project(ctx.Key()), st.OverflowUntil) {
			st.Overflow, st.OverflowUntil = 0, time.Time{}
		}
		switch {
		case len(st.Clicks) == 0 && len(st.Installs) == 0 && st.Overflow == 0:
			ctx.Delete()
		case len(st.Clicks) != n || len(st.Installs) != m || st.Overflow != overflow:
			ctx.SetValue(st)
		}
	}
}

// project is the project of a touchpoint key (project:<id>).
func project(key string) string {
	p, _, _ := strings.Cut(key, ":")
	return p
}
