//go:build integration

package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the integration tier through `make test` (scripts/services.sh up)", name)
	}
	return v
}

// The services the later steps build on answer with the clients Hazelnut
// uses, at the versions the design expects.
func TestServicesAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pg, err := pgx.Connect(ctx, env(t, "HAZELNUT_POSTGRES_URL"))
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer pg.Close(ctx)
	var num string
	if err := pg.QueryRow(ctx, "SHOW server_version_num").Scan(&num); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if v, _ := strconv.Atoi(num); v < 150000 {
		t.Errorf("postgres version %s, want 15 or newer", num)
	}

	rdb := redis.NewClient(&redis.Options{Addr: env(t, "HAZELNUT_REDIS_ADDR")})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}

	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{env(t, "HAZELNUT_CLICKHOUSE_ADDR")}})
	if err != nil {
		t.Fatalf("clickhouse: %v", err)
	}
	defer ch.Close()
	var version string
	if err := ch.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatalf("clickhouse: %v", err)
	}
	if version == "" || !strings.Contains(version, ".") {
		t.Errorf("clickhouse version %q", version)
	}
	t.Logf("postgres %s, clickhouse %s", num, version)
}
