package gateway

import (
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

// Link resolution defaults: a resolved link (or an unknown one) is reused
// for this long, at most this many of them.
const (
	DefaultLinkTTL     = 30 * time.Second
	DefaultLinkEntries = 100_000
)

// WithLinkCache sets how long a click link's resolution is reused and how
// many are kept (defaults DefaultLinkTTL, DefaultLinkEntries). A ttl of 0
// resolves every click from the catalog.
func WithLinkCache(ttl time.Duration, entries int) Option {
	return func(s *Server) { s.links = newLinkCache(ttl, entries) }
}

// campaignHistories are catalogs that hand out a campaign's whole spec
// history (the catalog view); the cache keeps the history, so a cached
// link stops resolving exactly when its campaign's spec ends.
type campaignHistories interface {
	CampaignHistory(id string) (projectID string, h catalog.History[catalog.CampaignSpec], ok bool, err error)
}

// memoryCampaigns is the in-memory catalog's shape of the same.
type memoryCampaigns interface {
	Campaign(id string) (catalog.Campaign, bool)
}

// resolvedLink is a link's campaign. With its history the spec is read
// from it at the click's time, so a cached link never outlives its
// campaign's end; without one, the spec is looked up at every click.
type resolvedLink struct {
	found      bool
	campaignID string
	projectID  string
	hist       catalog.History[catalog.CampaignSpec]
	hasHist    bool
	expires    time.Time
}

// linkShards is the number of LRUs a link cache is split into: a hit
// moves its entry to the front under the LRU's lock, so one LRU would
// make every concurrent click wait on one mutex.
const linkShards = 16

// linkCache is an LRU of click link resolutions keyed by (host, display
// id): positive and negative answers alike, each for the TTL.
type linkCache struct {
	ttl    time.Duration
	shards [linkShards]*lru.Cache[string, resolvedLink]
	// flights joins concurrent misses of one key into one catalog lookup.
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	res  resolvedLink
	err  error
}

func newLinkCache(ttl time.Duration, entries int) *linkCache {
	if entries <= 0 {
		entries = DefaultLinkEntries
	}
	c := &linkCache{ttl: ttl, flights: map[string]*flight{}}
	for i := range c.shards {
		c.shards[i], _ = lru.New[string, resolvedLink](max(1, entries/linkShards))
	}
	return c
}

// shard is the LRU of key (FNV-1a).
func (c *linkCache) shard(key string) *lru.Cache[string, resolvedLink] {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return c.shards[h%linkShards]
}

// linkKey is the cache key of a link: the lower-case host (a branded host
// restricts the campaign to its project) and the display id ("" for a
// branded host's default campaign).
func linkKey(host, display string) string { return host + "\x00" + display }

// resolveLink finds the campaign of a click link at t: the campaign with
// display id display (on a branded host, only one of the host's project),
// else on a branded host its default campaign. found false: unknown link.
// An error is a catalog that cannot answer (not cached).
func (s *Server) resolveLink(host, display string, t time.Time) (id, projectID string, spec catalog.CampaignSpec, found bool, err error) {
	host = strings.ToLower(host)
	var r resolvedLink
	if s.links == nil || s.links.ttl <= 0 {
		r, err = s.lookupLink(host, display, t)
	} else {
		r, err = s.links.get(linkKey(host, display), t, func() (resolvedLink, error) { return s.lookupLink(host, display, t) })
	}
	if err != nil || !r.found {
		return "", "", spec, false, err
	}
	if r.hasHist {
		spec, found = r.hist.At(t)
	} else {
		var pid string
		pid, spec, found, err = s.deps.Catalog.CampaignAt(r.campaignID, t)
		found = found && err == nil && pid == r.projectID
	}
	if !found || display != "" && spec.DisplayID != display {
		// past the campaign's end, or its display id changed since
		return "", "", catalog.CampaignSpec{}, false, err
	}
	return r.campaignID, r.projectID, spec, true, nil
}

// get answers key from the cache while fresh, else from load (one load
// per key at a time).
func (c *linkCache) get(key string, now time.Time, load func() (resolvedLink, error)) (resolvedLink, error) {
	cache := c.shard(key)
	if r, ok := cache.Get(key); ok && now.Before(r.expires) {
		return r, nil
	}
	c.mu.Lock()
	if r, ok := cache.Get(key); ok && now.Before(r.expires) {
		c.mu.Unlock() // loaded while this one waited for the lock
		return r, nil
	}
	if f, ok := c.flights[key]; ok {
		c.mu.Unlock()
		<-f.done
		return f.res, f.err
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()
	f.res, f.err = load()
	if f.err == nil {
		f.res.expires = now.Add(c.ttl)
		cache.Add(key, f.res)
	}
	c.mu.Lock()
	delete(c.flights, key)
	c.mu.Unlock()
	close(f.done)
	return f.res, f.err
}

// lookupLink resolves a link from the catalog.
func (s *Server) lookupLink(host, display string, t time.Time) (resolvedLink, error) {
	var none resolvedLink
	cat := s.deps.Catalog
	if cat == nil {
		return none, nil
	}
	var dom catalog.DomainSpec
	branded := false
	if host != "" {
		var err error
		if dom, branded, err = cat.DomainAt(host, t); err != nil {
			return none, err
		}
	}
	var id, pid string
	var ok bool
	switch {
	case display != "":
		d, can := cat.(displayIDs)
		if !can {
			return none, nil
		}
		var err error
		if id, pid, _, ok, err = d.CampaignByDisplayIDAt(display, t); err != nil {
			return none, err
		}
		if !ok || branded && pid != dom.ProjectID {
			return none, nil
		}
	case branded && dom.DefaultCampaign != "":
		var err error
		id = dom.DefaultCampaign
		if pid, _, ok, err = cat.CampaignAt(id, t); err != nil {
			return none, err
		}
		if !ok || pid != dom.ProjectID {
			return none, nil
		}
	default:
		return none, nil
	}
	r := resolvedLink{found: true, campaignID: id, projectID: pid}
	switch h := cat.(type) {
	case campaignHistories:
		hp, hist, ok, err := h.CampaignHistory(id)
		if err != nil {
			return none, err
		}
		if ok && hp == pid {
			r.hist, r.hasHist = hist, true
		}
	case memoryCampaigns:
		if c, ok := h.Campaign(id); ok && c.ProjectID == pid {
			r.hist, r.hasHist = c.Spec, true
		}
	}
	return r, nil
}
