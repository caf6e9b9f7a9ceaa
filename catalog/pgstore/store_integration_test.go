//go:build integration

package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore/pgtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
)

const demoPath = "../../testdata/catalog/demo.yaml"

// jsonOf is the comparable form of catalog values (History keeps its
// spans unexported).
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedByKey(c *catalog.Catalog) {
	slices.SortFunc(c.Projects, func(a, b catalog.ProjectRecord) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(c.Campaigns, func(a, b catalog.Campaign) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(c.Domains, func(a, b catalog.Domain) int { return strings.Compare(a.Host, b.Host) })
	slices.SortFunc(c.NetworkAccounts, func(a, b catalog.NetworkAccount) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(c.EventMaps, func(a, b catalog.EventMap) int { return strings.Compare(a.ID(), b.ID()) })
}

func setVersions(c *catalog.Catalog, v int64) {
	for i := range c.Projects {
		c.Projects[i].Version = v
	}
	for i := range c.Campaigns {
		c.Campaigns[i].Version = v
	}
	for i := range c.Domains {
		c.Domains[i].Version = v
	}
	for i := range c.NetworkAccounts {
		c.NetworkAccounts[i].Version = v
	}
	for i := range c.EventMaps {
		c.EventMaps[i].Version = v
	}
}

func TestCatalogPostgresServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := pgtest.NewDatabase(t)

	// Migrate from empty, twice.
	applied, err := pgstore.Migrate(ctx, url)
	if err != nil || len(applied) == 0 {
		t.Fatalf("first migrate: %v %v", applied, err)
	}
	if applied, err := pgstore.Migrate(ctx, url); err != nil || len(applied) != 0 {
		t.Fatalf("second migrate: %v %v", applied, err)
	}

	store, err := pgstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// Seed the demo; what reads back equals the file, every entity at version 1.
	want, err := yamlcat.Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Seed(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if res != (pgstore.SeedResult{Written: 8}) {
		t.Errorf("first seed: %+v", res)
	}
	got, err := store.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sortedByKey(want)
	setVersions(want, 1)
	if d := cmp.Diff(jsonOf(t, want), jsonOf(t, got)); d != "" {
		t.Fatalf("read back (-yaml +postgres):\n%s", d)
	}
	if err := got.Build(); err != nil {
		t.Fatalf("read-back catalog does not build: %v", err)
	}

	// Seeding the same file again changes nothing.
	again, _ := yamlcat.Load(demoPath)
	if res, err := store.Seed(ctx, again); err != nil || res != (pgstore.SeedResult{Unchanged: 8}) {
		t.Errorf("second seed: %+v %v", res, err)
	}
	if p, _ := store.Project(ctx, "demo"); p.Version != 1 {
		t.Errorf("project version after a second seed: %d", p.Version)
	}

	day := func(s string) time.Time {
		tm, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}

	// Update a campaign: the version goes up and the history gains a span.
	news, err := store.Campaign(ctx, "newsletter")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := news.Spec.Current()
	spec.Name, spec.DisplayID = "Newsletter (autumn)", "autumn"
	upd, err := store.SetCampaignSpec(ctx, "newsletter", day("2025-10-01"), spec)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Version != 2 || upd.Spec.Len() != 2 {
		t.Errorf("after update: version %d, %d spans", upd.Version, upd.Spec.Len())
	}
	if s, _ := upd.Spec.At(day("2025-09-30")); s.Name != "Newsletter" {
		t.Errorf("spec before the update: %+v", s)
	}
	if c, err := store.CampaignByDisplayID(ctx, "autumn"); err != nil || c.ID != "newsletter" || c.Version != 2 {
		t.Errorf("by new display id: %+v %v", c, err)
	}
	if _, err := store.CampaignByDisplayID(ctx, "news"); !errors.Is(err, pgstore.ErrNotFound) {
		t.Errorf("old display id: %v", err)
	}
	// The same update again is a no-op.
	if c, err := store.SetCampaignSpec(ctx, "newsletter", day("2025-10-01"), spec); err != nil || c.Version != 2 {
		t.Errorf("repeated update: version %d %v", c.Version, err)
	}

	// Delete: an end date, the campaign stays.
	del, err := store.DeleteCampaign(ctx, "newsletter", day("2025-11-01"))
	if err != nil {
		t.Fatal(err)
	}
	if del.Version != 3 {
		t.Errorf("after delete: version %d", del.Version)
	}
	stored, err := store.Campaign(ctx, "newsletter")
	if err != nil {
		t.Fatalf("deleted campaign is gone: %v", err)
	}
	spans := stored.Spec.Spans()
	if last := spans[len(spans)-1]; !last.Until.Equal(day("2025-11-01")) {
		t.Errorf("end date %v", last.Until)
	}
	if _, ok := stored.Spec.At(day("2025-11-01")); ok {
		t.Error("value after the end date")
	}
	if _, err := store.CampaignByDisplayID(ctx, "autumn"); !errors.Is(err, pgstore.ErrNotFound) {
		t.Errorf("deleted campaign by display id: %v", err)
	}
	if c, err := store.DeleteCampaign(ctx, "newsletter", day("2025-12-01")); err != nil || c.Version != 3 {
		t.Errorf("deleting twice: version %d %v", c.Version, err)
	}

	// Domains and event maps: set and end.
	d, err := store.SetDomainSpec(ctx, "go2.demo.example", day("2025-01-01"), catalog.DomainSpec{ProjectID: "demo"})
	if err != nil || d.Version != 1 {
		t.Fatalf("new domain: %+v %v", d, err)
	}
	if d, err = store.DeleteDomain(ctx, "go2.demo.example", day("2025-02-01")); err != nil || d.Version != 2 {
		t.Errorf("domain delete: %+v %v", d, err)
	}
	m, err := store.SetEventMap(ctx, "demo", "GOOGLE", day("2025-08-01"), map[string]string{"purchase": "ecommerce_purchase"})
	if err != nil || m.Version != 2 || m.Events.Len() != 2 {
		t.Errorf("event map update: %+v %v", m, err)
	}
	if m, err = store.DeleteEventMap(ctx, "demo", "GOOGLE", day("2025-09-01")); err != nil || m.Version != 3 {
		t.Errorf("event map delete: %+v %v", m, err)
	}
	if _, err := store.SetEventMap(ctx, "nope", "GOOGLE", day("2025-08-01"), map[string]string{"a": "b"}); err == nil {
		t.Error("event map of a missing project accepted")
	}
	if err := store.DeleteNetworkAccount(ctx, "demo-google"); err != nil {
		t.Error(err)
	}
	if _, err := store.NetworkAccount(ctx, "demo-google"); !errors.Is(err, pgstore.ErrNotFound) {
		t.Errorf("deleted account: %v", err)
	}

	// Rotate the token and the server key: the old hashes are recorded.
	before, _ := store.Project(ctx, "demo")
	p, err := store.RotateToken(ctx, "demo", "rotated-client-token-0001")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != before.Version+1 || p.Secrets.Token != "rotated-client-token-0001" {
		t.Errorf("after rotation: %d %q", p.Version, p.Secrets.Token)
	}
	if _, err := store.RotateServerKey(ctx, "demo", "rotated-server-key-0001"); err != nil {
		t.Fatal(err)
	}
	rot, err := store.Rotations(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	wantRot := map[catalog.Kind]string{
		catalog.KindToken:     catalog.HashSecret(before.Secrets.Token),
		catalog.KindServerKey: catalog.HashSecret(before.Secrets.ServerKey),
	}
	if len(rot) != 2 {
		t.Fatalf("rotations: %+v", rot)
	}
	for _, r := range rot {
		if wantRot[r.Kind] != r.SHA256 || r.ProjectID != "demo" || r.RotatedAt.IsZero() {
			t.Errorf("rotation %+v", r)
		}
	}
	if _, err := store.RotateToken(ctx, "demo", "short"); err == nil {
		t.Error("invalid token accepted")
	}

	// A settings change through UpdateProject: dated, version bumped; a
	// no-op update keeps the version.
	p, err = store.UpdateProject(ctx, "demo", func(p *catalog.ProjectRecord) error {
		return p.Settings.Reengagement.Set(day("2025-10-01"), catalog.Duration(14*catalog.Day))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Settings.At(day("2025-09-30")).Reengagement; got != catalog.Duration(30*catalog.Day) {
		t.Errorf("reengagement before: %s", got)
	}
	if got := p.Settings.At(day("2025-10-01")).Reengagement; got != catalog.Duration(14*catalog.Day) {
		t.Errorf("reengagement after: %s", got)
	}
	if q, err := store.UpdateProject(ctx, "demo", func(*catalog.ProjectRecord) error { return nil }); err != nil || q.Version != p.Version {
		t.Errorf("no-op update: %d → %d %v", p.Version, q.Version, err)
	}
	if _, err := store.UpdateCampaign(ctx, "ghost", func(*catalog.Campaign) error { return nil }); !errors.Is(err, pgstore.ErrNotFound) {
		t.Errorf("update of a missing campaign: %v", err)
	}
	if _, err := store.PutCampaign(ctx, catalog.Campaign{ID: "orphan", ProjectID: "ghost",
		Spec: catalog.Always(catalog.CampaignSpec{Name: "x", DisplayID: "orphan"})}); err == nil {
		t.Error("campaign of a missing project accepted")
	}
}

// Seed runs in one transaction: a bad entity leaves nothing behind.
func TestCatalogSeedAtomicServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := migratedStore(ctx, t)
	c, err := yamlcat.Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	c.Campaigns = append(c.Campaigns, catalog.Campaign{ID: "orphan", ProjectID: "ghost",
		Spec: catalog.Always(catalog.CampaignSpec{Name: "x", DisplayID: "orphan"})})
	if _, err := store.Seed(ctx, c); err == nil {
		t.Fatal("seed with a campaign of a missing project succeeded")
	}
	got, err := store.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Projects)+len(got.Campaigns) != 0 {
		t.Errorf("a failed seed left %d projects, %d campaigns", len(got.Projects), len(got.Campaigns))
	}
}

// Web collector keys are stored with their project and their ids are
// unique across projects; a key id a project gives up is free again.
func TestWebCollectorKeysServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := migratedStore(ctx, t)
	demo, err := yamlcat.Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Seed(ctx, demo); err != nil {
		t.Fatal(err)
	}
	p, err := store.Project(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	keys := p.Secrets.WebCollector.Keys
	if len(keys) != 1 || keys[0].KeyID != "demo-web-2026" || !keys[0].Active || keys[0].PrivateKey == "" {
		t.Fatalf("web keys read back: %+v", keys)
	}

	other := catalog.ProjectRecord{ID: "other", Secrets: catalog.Secrets{Token: "other-client-token-0123", ServerKey: "other-server-key-0123",
		WebCollector: catalog.WebCollector{Keys: []catalog.WebKey{{KeyID: "demo-web-2026", PrivateKey: keys[0].PrivateKey, Active: true}}}}}
	if _, err := store.PutProject(ctx, other); !errors.Is(err, pgstore.ErrWebKeyTaken) {
		t.Fatalf("another project took demo's key id: %v", err)
	}
	if _, err := store.Project(ctx, "other"); !errors.Is(err, pgstore.ErrNotFound) {
		t.Fatalf("the refused project was stored: %v", err)
	}

	// demo rotates to a new key id; the old one is free for another project.
	rotated, err := store.UpdateProject(ctx, "demo", func(p *catalog.ProjectRecord) error {
		p.Secrets.WebCollector.Keys[0].KeyID = "demo-web-2027"
		return nil
	})
	if err != nil || rotated.Version != 2 || rotated.Secrets.WebCollector.Keys[0].KeyID != "demo-web-2027" {
		t.Fatalf("rotate: %+v %v", rotated.Secrets.WebCollector, err)
	}
	if _, err := store.PutProject(ctx, other); err != nil {
		t.Fatalf("the freed key id: %v", err)
	}
	if _, err := store.UpdateProject(ctx, "demo", func(p *catalog.ProjectRecord) error {
		p.Secrets.WebCollector.Keys[0].KeyID = "demo-web-2026"
		return nil
	}); !errors.Is(err, pgstore.ErrWebKeyTaken) {
		t.Fatalf("demo took back a key id another project holds: %v", err)
	}

	// A bad private key is refused by validation.
	if _, err := store.UpdateProject(ctx, "demo", func(p *catalog.ProjectRecord) error {
		p.Secrets.WebCollector.Keys[0].PrivateKey = "not-a-key"
		return nil
	}); err == nil || !strings.Contains(err.Error(), "web_collector.keys[0].private_key") {
		t.Fatalf("bad private key: %v", err)
	}
	c, err := store.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Build(); err != nil {
		t.Fatal(err)
	}
	if p, ok := c.ProjectByWebKey("demo-web-2026"); !ok || p.ID != "other" {
		t.Fatalf("demo-web-2026 → %+v %v", p, ok)
	}
	if p, ok := c.ProjectByWebKey("demo-web-2027"); !ok || p.ID != "demo" || len(p.WebKeys) != 1 {
		t.Fatalf("demo-web-2027 → %+v %v", p, ok)
	}
}

// migratedStore opens a store on a new, migrated database, closed when the
// test ends.
func migratedStore(ctx context.Context, t *testing.T) *pgstore.Store {
	t.Helper()
	url := pgtest.NewDatabase(t)
	if _, err := pgstore.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return store
}
