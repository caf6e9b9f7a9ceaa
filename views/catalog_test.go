package views

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

// The gateway resolves tokens through this interface.
var _ interface {
	ProjectByToken(string) (catalog.Project, bool)
} = (*Catalog)(nil)

func TestCatalogNotReady(t *testing.T) {
	var c Catalog
	if c.Ready() {
		t.Fatal("ready without a view")
	}
	if _, ok := c.ProjectByToken("t"); ok {
		t.Fatal("resolved a token without a view")
	}
	if _, _, err := c.LookupToken("t"); !errors.Is(err, stream.ErrNotReady) {
		t.Fatalf("LookupToken: %v", err)
	}
	if _, _, _, err := c.CampaignAt("c", time.Now()); !errors.Is(err, stream.ErrNotReady) {
		t.Fatalf("CampaignAt: %v", err)
	}
}

// Hand-written records: a token whose project is missing is not resolved,
// a value that does not decode is an error of that lookup only, and an
// empty token never matches.
func TestCatalogRecords(t *testing.T) {
	kafka, producer := catalogTopic(t)
	orphan, known := catalog.HashSecret("orphan-token"), catalog.HashSecret("known-token")
	for key, value := range map[string]string{
		"token:" + orphan:  `{"kind":"token","id":"` + orphan + `","version":1,"published_at":"2026-01-01T00:00:00Z","secret":{"project_id":"gone","kind":"token"}}`,
		"token:" + known:   `{"kind":"token","id":"` + known + `","version":1,"published_at":"2026-01-01T00:00:00Z","secret":{"project_id":"p","kind":"token"}}`,
		"project:p":        `{"kind":"project","id":"p","version":1,"published_at":"2026-01-01T00:00:00Z","project":{"id":"p","name":"P","settings":{"reporting_currency":[{"from":"2026-01-01T00:00:00Z","value":"EUR"}]}}}`,
		"campaign:broken":  `{"kind":"campaign",`,
		"campaign:badspan": `{"kind":"campaign","id":"badspan","version":1,"published_at":"2026-01-01T00:00:00Z","campaign":{"id":"badspan","project_id":"p","spec":[{"from":"2026-02-01T00:00:00Z","until":"2026-01-01T00:00:00Z","value":{}}]}}`,
	} {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: CatalogTopic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatal(err)
		}
	}

	var c Catalog
	runCatalogView(t, kafka, &c, "catalog-test")
	poll.Until(t, 30*time.Second, "known token", func() bool { _, ok := c.ProjectByToken("known-token"); return ok })

	if p, _ := c.ProjectByToken("known-token"); p.ID != "p" || p.Name != "P" || p.Token != "" || p.Signing != nil {
		t.Fatalf("project %+v", p)
	}
	if _, ok, err := c.LookupToken("orphan-token"); ok || err != nil {
		t.Fatalf("orphan token: %v %v", ok, err)
	}
	if _, ok := c.ProjectByToken(""); ok {
		t.Fatal("empty token resolved")
	}
	if _, _, _, err := c.CampaignAt("broken", time.Now()); err == nil {
		t.Fatal("broken value: no error")
	}
	if _, _, _, err := c.CampaignAt("badspan", time.Now()); err == nil {
		t.Fatal("overlapping spans: no error")
	}
	if _, _, ok, err := c.CampaignAt("missing", time.Now()); ok || err != nil {
		t.Fatalf("missing campaign: %v %v", ok, err)
	}
	e, ok, err := c.ProjectSettingsAt("p", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || !ok || e.Currency != "EUR" {
		t.Fatalf("settings in March: %+v %v %v", e, ok, err)
	}
	e, _, _ = c.ProjectSettingsAt("p", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	if e.Currency != catalog.DefaultCurrency {
		t.Fatalf("settings before the span: currency %q, want the default", e.Currency)
	}
	if _, ok, err := c.DomainAt("nowhere.example", time.Now()); ok || err != nil {
		t.Fatalf("missing domain: %v %v", ok, err)
	}
}

// Display ids: the display entry names the campaign, whose own spec in
// force must carry the id; an entry that outlived its campaign's delete or
// rename, or names no campaign, resolves nothing.
func TestCatalogDisplayIDs(t *testing.T) {
	kafka, producer := catalogTopic(t)
	campaign := func(id, spec string) string {
		return `{"kind":"campaign","id":"` + id + `","version":2,"published_at":"2026-01-01T00:00:00Z","campaign":{"id":"` + id + `","project_id":"p","spec":` + spec + `}}`
	}
	display := func(id, campaignID string) string {
		return `{"kind":"display","id":"` + id + `","version":2,"published_at":"2026-01-01T00:00:00Z","display":{"campaign_id":"` + campaignID + `","project_id":"p"}}`
	}
	for key, value := range map[string]string{
		"campaign:live":    campaign("live", `[{"from":"2026-01-01T00:00:00Z","value":{"name":"Live","display_id":"x","desktop_url":"https://p.example/"}}]`),
		"campaign:deleted": campaign("deleted", `[{"from":"2026-01-01T00:00:00Z","until":"2026-03-01T00:00:00Z","value":{"name":"Gone","display_id":"gone"}}]`),
		"campaign:renamed": campaign("renamed", `[{"from":"2026-01-01T00:00:00Z","until":"2026-03-01T00:00:00Z","value":{"name":"R","display_id":"old"}},{"from":"2026-03-01T00:00:00Z","value":{"name":"R","display_id":"new"}}]`),
		"display:x":        display("x", "live"),
		"display:gone":     display("gone", "deleted"),
		"display:old":      display("old", "renamed"),
		"display:new":      display("new", "renamed"),
		"display:orphan":   display("orphan", "missing"),
	} {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: CatalogTopic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatal(err)
		}
	}
	var c Catalog
	runCatalogView(t, kafka, &c, "catalog-test")
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	poll.Until(t, 30*time.Second, "display x", func() bool { _, _, _, ok, _ := c.CampaignByDisplayIDAt("x", april); return ok })

	for _, tc := range []struct {
		display string
		at      time.Time
		want    string // campaign id, "" for none
	}{
		{"x", april, "live"},
		{"x", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), ""}, // before the campaign existed
		{"gone", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "deleted"},
		{"gone", april, ""}, // after its delete
		{"old", april, ""},  // released by a rename
		{"new", april, "renamed"},
		{"orphan", april, ""},
		{"missing", april, ""},
		{"", april, ""},
	} {
		id, pid, spec, ok, err := c.CampaignByDisplayIDAt(tc.display, tc.at)
		if err != nil || id != tc.want || ok != (tc.want != "") {
			t.Errorf("%q at %s: %q %v %v, want %q", tc.display, tc.at.Format(time.DateOnly), id, ok, err, tc.want)
		}
		if ok && (pid != "p" || spec.DisplayID != tc.display) {
			t.Errorf("%q: project %q spec %+v", tc.display, pid, spec)
		}
	}
	if pid, h, ok, err := c.CampaignHistory("renamed"); err != nil || !ok || pid != "p" || h.Len() != 2 {
		t.Fatalf("history: %q %d %v %v", pid, h.Len(), ok, err)
	}
}

