package views

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// CatalogTopic is the compacted topic the catalog writer publishes to.
const CatalogTopic = "catalog"

// Catalog reads the `catalog` topic (written by catalog/publish) with
// lookups as of a time: every entry carries its dated history, so a
// setting in force at a past time (back to the replay horizon) is found
// even after compaction. The gateway and the processor groups look the
// catalog up with every request and every install, so what a lookup
// derives from an entry (the decoded entry, settings, spec histories, a
// project with its keys opened) is kept and reused while the view holds
// the same bytes for the key. Safe for concurrent use; lookups return
// stream.ErrNotReady while the view recovers.
type Catalog struct {
	// Sealer opens the sealed SDK signing secrets and web collector keys
	// of project entries; nil leaves them closed, so requests that need a
	// key are refused.
	Sealer *catalog.Sealer
	holder stream.ViewHolder

	once  sync.Once
	cache *decodedCache
}

// Component supervises the view behind c; opts are normally
// kafka.ViewOptions("catalog", tables, replication).
func (c *Catalog) Component(brokers []string, opts ...goka.ViewOption) stream.Component {
	return stream.ViewComponent("view-catalog", &c.holder, func() (*goka.View, error) {
		return goka.NewView(brokers, goka.Table(CatalogTopic), new(codec.Bytes), opts...)
	})
}

