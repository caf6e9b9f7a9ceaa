package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"

	"github.com/hazelnut-mmp/hazelnut/internal/config"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// The skeleton path on the embedded broker, then a restart on the same
// --data: every decision is still served and later inits are app opens.
func TestSkeletonEmbedded(t *testing.T) {
	cfg := testConfig(t, nil)
	n := startNode(t, cfg, roleDev)
	ids := scenarioSkeleton(t, n)
	n.stop()

	n = startNode(t, cfg, roleDev)
	for _, id := range ids {
		data := n.decision(id)
		if data == nil || data["attribution_source"] != "ORGANIC" {
			t.Fatalf("after restart install %s: %v", id, data)
		}
	}
	// A second init of a decided install does not re-decide it.
	if code, _ := n.init(ids[0]); code != 202 {
		t.Fatalf("second init: %d", code)
	}
	n.waitDecided(ids[:1], 10*time.Second)
}

// The embedded broker is stopped and started again on the same port and
// data dir while a dev node uses it.
func TestBrokerRestartEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka")
	emb, err := stream.StartEmbedded(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	port := emb.Port()
	t.Cleanup(func() { emb.Close() })
	n := startNode(t, testConfig(t, emb.Brokers()), roleDev)
	scenarioBrokerRestart(t, n,
		func() { emb.Close() },
		func() {
			poll.Until(t, 10*time.Second, "port to be free", func() bool {
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					return false
				}
				l.Close()
				return true
			})
			emb, err = stream.StartEmbedded(dir, port)
			if err != nil {
				t.Fatal(err)
			}
		})
}

// A bad setting stops the command with exit status 2 and one line naming
// the setting and its environment variable.
func TestBadConfigNamesTheSetting(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"dev", "--http", "nowhere"}, nil, `hazelnut: config: --http (HAZELNUT_HTTP): "nowhere" is not host:port`},
		{[]string{"dev"}, map[string]string{"HAZELNUT_KAFKA_LINGER": "soon"}, `hazelnut: config: HAZELNUT_KAFKA_LINGER: "soon"`},
		{[]string{"dev", "--groups", "attribution,nope"}, nil, `hazelnut: config: --groups (HAZELNUT_GROUPS): unknown group "nope"`},
		{[]string{"processor"}, nil, `hazelnut: config: --brokers (HAZELNUT_KAFKA_BROKERS): required for the processor role`},
		{[]string{"dev", "--no-such-flag"}, nil, `hazelnut: config: unknown flag: --no-such-flag`},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		code := execute(context.Background(), c.args, &out, &errb, lookup)
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if code != exitConfig || len(lines) != 1 || !strings.HasPrefix(lines[0], c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit %d and one line starting %q", c.args, c.env, code, errb.String(), exitConfig, c.want)
		}
	}
}

func TestTakenPortIsAConfigError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out, errb bytes.Buffer
	code := execute(context.Background(), []string{"dev", "--data", t.TempDir(), "--http", l.Addr().String(), "--admin", "", "--grpc", ""},
		&out, &errb, func(string) (string, bool) { return "", false })
	if code != exitConfig || !strings.Contains(errb.String(), "--http (HAZELNUT_HTTP): cannot listen") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute(context.Background(), []string{"version"}, &out, &errb, nil); code != 0 || !strings.HasPrefix(out.String(), "hazelnut ") {
		t.Fatalf("exit %d: %q %q", code, out.String(), errb.String())
	}
}

func TestEveryGroupHasADefinition(t *testing.T) {
	if !slices.Equal(pipeline.Names(), config.Groups) {
		t.Fatalf("pipeline runs %v, config knows %v", pipeline.Names(), config.Groups)
	}
}

// dev serves the projects of a YAML catalog given with --catalog.
func TestDevServesYAMLCatalog(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Catalog = filepath.Join("..", "..", "testdata", "catalog", "demo.yaml")
	n := startNode(t, cfg, roleDev)
	// The catalog enforces signing on iOS.
	n.checkDemoSigning("yaml-1")
	if code, _ := n.init("yaml-2"); code != 401 {
		t.Fatalf("the demo token must not work when a catalog is given: %d", code)
	}

	var out, errb bytes.Buffer
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("projects: [{id: p}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code := execute(context.Background(), []string{"dev", "--data", t.TempDir(), "--catalog", bad, "--admin", "", "--grpc", "", "--http", freeAddr(t)},
		&out, &errb, func(string) (string, bool) { return "", false })
	if code != exitConfig || !strings.Contains(errb.String(), "--catalog (HAZELNUT_CATALOG)") {
		t.Fatalf("bad catalog: exit %d, %s", code, errb.String())
	}
}

// A gateway without --catalog or --demo-token serves the projects published
// to the catalog topic.
func TestGatewayServesTheCatalogTopic(t *testing.T) {
	emb, kafka := embeddedWithTopics(t)
	cat, err := yamlcat.Load(filepath.Join("..", "..", "testdata", "catalog", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const catalogKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	key, _ := catalog.ParseCatalogKey(catalogKey)
	sealer, _ := catalog.NewSealer(key)
	if _, err := publish.Publish(context.Background(), kafka, cat, nil, time.Now().Add(-30*24*time.Hour), publish.WithSealer(sealer)); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, emb.Brokers())
	cfg.DemoToken = ""
	cfg.CatalogKey = catalogKey
	n := startNode(t, cfg, roleGateway)
	// iOS signing is enforced: the sealed secret reached the gateway.
	n.checkDemoSigning("topic-1")
	if code, _ := n.init("topic-2"); code != 401 {
		t.Fatalf("an unpublished token: %d", code)
	}
}
