package views

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

// Web collector keys: the webkey entry finds the project, whose entry
// carries the key sealed; a key id the project no longer lists, or whose
// project is gone, finds nothing.
func TestCatalogWebKeys(t *testing.T) {
	kafka, producer := catalogTopic(t)
	sealer, err := catalog.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	const priv = "Hx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fH6E"
	entries := map[string]codecs.CatalogEntry{
		"project:p": {Kind: codecs.CatalogKindProject, ID: "p", Version: 1, Project: &codecs.CatalogProject{ID: "p", Name: "P",
			Settings: json.RawMessage(`{}`), WebKeys: []codecs.CatalogWebKey{
				{KeyID: "k1", Active: true, Sealed: sealer.Seal(priv, "p", catalog.WebKeySealID("k1"))},
				{KeyID: "moved", Active: true, Sealed: sealer.Seal(priv, "p", "moved")}}}},
		"webkey:k1":     {Kind: codecs.CatalogKindWebKey, ID: "k1", Version: 1, Secret: &codecs.CatalogSecret{ProjectID: "p", Kind: "web_key"}},
		"webkey:moved":  {Kind: codecs.CatalogKindWebKey, ID: "moved", Version: 1, Secret: &codecs.CatalogSecret{ProjectID: "p", Kind: "web_key"}},
		"webkey:stale":  {Kind: codecs.CatalogKindWebKey, ID: "stale", Version: 1, Secret: &codecs.CatalogSecret{ProjectID: "p", Kind: "web_key"}},
		"webkey:orphan": {Kind: codecs.CatalogKindWebKey, ID: "orphan", Version: 1, Secret: &codecs.CatalogSecret{ProjectID: "gone", Kind: "web_key"}},
	}
	for key, e := range entries {
		b, _ := json.Marshal(e)
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: CatalogTopic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(b)}); err != nil {
			t.Fatal(err)
		}
	}

	c := Catalog{Sealer: sealer}
	runCatalogView(t, kafka, &c, "catalog-webkeys-test")
	poll.Until(t, 30*time.Second, "web key", func() bool { _, ok := c.ProjectByWebKey("k1"); return ok })

	p, ok, err := c.LookupWebKey("k1")
	if err != nil || !ok || p.ID != "p" {
		t.Fatalf("k1 → %+v %v %v", p, ok, err)
	}
	if k, ok := p.WebKey("k1"); !ok || k.PrivateKey != priv {
		t.Fatalf("k1 does not open: %+v", p.WebKeys)
	}
	// sealed for another key id: it does not open, so it cannot be used
	if _, ok := p.WebKey("moved"); ok {
		t.Fatal("a key sealed for another id opened")
	}
	for _, kid := range []string{"stale", "orphan", "missing", ""} {
		if _, ok, err := c.LookupWebKey(kid); ok || err != nil {
			t.Errorf("%q: %v %v", kid, ok, err)
		}
	}
	// without the catalog key, the ids are known but nothing opens
	c.Sealer = nil
	if p, ok := c.ProjectByWebKey("k1"); !ok || len(p.WebKeys) != 2 || p.WebKeys[0].PrivateKey != "" {
		t.Fatalf("closed view: %+v %v", p, ok)
	}
}
