package views

import (
	"bytes"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// The forms a catalog key is kept in.
const (
	formEntry   = "entry"   // the decoded entry
	formSpec    = "spec"    // a project's settings, a campaign's or domain's spec history
	formProject = "project" // a project with its keys opened

	formProjectClosed = "project-closed" // the same without a catalog key
)

// decodedCacheSize bounds the catalog keys whose forms are kept.
const decodedCacheSize = 1 << 14

// decodedCache keeps, per catalog key, the raw value last read and what
// lookups derived from it. A form is reused only while the view still
// holds the same bytes for the key, so a new value (or a tombstone) is
// seen at once, with no eviction to get right.
type decodedCache struct {
	mu  sync.Mutex
	lru *lru.Cache[string, *decodedKey]
}

type decodedKey struct {
	raw   []byte
	forms map[string]any
}

func newDecodedCache() *decodedCache {
	c, _ := lru.New[string, *decodedKey](decodedCacheSize)
	return &decodedCache{lru: c}
}

// get returns key's form derived from raw (the value the view holds now),
// deriving it on a miss. Errors are not cached.
func (c *decodedCache) get(key string, raw []byte, form string, derive func() (any, error)) (any, error) {
	c.mu.Lock()
	if k, ok := c.lru.Get(key); ok && bytes.Equal(k.raw, raw) {
		if v, ok := k.forms[form]; ok {
			c.mu.Unlock()
			return v, nil
		}
	}
	c.mu.Unlock()
	v, err := derive()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	k, ok := c.lru.Get(key)
	if !ok || !bytes.Equal(k.raw, raw) {
		k = &decodedKey{raw: raw, forms: map[string]any{}}
		c.lru.Add(key, k)
	}
	k.forms[form] = v
	c.mu.Unlock()
	return v, nil
}
