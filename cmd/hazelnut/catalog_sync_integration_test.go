//go:build integration

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore/pgtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish/publishtest"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
	"github.com/hazelnut-mmp/hazelnut/views"
)

// catalog sync publishes what Postgres holds; a second sync changes
// nothing; a reader resolves the project's token. Ids carry a run suffix
// because the catalog topic is shared by every run.
func TestCatalogSyncServices(t *testing.T) {
	brokers := os.Getenv("HAZELNUT_KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("HAZELNUT_KAFKA_BROKERS is not set: run the integration tier through `make test` (scripts/services.sh up)")
	}
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pgstore.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sfx := "-" + hex.EncodeToString(b)
	cat, err := yamlcat.Load("../../testdata/catalog/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := publishtest.WithSuffix(cat, sfx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Seed(ctx, cat); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"HAZELNUT_POSTGRES_URL": url, "HAZELNUT_KAFKA_BROKERS": brokers}
	for _, want := range []string{
		"catalog: synced: 8 published, 0 unchanged, 0 stale, 0 tombstoned\n",
		"catalog: synced: 0 published, 8 unchanged, 0 stale, 0 tombstoned\n",
	} {
		code, out, stderr := runCLI(t, env, "catalog", "sync", "--horizon", "100000h", "--kafka-partitions", "4", "--kafka-replication", "1")
		if code != 0 || out != want {
			t.Fatalf("catalog sync: exit %d\nstdout %q, want %q\nstderr %s", code, out, want, stderr)
		}
	}

	kafka := stream.Kafka{Brokers: strings.Split(brokers, ",")}
	reader := &views.Catalog{}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = stream.NewSupervisor(nil).Run(rctx, reader.Component(kafka.Brokers,
			kafka.ViewOptions("catalog-sync-test", pebblestore.NewBuilder(t.TempDir()), 1)...))
	}()
	defer func() { rcancel(); <-done }()
	poll.Until(t, 60*time.Second, "project by token", func() bool {
		p, ok, err := reader.LookupToken(cat.Projects[0].Secrets.Token)
		return err == nil && ok && p.ID == "demo"+sfx
	})
	_, spec, ok, err := reader.CampaignAt("summer-sale"+sfx, time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || !ok || spec.Name != "Summer sale (extended)" {
		t.Fatalf("summer-sale in August 2025: %+v %v %v", spec, ok, err)
	}
	if p, ok := reader.ProjectByServerKey(cat.Projects[0].Secrets.ServerKey); !ok || p.ID != "demo"+sfx {
		t.Fatalf("project by server key: %+v %v", p, ok)
	}
}
