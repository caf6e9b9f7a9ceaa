package catalog

import (
	"errors"
	"fmt"
	"time"
)

// Catalog is a whole catalog in memory: what a YAML catalog file holds,
// what `catalog seed` writes to Postgres and what `hazelnut dev --catalog`
// serves. Fill the slices, then call Build; after Build the catalog must
// not be modified and is safe for concurrent use.
type Catalog struct {
	Projects        []ProjectRecord
	Campaigns       []Campaign
	Domains         []Domain
	NetworkAccounts []NetworkAccount
	EventMaps       []EventMap

	tokens    *Static
	projects  map[string]int
	campaigns map[string]int
	byDisplay map[string]int
	// everDisplay lists, per display id, the campaigns any of whose spec
	// versions used it.
	everDisplay map[string][]int
	domains     map[string]int
	eventMaps   map[string]int
	accountsOf  map[string][]int
}

// Entity kinds, as EntityError names them.
const (
	EntityProject        = "project"
	EntityCampaign       = "campaign"
	EntityDomain         = "domain"
	EntityNetworkAccount = "network account"
	EntityEventMap       = "event map"
)

// EntityError is a problem with one entity of a Catalog: Kind and Index
// say which (Index into the Catalog's slice of that kind).
type EntityError struct {
	Kind  string
	Index int
	ID    string
	Err   error
}

func (e *EntityError) Error() string { return fmt.Sprintf("%s %q: %v", e.Kind, e.ID, e.Err) }
func (e *EntityError) Unwrap() error { return e.Err }

// Validate checks every entity and the references between them. Each
// problem is an *EntityError on its own line of an errors.Join.
func (c *Catalog) Validate() error {
	var errs []error
	add := func(kind string, i int, id string, err error) {
		for _, e := range splitErrors(err) {
			errs = append(errs, &EntityError{Kind: kind, Index: i, ID: id, Err: e})
		}
	}
	projects := map[string]int{}
	tokens, keys := map[string]string{}, map[string]string{}
	for i, p := range c.Projects {
		add(EntityProject, i, p.ID, p.Validate())
		if _, dup := projects[p.ID]; dup {
			add(EntityProject, i, p.ID, errors.New("id: listed twice"))
		}
		projects[p.ID] = i
		if other, dup := tokens[p.Secrets.Token]; dup && p.Secrets.Token != "" {
			add(EntityProject, i, p.ID, fmt.Errorf("token: also the token of project %q", other))
		}
		tokens[p.Secrets.Token] = p.ID
		if other, dup := keys[p.Secrets.ServerKey]; dup && p.Secrets.ServerKey != "" {
			add(EntityProject, i, p.ID, fmt.Errorf("server_key: also the server key of project %q", other))
		}
		keys[p.Secrets.ServerKey] = p.ID
	}
	hasProject := func(kind string, i int, id, field, project string) {
		if _, ok := projects[project]; !ok && project != "" {
			add(kind, i, id, fmt.Errorf("%s: no project %q", field, project))
		}
	}
	campaigns := map[string]int{}
	display := map[string]string{}
	for i, cp := range c.Campaigns {
		add(EntityCampaign, i, cp.ID, cp.Validate())
		if _, dup := campaigns[cp.ID]; dup {
			add(EntityCampaign, i, cp.ID, errors.New("id: listed twice"))
		}
		campaigns[cp.ID] = i
		hasProject(EntityCampaign, i, cp.ID, "project", cp.ProjectID)
		if s, ok := cp.Spec.Current(); ok && s.DisplayID != "" {
			if other, dup := display[s.DisplayID]; dup {
				add(EntityCampaign, i, cp.ID, fmt.Errorf("spec.display_id: %q is also campaign %q's", s.DisplayID, other))
			}
			display[s.DisplayID] = cp.ID
		}
	}
	hosts := map[string]bool{}
	for i, d := range c.Domains {
		add(EntityDomain, i, d.Host, d.Validate())
		if hosts[d.Host] {
			add(EntityDomain, i, d.Host, errors.New("host: listed twice"))
		}
		hosts[d.Host] = true
		for _, s := range d.Spec.Spans() {
			hasProject(EntityDomain, i, d.Host, "spec.project", s.Value.ProjectID)
			if s.Value.DefaultCampaign == "" {
				continue
			}
			j, ok := campaigns[s.Value.DefaultCampaign]
			switch {
			case !ok:
				add(EntityDomain, i, d.Host, fmt.Errorf("spec.default_campaign: no campaign %q", s.Value.DefaultCampaign))
			case c.Campaigns[j].ProjectID != s.Value.ProjectID:
				add(EntityDomain, i, d.Host, fmt.Errorf("spec.default_campaign: campaign %q belongs to project %q, not %q",
					s.Value.DefaultCampaign, c.Campaigns[j].ProjectID, s.Value.ProjectID))
			}
		}
	}
	accounts := map[string]bool{}
	for i, a := range c.NetworkAccounts {
		add(EntityNetworkAccount, i, a.ID, a.Validate())
		if accounts[a.ID] {
			add(EntityNetworkAccount, i, a.ID, errors.New("id: listed twice"))
		}
		accounts[a.ID] = true
		hasProject(EntityNetworkAccount, i, a.ID, "project", a.ProjectID)
	}
	maps := map[string]bool{}
	for i, m := range c.EventMaps {
		add(EntityEventMap, i, m.ID(), m.Validate())
		if maps[m.ID()] {
			add(EntityEventMap, i, m.ID(), errors.New("network: the project has another event map for this network"))
		}
		maps[m.ID()] = true
		hasProject(EntityEventMap, i, m.ID(), "project", m.ProjectID)
	}
	return errors.Join(errs...)
}

