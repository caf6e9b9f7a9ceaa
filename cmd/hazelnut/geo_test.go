package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hazelnut-mmp/hazelnut/geo/geotest"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

// A --geoip-db that cannot be opened is a configuration error naming the
// setting, from the flag or its environment twin, before any connection.
func TestBadGeoIPDBIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.mmdb")
	notMMDB := filepath.Join(dir, "not.mmdb")
	if err := os.WriteFile(notMMDB, []byte("country,city\nGB,London\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gatewayArgs := func(extra ...string) []string {
		return append([]string{"gateway", "--data", t.TempDir(), "--brokers", "127.0.0.1:1", "--demo-token", "t",
			"--http", freeAddr(t), "--admin", "", "--grpc", ""}, extra...)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing file", nil, gatewayArgs("--geoip-db", missing),
			"hazelnut: config: --geoip-db (HAZELNUT_GEOIP_DB): geoip database: open " + missing + ": "},
		{"not an mmdb", nil, gatewayArgs("--geoip-db", notMMDB),
			"hazelnut: config: --geoip-db (HAZELNUT_GEOIP_DB): geoip database " + notMMDB + ": error opening database: invalid MaxMind DB file"},
		{"directory from the environment", map[string]string{"HAZELNUT_GEOIP_DB": dir}, gatewayArgs(),
			"hazelnut: config: --geoip-db (HAZELNUT_GEOIP_DB): geoip database: read " + dir + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) { expectConfigError(t, tc.env, tc.args, []string{tc.want}) })
	}
}

// A gateway with a valid --geoip-db serves, and stops cleanly, even while
// the broker is out of reach.
func TestGatewayOpensGeoIPDB(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	cfg.AdminAddr = ""
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.GeoIPDB = geotest.Write(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, cfg, roleGateway, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), io.Discard)
	}()
	poll.Until(t, 30*time.Second, "gateway listening", func() bool {
		select {
		case err := <-done:
			t.Fatalf("gateway stopped while starting: %v", err)
		default:
		}
		c, err := net.Dial("tcp", cfg.HTTPAddr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gateway stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop")
	}
}
