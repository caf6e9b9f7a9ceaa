package views

import (
	"context"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// CampaignSource reads one campaign from the catalog database
// (pgstore.Store in production).
type CampaignSource interface {
	Campaign(ctx context.Context, id string) (catalog.Campaign, error)
}

// Campaigns is an in-process LRU over the catalog database for campaign
// lookups on hot paths (click links). Entries are evicted when the catalog
// topic carries a new entry for the campaign, so a change published by the
// catalog writer reaches every gateway without a database round trip per
// request. Safe for concurrent use.
type Campaigns struct {
	src   CampaignSource
	cache *lru.Cache[string, catalog.Campaign]
}

// NewCampaigns caches up to size campaigns (default 10000 when size <= 0).
func NewCampaigns(src CampaignSource, size int) *Campaigns {
	if size <= 0 {
		size = 10000
	}
	c, _ := lru.New[string, catalog.Campaign](size)
	return &Campaigns{src: src, cache: c}
}

// At returns the spec of campaign id in force at t. A miss reads the
// database; the error of a failed read is returned, a missing campaign is
// ok=false.
func (c *Campaigns) At(ctx context.Context, id string, t time.Time) (catalog.CampaignSpec, bool, error) {
	camp, ok := c.cache.Get(id)
	if !ok {
		var err error
		camp, err = c.src.Campaign(ctx, id)
		if err != nil {
			return catalog.CampaignSpec{}, false, fmt.Errorf("campaign %s: %w", id, err)
		}
		c.cache.Add(id, camp)
	}
	spec, ok := camp.Spec.At(t)
	return spec, ok, nil
}

// Invalidate drops campaign id from the cache.
func (c *Campaigns) Invalidate(id string) { c.cache.Remove(id) }

// Cached reports whether campaign id is in the cache.
func (c *Campaigns) Cached(id string) bool { return c.cache.Contains(id) }

// UpdateCallback is the catalog view's update callback with invalidation:
// it stores the record as goka does by default and evicts the campaign a
// `campaign:ID` record is about. Pass it with goka.WithViewCallback.
func (c *Campaigns) UpdateCallback() goka.UpdateCallback {
	prefix := codecs.CatalogKindCampaign + ":"
	return func(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
		if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
			return err
		}
		if id, ok := strings.CutPrefix(key, prefix); ok {
			c.Invalidate(id)
		}
		return nil
	}
}
