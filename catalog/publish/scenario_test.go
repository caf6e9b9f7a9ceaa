package publish_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
	"github.com/hazelnut-mmp/hazelnut/views"
)

const demoPath = "../../testdata/catalog/demo.yaml"

var (
	horizon   = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	extended  = time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC) // summer-sale's "extended" span
	changeAt  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // summer-sale becomes "Winter sale"
	deletedAt = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) // newsletter ends
)

// source is where the scenario's catalog lives: in memory or in Postgres.
type source interface {
	views.CampaignSource
	snapshot(t *testing.T) (*catalog.Catalog, []catalog.Rotation)
	setCampaign(t *testing.T, id string, from time.Time, spec catalog.CampaignSpec)
	deleteCampaign(t *testing.T, id string, at time.Time)
	rotateToken(t *testing.T, projectID, token string)
}

// ids are the scenario's entity ids (suffixed per run on a shared broker).
type ids struct {
	project, summer, newsletter, host, token string
}

func idsFor(sfx string) ids {
	return ids{project: "demo" + sfx, summer: "summer-sale" + sfx, newsletter: "newsletter" + sfx,
		host: "go" + sfx + ".demo.example", token: "demo-client-token-0123456789" + sfx}
}

// secretsOf lists the plaintext of every secret and credential of c.
func secretsOf(t *testing.T, c *catalog.Catalog) []string {
	t.Helper()
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= 6 {
				out = append(out, v)
			}
		case map[string]any:
			for k, x := range v {
				if k != "key_id" { // key ids travel in clear in request headers
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	add := func(x any) {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		walk(v)
	}
	for _, p := range c.Projects {
		add(p.Secrets)
	}
	for _, a := range c.NetworkAccounts {
		add(a.Credentials)
	}
	return out
}

// topicValues reads every record of the catalog topic (key → values).
func topicValues(t *testing.T, kafka stream.Kafka) map[string][][]byte {
	t.Helper()
	client, err := sarama.NewClient(kafka.Brokers, kafka.Sarama(kafka.ClientID("catalog-scan")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(publish.Topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, p := range parts {
		hwm, err := client.GetOffset(publish.Topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		oldest, err := client.GetOffset(publish.Topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		if hwm <= oldest {
			continue
		}
		pc, err := consumer.ConsumePartition(publish.Topic, p, oldest)
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(30 * time.Second)
	read:
		for {
			select {
			case m := <-pc.Messages():
				out[string(m.Key)] = append(out[string(m.Key)], m.Value)
				if m.Offset >= hwm-1 {
					break read
				}
			case <-timeout:
				t.Fatalf("partition %d: timed out reading to %d", p, hwm)
			}
		}
		pc.Close()
	}
	return out
}

// reader is one running catalog view.
type reader struct {
	name string
	cat  *views.Catalog
	stop func()
}

func startReader(t *testing.T, kafka stream.Kafka, name string, extra ...goka.ViewOption) *reader {
	t.Helper()
	cat := &views.Catalog{}
	tables := pebblestore.NewBuilder(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	opts := append(kafka.ViewOptions(name, tables, 1), extra...)
	go func() {
		defer close(done)
		_ = stream.NewSupervisor(nil).Run(ctx, cat.Component(kafka.Brokers, opts...))
	}()
	r := &reader{name: name, cat: cat, stop: func() { cancel(); <-done }}
	t.Cleanup(r.stop)
	poll.Until(t, 60*time.Second, name+" recovered", func() bool {
		return cat.Ready()
	})
	return r
}

// eventually waits until every reader satisfies cond.
func eventually(t *testing.T, what string, rs []*reader, cond func(*views.Catalog) (bool, error)) {
	t.Helper()
	for _, r := range rs {
		var last error
		poll.Until(t, 30*time.Second, r.name+": "+what, func() bool {
			ok, err := cond(r.cat)
			last = err
			return ok && err == nil
		})
		if last != nil {
			t.Fatalf("%s: %s: %v", r.name, what, last)
		}
	}
}

func campaignName(c *views.Catalog, id string, at time.Time) (string, bool, error) {
	_, spec, ok, err := c.CampaignAt(id, at)
	return spec.Name, ok, err
}

func mustPublish(t *testing.T, kafka stream.Kafka, c *catalog.Catalog, rot []catalog.Rotation) publish.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := publish.Publish(ctx, kafka, c, rot, horizon)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("publish in %s: %d published, %d unchanged, %d stale, %d tombstoned",
		time.Since(start).Round(time.Millisecond), len(res.Published), len(res.Unchanged), len(res.Stale), len(res.Tombstoned))
	return res
}

func has(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

// runScenario publishes, changes, deletes, rotates and re-publishes a
// stale snapshot, checking two independent readers after every step.
// compact, when set, compacts the topic before the last check.
func runScenario(t *testing.T, kafka stream.Kafka, src source, id ids, compact func()) {
	first, rot := src.snapshot(t)
	secrets := secretsOf(t, first)
	res := mustPublish(t, kafka, first, rot)
	tokenKey := publish.Key("token", catalog.HashSecret(id.token))
	for _, k := range []string{"project:" + id.project, "campaign:" + id.summer, "campaign:" + id.newsletter, "domain:" + id.host, tokenKey} {
		if !has(res.Published, k) {
			t.Fatalf("first publish did not write %s: %+v", k, res)
		}
	}
	if again := mustPublish(t, kafka, first, rot); len(again.Published) != 0 || len(again.Stale) != 0 {
		t.Fatalf("re-publishing the same snapshot wrote %v, stale %v", again.Published, again.Stale)
	}

	rs := []*reader{startReader(t, kafka, "catalog-a"), startReader(t, kafka, "catalog-b")}
	eventually(t, "project by token", rs, func(c *views.Catalog) (bool, error) {
		p, ok, err := c.LookupToken(id.token)
		return ok && p.ID == id.project && p.Name == "Demo app" && p.Token == "", err
	})
	eventually(t, "settings and domain", rs, func(c *views.Catalog) (bool, error) {
		e, ok, err := c.ProjectSettingsAt(id.project, extended)
		if !ok || err != nil {
			return false, err
		}
		d, ok2, err := c.DomainAt(id.host, extended)
		return e.Currency != "" && ok2 && d.ProjectID == id.project && d.DefaultCampaign == id.newsletter, err
	})
	eventually(t, "summer-sale extended", rs, func(c *views.Catalog) (bool, error) {
		n, ok, err := campaignName(c, id.summer, extended)
		return ok && n == "Summer sale (extended)", err
	})

	// The campaign cache of a gateway: filled from the database, evicted
	// when the catalog topic carries a new entry for a campaign.
	campaigns := views.NewCampaigns(src, 100)
	startReader(t, kafka, "catalog-cache", goka.WithViewCallback(campaigns.UpdateCallback()))
	cachedName := func(at time.Time) string {
		spec, _, err := campaigns.At(context.Background(), id.summer, at)
		if err != nil {
			t.Fatal(err)
		}
		return spec.Name
	}
	if n := cachedName(extended); n != "Summer sale (extended)" || !campaigns.Cached(id.summer) {
		t.Fatalf("cache: %q cached=%v", n, campaigns.Cached(id.summer))
	}

	// Change a campaign.
	spec := catalog.CampaignSpec{Name: "Winter sale", DisplayID: "winter" + id.summer, Network: catalog.NetworkMeta}
	src.setCampaign(t, id.summer, changeAt, spec)
	if n := cachedName(changeAt.Add(time.Hour)); n == "Winter sale" {
		t.Fatal("the cache read the database although nothing was published")
	}
	c2, rot2 := src.snapshot(t)
	if res := mustPublish(t, kafka, c2, rot2); !has(res.Published, "campaign:"+id.summer) || has(res.Published, "campaign:"+id.newsletter) {
		t.Fatalf("campaign change: %+v", res)
	}
	poll.Until(t, 30*time.Second, "the published change to evict the cached campaign", func() bool { return !campaigns.Cached(id.summer) })
	if n := cachedName(changeAt.Add(time.Hour)); n != "Winter sale" {
		t.Fatalf("cache after the change: %q", n)
	}
	eventually(t, "winter sale after the change, extended before it", rs, func(c *views.Catalog) (bool, error) {
		n, ok, err := campaignName(c, id.summer, changeAt.Add(time.Hour))
		if !ok || n != "Winter sale" || err != nil {
			return false, err
		}
		n, ok, err = campaignName(c, id.summer, extended)
		return ok && n == "Summer sale (extended)", err
	})

	// Delete a campaign.
	src.deleteCampaign(t, id.newsletter, deletedAt)
	c3, rot3 := src.snapshot(t)
	mustPublish(t, kafka, c3, rot3)
	eventually(t, "newsletter gone after its end, there before", rs, func(c *views.Catalog) (bool, error) {
		_, after, err := campaignName(c, id.newsletter, deletedAt.Add(time.Second))
		if after || err != nil {
			return false, err
		}
		n, before, err := campaignName(c, id.newsletter, deletedAt.Add(-time.Second))
		return before && n == "Newsletter", err
	})

	// Rotate the token.
	newToken := id.token + "-rotated"
	src.rotateToken(t, id.project, newToken)
	c4, rot4 := src.snapshot(t)
	secrets = append(secrets, newToken)
	res = mustPublish(t, kafka, c4, rot4)
	if len(res.Tombstoned) != 1 || res.Tombstoned[0] != tokenKey {
		t.Fatalf("rotation tombstoned %v, want [%s]", res.Tombstoned, tokenKey)
	}
	eventually(t, "old token gone, new token works", rs, func(c *views.Catalog) (bool, error) {
		_, old, err := c.LookupToken(id.token)
		if old || err != nil {
			return false, err
		}
		p, ok := c.ProjectByToken(newToken)
		return ok && p.ID == id.project && p.Name == "Demo app", nil
	})

	// Restart: stop the readers, publish the first (older) snapshot again.
	for _, r := range rs {
		r.stop()
	}
	res = mustPublish(t, kafka, first, nil)
	for _, k := range res.Published {
		if strings.Contains(k, id.project) || strings.Contains(k, id.summer) || strings.Contains(k, id.newsletter) || k == tokenKey {
			t.Fatalf("stale snapshot wrote %s: %+v", k, res)
		}
	}
	for _, k := range []string{"project:" + id.project, "campaign:" + id.summer, "campaign:" + id.newsletter, tokenKey} {
		found := false
		for _, s := range res.Stale {
			found = found || s.Key == k
		}
		if !found {
			t.Fatalf("stale snapshot: %s not reported stale: %+v", k, res.Stale)
		}
	}
	newer := func(c *views.Catalog) (bool, error) {
		n, ok, err := campaignName(c, id.summer, changeAt.Add(time.Hour))
		if !ok || n != "Winter sale" || err != nil {
			return false, err
		}
		if n, ok, err = campaignName(c, id.summer, extended); !ok || n != "Summer sale (extended)" || err != nil {
			return false, err
		}
		_, old, err := c.LookupToken(id.token)
		return !old, err
	}
	rs = []*reader{startReader(t, kafka, "catalog-c"), startReader(t, kafka, "catalog-d")}
	eventually(t, "newer catalog after a stale re-publish", rs, newer)

	// No value ever carried a secret.
	for key, values := range topicValues(t, kafka) {
		for _, v := range values {
			for _, s := range secrets {
				if strings.Contains(string(v), s) {
					t.Fatalf("value of %s carries a secret (%q): %s", key, s, v)
				}
			}
		}
	}

	if compact != nil {
		compact()
		fresh := []*reader{startReader(t, kafka, "catalog-e")}
		eventually(t, "as-of lookups after compaction", fresh, newer)
	}
}
