//go:build integration

package publish_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore/pgtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish/publishtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// postgres is the scenario's catalog in PostgreSQL, written through the
// store as the admin tools do.
type postgres struct{ store *pgstore.Store }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (p postgres) Campaign(ctx context.Context, id string) (catalog.Campaign, error) {
	return p.store.Campaign(ctx, id)
}

func (p postgres) snapshot(t *testing.T) (*catalog.Catalog, []catalog.Rotation) {
	c, err := p.store.Catalog(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	rot, err := p.store.Rotations(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	return c, rot
}

func (p postgres) setCampaign(t *testing.T, id string, from time.Time, spec catalog.CampaignSpec) {
	if _, err := p.store.SetCampaignSpec(ctx(t), id, from, spec); err != nil {
		t.Fatal(err)
	}
}

func (p postgres) deleteCampaign(t *testing.T, id string, at time.Time) {
	if _, err := p.store.DeleteCampaign(ctx(t), id, at); err != nil {
		t.Fatal(err)
	}
}

func (p postgres) rotateToken(t *testing.T, projectID, token string) {
	if _, err := p.store.RotateToken(ctx(t), projectID, token); err != nil {
		t.Fatal(err)
	}
}

// TestPublishServices runs the scenario from PostgreSQL to the real
// broker. The catalog topic is shared by every run, so this run's ids,
// hosts and secrets carry a random suffix and only they are compared.
func TestPublishServices(t *testing.T) {
	brokers := os.Getenv("HAZELNUT_KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("HAZELNUT_KAFKA_BROKERS is not set: run the integration tier through `make test` (scripts/services.sh up)")
	}
	url := pgtest.NewDatabase(t)
	if _, err := pgstore.Migrate(ctx(t), url); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.Open(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sfx := "-" + hex.EncodeToString(b)
	cat, err := yamlcat.Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := publishtest.WithSuffix(cat, sfx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Seed(ctx(t), cat); err != nil {
		t.Fatal(err)
	}

	kafka := stream.Kafka{Brokers: strings.Split(brokers, ",")}
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
	if err != nil {
		t.Fatal(err)
	}
	decl, ok := topics.Get(publish.Topic)
	if !ok {
		t.Fatal("topics.yaml declares no catalog topic")
	}
	topics.List = []stream.Topic{decl}
	// Views read every partition, so another run's partition count is fine.
	if err := kafka.EnsureTopics(ctx(t), topics); err != nil && !errors.Is(err, stream.ErrPartitionMismatch) {
		t.Fatal(err)
	}
	// Compaction on the real broker runs on its own schedule; the
	// embedded test forces it (TestPublishEmbedded).
	runScenario(t, kafka, postgres{store}, idsFor(sfx), nil)
}
