package gateway

import (
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

// addSKAN adds SKAdNetwork conversion values to an answer (contract §4),
// best effort: the highest fine value among the project's SKAN rules that
// match this request's event and revenue. Rules live in the catalog; the
// monotonic per-install value is the SDK's (it applies a value only when it
// is not lower than the last one). Nothing is added when no rule matches.
func (s *Server) addSKAN(out map[string]any, c *call, event string, revenue *float64, sinceInstall *float64) {
	if s.deps.Catalog == nil {
		return
	}
	eff, ok, err := s.deps.Catalog.ProjectSettingsAt(c.proj.ID, c.received)
	if err != nil {
		s.log.Debug("settings lookup failed", zap.Error(err))
		return
	}
	if !ok {
		return
	}
	best := -1
	var coarse catalog.Coarse
	for _, r := range eff.SKAN.Rules {
		if r.Event != "" && r.Event != event {
			continue
		}
		if r.MinRevenue != nil || r.MaxRevenue != nil {
			if revenue == nil || (r.MinRevenue != nil && *revenue < *r.MinRevenue) || (r.MaxRevenue != nil && *revenue >= *r.MaxRevenue) {
				continue
			}
		}
		if r.Fine > best {
			best, coarse = r.Fine, r.Coarse
		}
	}
	if best < 0 {
		return
	}
	out["fine_conversion_value"] = best
	out["coarse_conversion_value"] = string(coarse)
	lock := eff.SKAN.LockWindow > 0 && sinceInstall != nil && *sinceInstall >= eff.SKAN.LockWindow.D().Seconds()
	out["lock_postback"] = lock
}