// catalogTopic starts an embedded broker with the catalog topic and
// returns it with a producer partitioning as goka does.
func catalogTopic(t *testing.T) (stream.Kafka, sarama.SyncProducer) {
	t.Helper()
	broker, err := stream.StartEmbedded("", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	kafka := stream.Kafka{Brokers: broker.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var topics stream.Topics
	topics.List = []stream.Topic{{Name: CatalogTopic, Cleanup: stream.CleanupCompact, Partitions: 2, Replication: 1}}
	if err := kafka.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(kafka.Brokers, kafka.ProducerConfig("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { producer.Close() })
	return kafka, producer
}

// runCatalogView runs c's view under a supervisor until the test ends.
func runCatalogView(t *testing.T, kafka stream.Kafka, c *Catalog, name string) {
	t.Helper()
	// The directory is made first, so it is removed after the view stopped.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = stream.NewSupervisor(nil).Run(ctx, c.Component(kafka.Brokers, kafka.ViewOptions(name, pebblestore.NewBuilder(dir), 1)...))
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// Lookups are served from decoded forms, which the view's update
// callback evicts: a new value of a key, and its tombstone, are seen.
func TestCatalogSeesUpdatesThroughItsCache(t *testing.T) {
	kafka, producer := catalogTopic(t)
	send := func(key string, value sarama.Encoder) {
		t.Helper()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: CatalogTopic, Key: sarama.StringEncoder(key), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	campaign := func(name string) sarama.Encoder {
		return sarama.StringEncoder(`{"kind":"campaign","id":"c","version":1,"published_at":"2026-01-01T00:00:00Z","campaign":{"id":"c","project_id":"p","spec":[{"from":"2026-01-01T00:00:00Z","value":{"name":"` + name + `"}}]}}`)
	}
	token := catalog.HashSecret("a-token")
	send("campaign:c", campaign("first"))
	send("project:p", sarama.StringEncoder(`{"kind":"project","id":"p","version":1,"published_at":"2026-01-01T00:00:00Z","project":{"id":"p","name":"P"}}`))
	send("token:"+token, sarama.StringEncoder(`{"kind":"token","id":"`+token+`","version":1,"published_at":"2026-01-01T00:00:00Z","secret":{"project_id":"p","kind":"token"}}`))

	var c Catalog
	runCatalogView(t, kafka, &c, "catalog-cache-test")
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	name := func() string { _, spec, _, _ := c.CampaignAt("c", at); return spec.Name }
	poll.Until(t, 30*time.Second, "the first spec", func() bool { return name() == "first" })
	poll.Until(t, 30*time.Second, "the token", func() bool { _, ok := c.ProjectByToken("a-token"); return ok })

	send("campaign:c", campaign("second"))
	send("token:"+token, nil)
	poll.Until(t, 30*time.Second, "the second spec", func() bool { return name() == "second" })
	poll.Until(t, 30*time.Second, "the token's tombstone", func() bool { _, ok := c.ProjectByToken("a-token"); return !ok })
}
