package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// memory is a catalog in memory that bumps versions like pgstore.
type memory struct {
	c   *catalog.Catalog
	rot []catalog.Rotation
}

func newMemory(t *testing.T) *memory {
	c, err := yamlcat.Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Projects {
		c.Projects[i].Version = 1
	}
	for i := range c.Campaigns {
		c.Campaigns[i].Version = 1
	}
	for i := range c.Domains {
		c.Domains[i].Version = 1
	}
	return &memory{c: c}
}

// Campaign reads the current campaign, as the database would.
func (m *memory) Campaign(_ context.Context, id string) (catalog.Campaign, error) {
	for _, c := range m.c.Campaigns {
		if c.ID == id {
			return c, nil
		}
	}
	return catalog.Campaign{}, errors.New("not found")
}

// snapshot returns a deep enough copy: slices of values, histories copied
// on write by their methods.
func (m *memory) snapshot(*testing.T) (*catalog.Catalog, []catalog.Rotation) {
	c := &catalog.Catalog{
		Projects:        append([]catalog.ProjectRecord(nil), m.c.Projects...),
		Campaigns:       append([]catalog.Campaign(nil), m.c.Campaigns...),
		Domains:         append([]catalog.Domain(nil), m.c.Domains...),
		NetworkAccounts: append([]catalog.NetworkAccount(nil), m.c.NetworkAccounts...),
		EventMaps:       append([]catalog.EventMap(nil), m.c.EventMaps...),
	}
	return c, append([]catalog.Rotation(nil), m.rot...)
}

func (m *memory) campaign(t *testing.T, id string) *catalog.Campaign {
	for i := range m.c.Campaigns {
		if m.c.Campaigns[i].ID == id {
			return &m.c.Campaigns[i]
		}
	}
	t.Fatalf("no campaign %s", id)
	return nil
}

func (m *memory) setCampaign(t *testing.T, id string, from time.Time, spec catalog.CampaignSpec) {
	c := m.campaign(t, id)
	h, _ := catalog.NewHistory(c.Spec.Spans()...)
	if err := h.Set(from, spec); err != nil {
		t.Fatal(err)
	}
	c.Spec, c.Version = h, c.Version+1
}

func (m *memory) deleteCampaign(t *testing.T, id string, at time.Time) {
	c := m.campaign(t, id)
	h, _ := catalog.NewHistory(c.Spec.Spans()...)
	if err := h.End(at); err != nil {
		t.Fatal(err)
	}
	c.Spec, c.Version = h, c.Version+1
}

func (m *memory) rotateToken(t *testing.T, projectID, token string) {
	for i := range m.c.Projects {
		p := &m.c.Projects[i]
		if p.ID == projectID {
			m.rot = append(m.rot, catalog.Rotation{ProjectID: p.ID, Kind: catalog.KindToken,
				SHA256: catalog.HashSecret(p.Secrets.Token), RotatedAt: time.Now()})
			p.Secrets.Token, p.Version = token, p.Version+1
			return
		}
	}
	t.Fatalf("no project %s", projectID)
}

