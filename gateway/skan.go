package gateway

import (
	"go.uber.org/zap"
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
	rules, rev := eff.SKAN, 0.0
	if revenue != nil {
		rev = *revenue
	} else {
		// an event without an amount matches only rules without a
		// revenue range
		rules.Rules = nil
		for _, r := range eff.SKAN.Rules {
			if r.MinRevenue == nil && r.MaxRevenue == nil {
				rules.Rules = append(rules.Rules, r)
			}
		}
	}
	best, ok := rules.Match(event, rev)
	if !ok {
		return
	}
	out["fine_conversion_value"] = best.Fine
	out["coarse_conversion_value"] = string(best.Coarse)
	lock := eff.SKAN.LockWindow > 0 && sinceInstall != nil && *sinceInstall >= eff.SKAN.LockWindow.D().Seconds()
	out["lock_postback"] = lock
}