// Build validates c and indexes it for the lookups.
func (c *Catalog) Build() error {
	if err := c.Validate(); err != nil {
		return err
	}
	var ps []Project
	c.projects = map[string]int{}
	for i, p := range c.Projects {
		ps = append(ps, p.Project())
		c.projects[p.ID] = i
	}
	tokens, err := NewStatic(ps...)
	if err != nil {
		return err
	}
	c.tokens = tokens
	c.campaigns, c.byDisplay, c.everDisplay = map[string]int{}, map[string]int{}, map[string][]int{}
	for i, cp := range c.Campaigns {
		c.campaigns[cp.ID] = i
		if s, ok := cp.Spec.Current(); ok {
			c.byDisplay[s.DisplayID] = i
		}
		for _, sp := range cp.Spec.Spans() {
			if ids := c.everDisplay[sp.Value.DisplayID]; len(ids) == 0 || ids[len(ids)-1] != i {
				c.everDisplay[sp.Value.DisplayID] = append(ids, i)
			}
		}
	}
	c.domains = map[string]int{}
	for i, d := range c.Domains {
		c.domains[d.Host] = i
	}
	c.eventMaps = map[string]int{}
	for i, m := range c.EventMaps {
		c.eventMaps[m.ID()] = i
	}
	c.accountsOf = map[string][]int{}
	for i, a := range c.NetworkAccounts {
		c.accountsOf[a.ProjectID] = append(c.accountsOf[a.ProjectID], i)
	}
	return nil
}

// ProjectByToken resolves a client token (false before Build).
func (c *Catalog) ProjectByToken(token string) (Project, bool) {
	if c.tokens == nil {
		return Project{}, false
	}
	return c.tokens.ProjectByToken(token)
}

// Project returns a project by id.
func (c *Catalog) Project(id string) (ProjectRecord, bool) {
	i, ok := c.projects[id]
	if !ok {
		return ProjectRecord{}, false
	}
	return c.Projects[i], true
}

// Campaign returns a campaign by id.
func (c *Catalog) Campaign(id string) (Campaign, bool) {
	i, ok := c.campaigns[id]
	if !ok {
		return Campaign{}, false
	}
	return c.Campaigns[i], true
}

// CampaignByDisplayID returns the current campaign with that display id.
func (c *Catalog) CampaignByDisplayID(displayID string) (Campaign, bool) {
	i, ok := c.byDisplay[displayID]
	if !ok {
		return Campaign{}, false
	}
	return c.Campaigns[i], true
}

// Domain returns the spec of host in effect at t.
func (c *Catalog) Domain(host string, at time.Time) (DomainSpec, bool) {
	i, ok := c.domains[host]
	if !ok {
		return DomainSpec{}, false
	}
	return c.Domains[i].Spec.At(at)
}

// EventMap returns a project's event map for network in effect at t.
func (c *Catalog) EventMap(projectID, network string, at time.Time) (map[string]string, bool) {
	i, ok := c.eventMaps[projectID+":"+network]
	if !ok {
		return nil, false
	}
	return c.EventMaps[i].Events.At(at)
}

// NetworkAccountsOf returns a project's network accounts.
func (c *Catalog) NetworkAccountsOf(projectID string) []NetworkAccount {
	var out []NetworkAccount
	for _, i := range c.accountsOf[projectID] {
		out = append(out, c.NetworkAccounts[i])
	}
	return out
}

// The lookups below have the shape of the catalog view's, so the gateway
// reads either; the memory catalog never fails.

// ProjectSettingsAt returns a project's settings in force at t.
func (c *Catalog) ProjectSettingsAt(projectID string, t time.Time) (Effective, bool, error) {
	p, ok := c.Project(projectID)
	if !ok {
		return Effective{}, false, nil
	}
	return p.Settings.At(t), true, nil
}

// CampaignAt returns a campaign's project and its spec in force at t.
func (c *Catalog) CampaignAt(id string, t time.Time) (projectID string, spec CampaignSpec, ok bool, err error) {
	cp, found := c.Campaign(id)
	if !found {
		return "", CampaignSpec{}, false, nil
	}
	spec, ok = cp.Spec.At(t)
	return cp.ProjectID, spec, ok, nil
}

// CampaignByDisplayIDAt returns the campaign a click link's display id
// names at t: the campaign whose spec in force at t has that display id
// (a campaign with a scheduled end is found until it ends).
func (c *Catalog) CampaignByDisplayIDAt(displayID string, t time.Time) (id, projectID string, spec CampaignSpec, ok bool, err error) {
	for _, i := range c.everDisplay[displayID] {
		cp := c.Campaigns[i]
		if s, in := cp.Spec.At(t); in && s.DisplayID == displayID {
			return cp.ID, cp.ProjectID, s, true, nil
		}
	}
	return "", "", CampaignSpec{}, false, nil
}

// DomainAt returns what a branded host serves at t.
func (c *Catalog) DomainAt(host string, t time.Time) (DomainSpec, bool, error) {
	spec, ok := c.Domain(host, t)
	return spec, ok, nil
}