func embedded(t *testing.T) (*stream.Embedded, stream.Kafka) {
	t.Helper()
	broker, err := stream.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	kafka := stream.Kafka{Brokers: broker.Brokers()}
	var topics stream.Topics
	topics.List = []stream.Topic{{Name: "catalog", Cleanup: stream.CleanupCompact, Partitions: 3, Replication: 1}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	return broker, kafka
}

func TestPublishEmbedded(t *testing.T) {
	broker, kafka := embedded(t)
	id := idsFor("")
	runScenario(t, kafka, newMemory(t), id, func() {
		before := len(topicValues(t, kafka)["campaign:"+id.summer])
		broker.Cluster().Compact()
		after := len(topicValues(t, kafka)["campaign:"+id.summer])
		if before < 2 || after != 1 {
			t.Fatalf("compaction: %d records of campaign:%s before, %d after; want several, then 1", before, id.summer, after)
		}
	})
}

// TestEntriesCarryNoSecrets checks the encoding alone.
func TestEntriesCarryNoSecrets(t *testing.T) {
	m := newMemory(t)
	c, _ := m.snapshot(t)
	entries, err := publishEntries(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1+2+2+1+1+1 { // project, token+apikey, campaigns, domain, web key, display id (newsletter's)
		t.Fatalf("%d entries", len(entries))
	}
	for key, b := range entries {
		for _, s := range secretsOf(t, c) {
			if containsString(b, s) {
				t.Fatalf("%s carries %q", key, s)
			}
		}
	}
}

// testSealer seals signing secrets in the entries under test.
var testSealer, _ = catalog.NewSealer([]byte("0123456789abcdef0123456789abcdef"))

// Signing secrets travel sealed: the entry opens to the catalog's secrets
// with the catalog key, and carries enforce flags and key ids in clear.
func TestEntriesSealSigningSecrets(t *testing.T) {
	m := newMemory(t)
	c, _ := m.snapshot(t)
	entries, err := publish.Entries(c, horizon, time.Now(), publish.WithSealer(testSealer))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range c.Projects {
		e := entries["project:"+p.ID].Project
		for pl, sg := range p.Secrets.Signing {
			got := e.Signing[string(pl)]
			if got.Enforce != sg.Enforce || len(got.Keys) != len(sg.Keys) {
				t.Fatalf("%s %s: %+v, want %+v", p.ID, pl, got, sg)
			}
			for i, k := range sg.Keys {
				secret, err := testSealer.Open(got.Keys[i].Sealed, p.ID, k.KeyID)
				if err != nil || secret != k.Secret || got.Keys[i].KeyID != k.KeyID || got.Keys[i].Active != k.Active {
					t.Fatalf("%s %s key %s: %+v opens to %q (%v)", p.ID, pl, k.KeyID, got.Keys[i], secret, err)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("the test catalog has no signing key")
	}
	webChecked := 0
	for _, p := range c.Projects {
		e := entries["project:"+p.ID].Project
		if len(e.WebKeys) != len(p.Secrets.WebCollector.Keys) {
			t.Fatalf("%s: web keys %+v", p.ID, e.WebKeys)
		}
		for i, k := range p.Secrets.WebCollector.Keys {
			got := e.WebKeys[i]
			priv, err := testSealer.Open(got.Sealed, p.ID, catalog.WebKeySealID(k.KeyID))
			if err != nil || priv != k.PrivateKey || got.KeyID != k.KeyID || got.Active != k.Active {
				t.Fatalf("%s web key %s: %+v opens to %q (%v)", p.ID, k.KeyID, got, priv, err)
			}
			if _, err := testSealer.Open(got.Sealed, p.ID, k.KeyID); err == nil {
				t.Fatal("a web key opens as a signing key of the same id")
			}
			idx := entries["webkey:"+k.KeyID]
			if idx.Secret == nil || idx.Secret.ProjectID != p.ID || idx.Version != p.Version {
				t.Fatalf("webkey:%s entry %+v", k.KeyID, idx)
			}
			webChecked++
		}
	}
	if webChecked == 0 {
		t.Fatal("the test catalog has no web collector key")
	}
	// Without a catalog key, key ids and flags travel, secrets do not.
	plain, _ := publish.Entries(c, horizon, time.Now())
	for _, e := range plain {
		if e.Project == nil {
			continue
		}
		for _, k := range e.Project.WebKeys {
			if k.Sealed != "" || k.KeyID == "" {
				t.Fatalf("unsealed web key entry: %+v", k)
			}
		}
		for _, sg := range e.Project.Signing {
			for _, k := range sg.Keys {
				if k.Sealed != "" || k.KeyID == "" {
					t.Fatalf("unsealed entry: %+v", k)
				}
			}
		}
	}
}

func publishEntries(c *catalog.Catalog) (map[string][]byte, error) {
	entries, err := publish.Entries(c, horizon, time.Now(), publish.WithSealer(testSealer))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for k, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		out[k] = b
	}
	return out, nil
}

func containsString(b []byte, s string) bool { return strings.Contains(string(b), s) }

// A web collector key id that moves to a project of a lower version is
// re-pointed; an old snapshot whose project is stale cannot take it back.
func TestWebKeyMovesToAnotherProject(t *testing.T) {
	_, kafka := embedded(t)
	m := newMemory(t)
	c, rot := m.snapshot(t)
	demo := &c.Projects[0]
	kid := demo.Secrets.WebCollector.Keys[0].KeyID
	demo.Version = 5
	mustPublish(t, kafka, c, rot)

	moved, _ := m.snapshot(t)
	key := moved.Projects[0].Secrets.WebCollector.Keys[0]
	moved.Projects[0].Version = 6
	moved.Projects[0].Secrets.WebCollector.Keys = nil
	moved.Projects = append(moved.Projects, catalog.ProjectRecord{ID: "shop", Version: 1, Secrets: catalog.Secrets{
		Token: "shop-client-token-0123", ServerKey: "shop-server-key-0123", WebCollector: catalog.WebCollector{Keys: []catalog.WebKey{key}}}})
	res := mustPublish(t, kafka, moved, rot)
	if !has(res.Published, "webkey:"+kid) {
		t.Fatalf("the moved key id was not re-published: %+v", res)
	}
	owner := func() string {
		vals := topicValues(t, kafka)["webkey:"+kid]
		var e codecs.CatalogEntry
		if err := json.Unmarshal(vals[len(vals)-1], &e); err != nil || e.Secret == nil {
			t.Fatalf("webkey entry: %v", err)
		}
		return e.Secret.ProjectID
	}
	if got := owner(); got != "shop" {
		t.Fatalf("webkey:%s names %s", kid, got)
	}
	// the old snapshot (demo at version 5 < 6 on the topic) is stale
	res = mustPublish(t, kafka, c, rot)
	if has(res.Published, "webkey:"+kid) {
		t.Fatalf("a stale snapshot re-pointed the key id: %+v", res)
	}
	if got := owner(); got != "shop" {
		t.Fatalf("webkey:%s names %s after a stale publish", kid, got)
	}
}

// A display id released by a rename moves to a campaign of a lower
// version; a stale snapshot cannot take it back; a deleted campaign's
// display entry is tombstoned.
func TestDisplayIDMovesAndEnds(t *testing.T) {
	_, kafka := embedded(t)
	m := newMemory(t)
	news := m.campaign(t, "newsletter")
	news.Version = 5
	c, rot := m.snapshot(t)
	res := mustPublish(t, kafka, c, rot)
	if !has(res.Published, "display:news") || has(res.Published, "display:summer25") {
		t.Fatalf("first publish: %+v (summer-sale has ended: no display entry)", res.Published)
	}
	owner := func(key string) string {
		vals := topicValues(t, kafka)[key]
		if len(vals) == 0 || vals[len(vals)-1] == nil {
			return ""
		}
		var e codecs.CatalogEntry
		if err := json.Unmarshal(vals[len(vals)-1], &e); err != nil || e.Display == nil {
			t.Fatalf("%s: %v %+v", key, err, e)
		}
		return e.Display.CampaignID
	}
	if got := owner("display:news"); got != "newsletter" {
		t.Fatalf("display:news names %q", got)
	}
	if res := mustPublish(t, kafka, c, rot); !has(res.Unchanged, "display:news") {
		t.Fatalf("same snapshot again: %+v", res)
	}

	// newsletter (v6) releases "news", summer-sale (v2) takes it
	spec, _ := news.Spec.Current()
	spec.DisplayID = "letters"
	m.setCampaign(t, "newsletter", changeAt, spec)
	summer, _ := m.campaign(t, "summer-sale").Spec.At(extended)
	summer.DisplayID = "news"
	m.setCampaign(t, "summer-sale", changeAt, summer)
	moved, rot := m.snapshot(t)
	res = mustPublish(t, kafka, moved, rot)
	if !has(res.Published, "display:news") || !has(res.Published, "display:letters") {
		t.Fatalf("takeover: %+v", res)
	}
	if owner("display:news") != "summer-sale" || owner("display:letters") != "newsletter" {
		t.Fatalf("after the takeover: news → %q, letters → %q", owner("display:news"), owner("display:letters"))
	}

	// the old snapshot (newsletter v5 < v6 on the topic) is stale
	res = mustPublish(t, kafka, c, rot)
	if has(res.Published, "display:news") || has(res.Tombstoned, "display:letters") {
		t.Fatalf("a stale snapshot moved a display id: %+v", res)
	}
	if owner("display:news") != "summer-sale" || owner("display:letters") != "newsletter" {
		t.Fatal("a stale snapshot changed the display entries")
	}

	// deleting summer-sale removes its display entry
	m.deleteCampaign(t, "summer-sale", deletedAt)
	gone, rot := m.snapshot(t)
	res = mustPublish(t, kafka, gone, rot)
	if !has(res.Tombstoned, "display:news") || has(res.Tombstoned, "display:letters") {
		t.Fatalf("delete: %+v", res)
	}
	if got := owner("display:news"); got != "" {
		t.Fatalf("display:news still names %q", got)
	}
	// and a stale snapshot that still has it cannot bring it back
	if res := mustPublish(t, kafka, moved, rot); has(res.Published, "display:news") {
		t.Fatalf("a stale snapshot revived a deleted campaign's display id: %+v", res)
	}
}
