package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/gateway/signing"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hazelnut-mmp/hazelnut/internal/config"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// embeddedWithTopics starts an embedded broker for the test with every
// topic of topics.yaml (4 partitions, one replica).
func embeddedWithTopics(t testing.TB) (*stream.Embedded, stream.Kafka) {
	t.Helper()
	emb, err := stream.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	kafka := stream.Kafka{Brokers: emb.Brokers(), Partitions: 4, Replication: 1}
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(context.Background(), topics); err != nil {
		t.Fatal(err)
	}
	return emb, kafka
}

// node is one running role, started in-process with run().
type node struct {
	t      testing.TB
	base   string
	admin  string
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

// testConfig is a dev config on free ports with its own data dir.
func testConfig(t testing.TB, brokers []string) config.Config {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	cfg.HTTPAddr, cfg.AdminAddr, cfg.GRPCAddr = freeAddr(t), freeAddr(t), ""
	cfg.Brokers = brokers
	cfg.Partitions = 4
	cfg.Replication = 1
	cfg.AckTimeout = 2 * time.Second
	cfg.ShutdownTimeout = 20 * time.Second
	cfg.DemoToken = "test-token"
	cfg.RateLimit = 0 // these tests drive many requests from one address
	return cfg
}

func startNode(t testing.TB, cfg config.Config, r role) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{t: t, base: "http://" + cfg.HTTPAddr, admin: "http://" + cfg.AdminAddr, cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 10 * time.Second}}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	go func() { n.done <- run(ctx, cfg, r, log, io.Discard) }()
	t.Cleanup(n.stop)
	n.waitReady(90 * time.Second)
	return n
}