// lookup derives form from key's current value (nil when the key is
// absent or tombstoned; derive then gets nil).
func (c *Catalog) lookup(key, form string, derive func(e *codecs.CatalogEntry) (any, error)) (any, error) {
	v, err := c.holder.Get(key)
	if err != nil {
		return nil, fmt.Errorf("catalog view: %s: %w", key, err)
	}
	raw, _ := v.([]byte)
	if raw == nil {
		return derive(nil)
	}
	c.once.Do(func() { c.cache = newDecodedCache() })
	e, err := c.cache.get(key, raw, formEntry, func() (any, error) {
		e, err := codecs.Decode[codecs.CatalogEntry](raw)
		if err != nil {
			return nil, fmt.Errorf("catalog view: %s: %w", key, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	if form == formEntry {
		return e, nil
	}
	return c.cache.get(key, raw, form, func() (any, error) { return derive(e.(*codecs.CatalogEntry)) })
}

// entry reads one key; nil when absent or tombstoned.
func (c *Catalog) entry(kind, id string) (*codecs.CatalogEntry, error) {
	v, err := c.lookup(kind+":"+id, formEntry, func(*codecs.CatalogEntry) (any, error) { return nil, nil })
	e, _ := v.(*codecs.CatalogEntry)
	return e, err
}

// Ready reports whether the view has recovered the topic and serves.
func (c *Catalog) Ready() bool {
	_, err := c.holder.Get(codecs.CatalogKindProject + ":")
	return !errors.Is(err, stream.ErrNotReady)
}

// ProjectByToken resolves a client token to its project (ID and Name; the
// topic holds no secrets, so Token and ServerKey stay empty). A missing or
// rotated token, and a view that is not ready, give false (see
// LookupToken for the reason). It satisfies gateway.Projects.
func (c *Catalog) ProjectByToken(token string) (catalog.Project, bool) {
	p, ok, _ := c.LookupToken(token)
	return p, ok
}

// ProjectByServerKey resolves a server API key (header linkrunner-key).
func (c *Catalog) ProjectByServerKey(key string) (catalog.Project, bool) {
	p, ok, _ := c.LookupServerKey(key)
	return p, ok
}

// LookupToken is ProjectByToken with the error: stream.ErrNotReady while
// the view recovers, or a value that does not decode. A missing or
// rotated token is (zero, false, nil).
func (c *Catalog) LookupToken(token string) (catalog.Project, bool, error) {
	return c.projectBySecret(codecs.CatalogKindToken, token)
}

// LookupServerKey is ProjectByServerKey with the error.
func (c *Catalog) LookupServerKey(key string) (catalog.Project, bool, error) {
	return c.projectBySecret(codecs.CatalogKindAPIKey, key)
}

func (c *Catalog) projectBySecret(kind, secret string) (catalog.Project, bool, error) {
	if secret == "" {
		return catalog.Project{}, false, nil
	}
	e, err := c.entry(kind, catalog.HashSecret(secret))
	if err != nil || e == nil || e.Secret == nil {
		return catalog.Project{}, false, err
	}
	return c.project(e.Secret.ProjectID)
}

// project is a project entry with its signing and web collector keys
// opened; false when the catalog has no such project. Projects opened
// without a catalog key are kept apart from opened ones.
func (c *Catalog) project(id string) (catalog.Project, bool, error) {
	form := formProject
	if c.Sealer == nil {
		form = formProjectClosed
	}
	v, err := c.lookup(codecs.CatalogKindProject+":"+id, form, func(e *codecs.CatalogEntry) (any, error) {
		if e == nil || e.Project == nil {
			return nil, nil
		}
		return catalog.Project{ID: e.Project.ID, Name: e.Project.Name, Signing: c.signing(e.Project), WebKeys: c.webKeys(e.Project)}, nil
	})
	p, ok := v.(catalog.Project)
	return p, ok, err
}

// ProjectByWebKey returns the project holding the web collector key kid.
func (c *Catalog) ProjectByWebKey(kid string) (catalog.Project, bool) {
	p, ok, _ := c.LookupWebKey(kid)
	return p, ok
}

// LookupWebKey is ProjectByWebKey with the error (stream.ErrNotReady
// while the view recovers). A key id whose entry names a project that no
// longer lists it is (zero, false, nil).
func (c *Catalog) LookupWebKey(kid string) (catalog.Project, bool, error) {
	if kid == "" {
		return catalog.Project{}, false, nil
	}
	e, err := c.entry(codecs.CatalogKindWebKey, kid)
	if err != nil || e == nil || e.Secret == nil {
		return catalog.Project{}, false, err
	}
	p, ok, err := c.project(e.Secret.ProjectID)
	if !ok {
		return catalog.Project{}, false, err
	}
	for _, k := range p.WebKeys {
		if k.KeyID == kid {
			return p, true, nil
		}
	}
	return catalog.Project{}, false, nil
}

// webKeys opens a project entry's web collector keys; a key that does not
// open keeps its id without a private key.
func (c *Catalog) webKeys(p *codecs.CatalogProject) []catalog.WebKey {
	var out []catalog.WebKey
	for _, k := range p.WebKeys {
		key := catalog.WebKey{KeyID: k.KeyID, Active: k.Active}
		if c.Sealer != nil && k.Sealed != "" {
			key.PrivateKey, _ = c.Sealer.Open(k.Sealed, p.ID, catalog.WebKeySealID(k.KeyID))
		}
		out = append(out, key)
	}
	return out
}

// signing opens a project entry's signing keys; a key whose secret does
// not open keeps its id without a secret.
func (c *Catalog) signing(p *codecs.CatalogProject) map[catalog.Platform]catalog.Signing {
	if len(p.Signing) == 0 {
		return nil
	}
	out := make(map[catalog.Platform]catalog.Signing, len(p.Signing))
	for pl, sg := range p.Signing {
		s := catalog.Signing{Enforce: sg.Enforce}
		for _, k := range sg.Keys {
			key := catalog.SigningKey{KeyID: k.KeyID, Active: k.Active}
			if c.Sealer != nil && k.Sealed != "" {
				key.Secret, _ = c.Sealer.Open(k.Sealed, p.ID, k.KeyID)
			}
			s.Keys = append(s.Keys, key)
		}
		out[catalog.Platform(pl)] = s
	}
	return out
}

// ProjectSettings returns a project's dated settings.
func (c *Catalog) ProjectSettings(projectID string) (catalog.Settings, bool, error) {
	v, err := c.lookup(codecs.CatalogKindProject+":"+projectID, formSpec, func(e *codecs.CatalogEntry) (any, error) {
		if e == nil || e.Project == nil {
			return nil, nil
		}
		var s catalog.Settings
		if len(e.Project.Settings) > 0 {
			if err := json.Unmarshal(e.Project.Settings, &s); err != nil {
				return nil, fmt.Errorf("catalog view: project %s settings: %w", projectID, err)
			}
		}
		return s, nil
	})
	s, ok := v.(catalog.Settings)
	return s, ok, err
}

// ProjectSettingsAt returns the settings of a project in force at t
// (defaults filling the gaps); false for an unknown project.
func (c *Catalog) ProjectSettingsAt(projectID string, t time.Time) (catalog.Effective, bool, error) {
	s, ok, err := c.ProjectSettings(projectID)
	if !ok {
		return catalog.Effective{}, false, err
	}
	return s.At(t), true, nil
}

// CampaignAt returns the campaign's project and its spec in force at t;
// false for an unknown campaign or a time outside its spec (before it
// existed, after its delete).
func (c *Catalog) CampaignAt(id string, t time.Time) (projectID string, spec catalog.CampaignSpec, ok bool, err error) {
	projectID, h, ok, err := c.CampaignHistory(id)
	if !ok {
		return "", catalog.CampaignSpec{}, false, err
	}
	spec, ok = h.At(t)
	return projectID, spec, ok, nil
}

// CampaignHistory returns the campaign's project and its whole spec
// history (back to the replay horizon); false for an unknown campaign.
func (c *Catalog) CampaignHistory(id string) (projectID string, h catalog.History[catalog.CampaignSpec], ok bool, err error) {
	v, err := c.lookup(codecs.CatalogKindCampaign+":"+id, formSpec, func(e *codecs.CatalogEntry) (any, error) {
		if e == nil || e.Campaign == nil {
			return nil, nil
		}
		var h catalog.History[catalog.CampaignSpec]
		if err := json.Unmarshal(e.Campaign.Spec, &h); err != nil {
			return nil, fmt.Errorf("catalog view: campaign %s spec: %w", id, err)
		}
		return campaignHistory{project: e.Campaign.ProjectID, h: h}, nil
	})
	ch, ok := v.(campaignHistory)
	return ch.project, ch.h, ok, err
}

type campaignHistory struct {
	project string
	h       catalog.History[catalog.CampaignSpec]
}

// CampaignByDisplayIDAt returns the campaign a click link's display id
// names at t: the display entry names the campaign that has the id now,
// and the campaign's own spec in force at t must carry it (so an entry
// that outlived its campaign's delete or rename resolves nothing). Display
// entries are current-only: a display id is looked up at about now.
func (c *Catalog) CampaignByDisplayIDAt(displayID string, t time.Time) (id, projectID string, spec catalog.CampaignSpec, ok bool, err error) {
	if displayID == "" {
		return "", "", spec, false, nil
	}
	e, err := c.entry(codecs.CatalogKindDisplay, displayID)
	if err != nil || e == nil || e.Display == nil {
		return "", "", spec, false, err
	}
	projectID, spec, ok, err = c.CampaignAt(e.Display.CampaignID, t)
	if !ok || spec.DisplayID != displayID {
		return "", "", catalog.CampaignSpec{}, false, err
	}
	return e.Display.CampaignID, projectID, spec, true, nil
}

// DomainAt returns what a branded host serves at t; false for an unknown
// host or a time outside its spec.
func (c *Catalog) DomainAt(host string, t time.Time) (catalog.DomainSpec, bool, error) {
	v, err := c.lookup(codecs.CatalogKindDomain+":"+host, formSpec, func(e *codecs.CatalogEntry) (any, error) {
		if e == nil || e.Domain == nil {
			return nil, nil
		}
		var h catalog.History[catalog.DomainSpec]
		if err := json.Unmarshal(e.Domain.Spec, &h); err != nil {
			return nil, fmt.Errorf("catalog view: domain %s spec: %w", host, err)
		}
		return h, nil
	})
	h, ok := v.(catalog.History[catalog.DomainSpec])
	if !ok {
		return catalog.DomainSpec{}, false, err
	}
	spec, ok := h.At(t)
	return spec, ok, nil
}
