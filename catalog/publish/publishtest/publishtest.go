// Package publishtest helps tests that publish a catalog to a shared
// broker keep their entities apart from other runs'.
package publishtest

import (
	"slices"
	"strings"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

// WithSuffix renames every id, host and secret of c with sfx so runs on a
// shared broker do not meet.
func WithSuffix(c *catalog.Catalog, sfx string) error {
	for i := range c.Projects {
		p := &c.Projects[i]
		p.ID += sfx
		p.Secrets.Token += sfx
		p.Secrets.ServerKey += sfx
		keys := slices.Clone(p.Secrets.WebCollector.Keys)
		for j := range keys {
			keys[j].KeyID += sfx
		}
		p.Secrets.WebCollector.Keys = keys
	}
	for i := range c.Campaigns {
		c.Campaigns[i].ID += sfx
		c.Campaigns[i].ProjectID += sfx
		spans := c.Campaigns[i].Spec.Spans()
		for j := range spans {
			spans[j].Value.DisplayID += sfx
		}
		h, err := catalog.NewHistory(spans...)
		if err != nil {
			return err
		}
		c.Campaigns[i].Spec = h
	}
	for i := range c.Domains {
		d := &c.Domains[i]
		d.Host = strings.Replace(d.Host, "go.", "go"+sfx+".", 1)
		spans := d.Spec.Spans()
		for j := range spans {
			spans[j].Value.ProjectID += sfx
			if spans[j].Value.DefaultCampaign != "" {
				spans[j].Value.DefaultCampaign += sfx
			}
		}
		h, err := catalog.NewHistory(spans...)
		if err != nil {
			return err
		}
		d.Spec = h
	}
	for i := range c.NetworkAccounts {
		c.NetworkAccounts[i].ID += sfx
		c.NetworkAccounts[i].ProjectID += sfx
	}
	for i := range c.EventMaps {
		c.EventMaps[i].ProjectID += sfx
	}
	return nil
}