func (n *node) waitReady(d time.Duration) {
	n.t.Helper()
	poll.Until(n.t, d, "/readyz", func() bool {
		select {
		case err := <-n.done:
			n.t.Fatalf("node stopped while starting: %v", err)
		default:
		}
		resp, err := n.client.Get(n.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("node stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		n.t.Error("node did not stop within 30s")
	}
}

func (n *node) post(path string, body any) (int, map[string]any) {
	n.t.Helper()
	return n.postSigned(path, body, nil)
}

// signingKey is an SDK signing credential.
type signingKey struct{ id, secret string }

// demoIOSKey is the iOS signing key of testdata/catalog/demo.yaml, whose
// project enforces signing on iOS.
var demoIOSKey = &signingKey{id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", secret: "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}

// postSigned posts body, signed with key as the SDKs sign when key is set.
func (n *node) postSigned(path string, body any, key *signingKey) (int, map[string]any) {
	n.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, n.base+path, bytes.NewReader(b))
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		ts := time.Now().UnixMilli()
		req.Header.Set(signing.HeaderKeyID, key.id)
		req.Header.Set(signing.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(signing.HeaderSignature, signing.Sign(key.secret, ts, b))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		n.t.Errorf("%s answered %d with a body that is not a JSON object: %q", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (n *node) init(install string) (int, map[string]any) {
	return n.post("/api/client/init", map[string]any{"token": "test-token", "platform": "ANDROID",
		"install_instance_id": install, "source": "GENERAL", "device_data": map[string]any{"device_name": "Pixel 8"}})
}

// checkDemoSigning: the demo catalog's project takes unsigned Android
// inits, refuses unsigned iOS ones and takes iOS ones signed with its key.
func (n *node) checkDemoSigning(install string) {
	n.t.Helper()
	body := map[string]any{"token": "demo-client-token-0123456789", "platform": "ANDROID", "install_instance_id": install}
	if code, out := n.post("/api/client/init", body); code != 202 {
		n.t.Fatalf("unsigned Android init with the catalog's token: %d %v", code, out)
	}
	body["platform"] = "IOS"
	if code, out := n.post("/api/client/init", body); code != 401 {
		n.t.Fatalf("unsigned iOS init: %d %v", code, out)
	}
	if code, out := n.postSigned("/api/client/init", body, demoIOSKey); code != 202 {
		n.t.Fatalf("signed iOS init: %d %v", code, out)
	}
}

// decision returns data of attribution-data, or nil when not answered 200.
func (n *node) decision(install string) map[string]any {
	code, out := n.post("/api/client/attribution-data", map[string]any{"token": "test-token", "platform": "ANDROID",
		"install_instance_id": install})
	if code != 200 {
		return nil
	}
	data, _ := out["data"].(map[string]any)
	return data
}

// waitDecided polls attribution-data until every install is decided organic
// with decision version 1.
func (n *node) waitDecided(installs []string, d time.Duration) {
	n.t.Helper()
	pending := map[string]bool{}
	for _, id := range installs {
		pending[id] = true
	}
	var mu sync.Mutex
	poll.Until(n.t, d, fmt.Sprintf("%d installs to be decided", len(installs)), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range pending {
			data := n.decision(id)
			if data == nil || data["attribution_status"] != "attributed" {
				continue
			}
			if data["attribution_source"] != "ORGANIC" || data["decision_version"] != float64(1) {
				n.t.Fatalf("install %s decided %v", id, data)
			}
			delete(pending, id)
		}
		return len(pending) == 0
	})
}

func uniqueIDs(prefix string, n int) []string {
	run := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", run, i)
	}
	return out
}

// scenarioSkeleton drives init → installs → attribution → decisions →
// attribution-data for a batch of installs through HTTP.
func scenarioSkeleton(t *testing.T, n *node) []string {
	ids := uniqueIDs("skel", 25)
	for _, id := range ids {
		code, out := n.init(id)
		if code != http.StatusAccepted || out["status"] != "accepted" || out["success"] != true {
			t.Fatalf("init %s: %d %v", id, code, out)
		}
	}
	n.waitDecided(ids, 60*time.Second)
	return ids
}

// scenarioBrokerRestart: the broker goes away while clients keep sending.
// Every request is still answered 202 — into the spool while the broker is
// out of reach — and once it is back the spool drains by itself and every
// accepted install is decided: nothing accepted is lost.
func scenarioBrokerRestart(t *testing.T, n *node, stopBroker, startBroker func()) {
	before := uniqueIDs("before", 10)
	for _, id := range before {
		if code, _ := n.init(id); code != http.StatusAccepted {
			t.Fatalf("init before outage: %d", code)
		}
	}
	n.waitDecided(before, 60*time.Second)

	var (
		mu       sync.Mutex
		accepted = append([]string(nil), before...)
		down     atomic.Bool
		inOutage atomic.Int64
		total    atomic.Int64
		stop     = make(chan struct{})
		resumed  = make(chan struct{}) // closed once the broker is back
		wg       sync.WaitGroup
	)
	run := fmt.Sprintf("load-%d", time.Now().UnixNano())
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d-%05d", run, w, i)
				wasDown := down.Load()
				if wasDown && inOutage.Load() >= 300 {
					// The outage is well covered; a real broker takes a
					// while to come back, so hold until it has.
					select {
					case <-resumed:
					case <-stop:
						return
					}
					wasDown = down.Load()
				}
				code, out := n.init(id)
				if code != http.StatusAccepted {
					t.Errorf("init %s (broker down: %v) answered %d %v", id, wasDown, code, out)
					return
				}
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
				total.Add(1)
				if wasDown && down.Load() {
					inOutage.Add(1)
				}
			}
		}()
	}
	finish := func() { close(stop); wg.Wait() }
	poll.Until(t, 30*time.Second, "load to run", func() bool { return total.Load() >= 50 })
	stopBroker()
	down.Store(true)
	poll.Until(t, 60*time.Second, "requests accepted while the broker is down", func() bool {
		return inOutage.Load() >= 200 || t.Failed()
	})
	startBroker()
	down.Store(false)
	close(resumed)
	mark := total.Load()
	poll.Until(t, 120*time.Second, "requests after the broker is back", func() bool {
		return total.Load() >= mark+100 || t.Failed()
	})
	finish()
	if t.Failed() {
		return
	}
	n.waitReady(60 * time.Second)
	mu.Lock()
	all := append([]string(nil), accepted...)
	mu.Unlock()
	n.waitDecided(all, 180*time.Second)
	t.Logf("accepted %d, %d of them while the broker was down; all decided", len(all), inOutage.Load())
}
