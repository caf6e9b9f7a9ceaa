package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/loadgen"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// TestLoadInit compares init on a gateway (embedded broker, no processors)
// with a bare net/http handler that only decodes the body and answers 202,
// both driven in one run by the load generator with the Android fixture
// body, a new install id per request. It reports and asserts nothing; it
// runs only with HAZELNUT_LOAD=1:
//
//	HAZELNUT_LOAD=1 go test -run TestLoadInit -v -timeout 30m ./cmd/hazelnut
//
// HAZELNUT_LOAD_DURATION (default 30s) and HAZELNUT_LOAD_WARMUP (default 5s)
// set the periods, HAZELNUT_LOAD_CONNS the connection counts (default
// 16,64,256), HAZELNUT_LOAD_SHARDS the producer shards of the decode+Send
// handler (the publish path alone, for comparison), HAZELNUT_LOAD_SLICE the
// length of the slices in which the targets take turns (default 5s), and
// HAZELNUT_LOAD_ROUNDS how many times the comparison is repeated (default 1).
func TestLoadInit(t *testing.T) {
	if os.Getenv("HAZELNUT_LOAD") != "1" {
		t.Skip("set HAZELNUT_LOAD=1 to run the load comparison")
	}
	duration := envDuration(t, "HAZELNUT_LOAD_DURATION", 30*time.Second)
	warmup := envDuration(t, "HAZELNUT_LOAD_WARMUP", 5*time.Second)
	conns := []int{16, 64, 256}
	if v := os.Getenv("HAZELNUT_LOAD_CONNS"); v != "" {
		conns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("HAZELNUT_LOAD_CONNS: %v", err)
			}
			conns = append(conns, n)
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "gateway", "testdata", "sdk", "android-sdkless-init.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := loadBody(raw, "test-token", true)
	if err != nil {
		t.Fatal(err)
	}

	bare := startBare(t)

	// The gateway role on an embedded broker: HTTP, views and the producer,
	// no processor groups.
	emb, err := stream.StartEmbedded(filepath.Join(t.TempDir(), "kafka"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	cfg := testConfig(t, emb.Brokers())
	cfg.Partitions = 0 // as declared, like `hazelnut dev`
	cfg.AckTimeout = 5 * time.Second
	gw := startNode(t, cfg, roleGateway)
	send := startSend(t, emb.Brokers())

	type row struct{ bare, send, init loadgen.Result }
	// The targets take turns in slices, so that the other work on the
	// machine weighs on each about equally.
	slice := min(envDuration(t, "HAZELNUT_LOAD_SLICE", 5*time.Second), duration)
	rounds := 1
	if v := os.Getenv("HAZELNUT_LOAD_ROUNDS"); v != "" {
		if rounds, err = strconv.Atoi(v); err != nil {
			t.Fatalf("HAZELNUT_LOAD_ROUNDS: %v", err)
		}
	}
	for round := 1; round <= rounds; round++ {
		var rows []row
		for _, c := range conns {
			var got [3][]loadgen.Result
			for done := time.Duration(0); done < duration; done += slice {
				for i, url := range []string{bare, send, gw.base} {
					w := time.Second
					if done == 0 {
						w = warmup
					}
					res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url + "/api/client/init", Conns: c,
						BodyFunc: body, Warmup: w, Duration: min(slice, duration-done)})
					if err != nil {
						t.Fatal(err)
					}
					got[i] = append(got[i], res)
				}
			}
			r := row{bare: loadgen.Merge(got[0]...), send: loadgen.Merge(got[1]...), init: loadgen.Merge(got[2]...)}
			for _, x := range []struct {
				name string
				res  loadgen.Result
			}{{"bare", r.bare}, {"decode+Send", r.send}, {"init", r.init}} {
				t.Logf("%s: %v", x.name, x.res)
			}
			rows = append(rows, r)
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "\nround %d of %d: %s measured per target in %s slices taking turns, after %s warm-up (1s before later slices)\n",
			round, rounds, duration, slice, warmup)
		fmt.Fprintln(&sb, "| conns | bare req/s | bare p50 / p99 | decode+Send req/s | ratio | p50 / p99 | init req/s | init/bare | init p50 / p99 | init non-2xx, errors |")
		fmt.Fprintln(&sb, "|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range rows {
			fmt.Fprintf(&sb, "| %d | %.0f | %s / %s | %.0f | %.0f %% | %s / %s | %.0f | %.0f %% | %s / %s | %d, %d |\n", r.init.Conns,
				r.bare.Rate(), msStr(r.bare.P50), msStr(r.bare.P99),
				r.send.Rate(), 100*r.send.Rate()/r.bare.Rate(), msStr(r.send.P50), msStr(r.send.P99),
				r.init.Rate(), 100*r.init.Rate()/r.bare.Rate(), msStr(r.init.P50), msStr(r.init.P99),
				r.init.Non2xx()+r.send.Non2xx(), r.init.Errors+r.send.Errors)
		}
		t.Log(sb.String())
	}
}

// startBare serves a handler that decodes the JSON body and answers 202
// with a small JSON object, on a free port; it returns the base URL.
func startBare(t *testing.T) string {
	return startBareFunc(t, func(*http.Request, map[string]any) int { return http.StatusAccepted })
}

// startSend serves the publish path alone: decode the body, publish it to
// installs with stream.Producer.Send as the gateway does, answer 202.
func startSend(t *testing.T, brokers []string) string {
	t.Helper()
	var opts []stream.ProducerOption
	if v := os.Getenv("HAZELNUT_LOAD_SHARDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("HAZELNUT_LOAD_SHARDS: %v", err)
		}
		opts = append(opts, stream.WithProducerShards(n))
	}
	p := stream.NewProducer(opts...)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- p.Component("producer", stream.Kafka{Brokers: brokers}, "load").Run(ctx, func() { close(ready) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	return startBareFunc(t, func(r *http.Request, v map[string]any) int {
		raw, _ := json.Marshal(v)
		id, _ := v["install_instance_id"].(string)
		sctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := p.Send(sctx, stream.Record{Topic: "installs", Key: "demo:" + id, Value: raw}); err != nil {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// The load command prints the rate and the statuses it got, and sends the
// token and a new install id with every request.
func TestLoadCommand(t *testing.T) {
	ids := make(chan string, 100000)
	srv := startBareFunc(t, func(_ *http.Request, v map[string]any) int {
		if v["token"] != "tok" {
			return http.StatusUnauthorized
		}
		select {
		case ids <- v["install_instance_id"].(string):
		default:
		}
		return http.StatusAccepted
	})
	dir := t.TempDir()
	bodyFile := filepath.Join(dir, "body.json")
	if err := os.WriteFile(bodyFile, []byte(`{"token":"x","platform":"ANDROID","install_instance_id":"a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code := execute(context.Background(), []string{"load", "--url", srv, "--body", bodyFile, "--token", "tok",
		"--conns", "2", "--duration", "200ms", "--warmup", "0s", "--vary-install-id"}, &out, &errb, func(string) (string, bool) { return "", false })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "status    202: ") || !strings.Contains(out.String(), "p99") {
		t.Fatalf("output:\n%s", out.String())
	}
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] || !strings.HasPrefix(id, "load-") {
			t.Fatalf("install id %q repeated or not generated", id)
		}
		seen[id] = true
	}
	if len(seen) < 2 {
		t.Fatalf("%d install ids", len(seen))
	}

	code = execute(context.Background(), []string{"load", "--conns", "0"}, &out, &errb, func(string) (string, bool) { return "", false })
	if code != exitConfig {
		t.Fatalf("bad flags: exit %d", code)
	}
}

// With --method GET and --rate the load command sends GETs without a body
// at the offered rate, counts redirects by status without following them
// and reports the open loop's figures; contradictory flags are refused.
func TestLoadCommandOpenLoopGet(t *testing.T) {
	var gets, others atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.ContentLength > 0 {
			others.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		gets.Add(1)
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	none := func(string) (string, bool) { return "", false }
	var out, errb strings.Builder
	code := execute(context.Background(), []string{"load", "--method", "get", "--url", srv.URL + "/c/news",
		"--rate", "200", "--conns", "4", "--duration", "500ms", "--warmup", "0s"}, &out, &errb, none)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"status    302: ", "offered   200 requests/s", "from send p50"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in output:\n%s", want, out.String())
		}
	}
	// 200/s for 0.5 s: about 100 requests, far fewer than a closed loop sends.
	if n := gets.Load(); n < 80 || n > 130 || others.Load() != 0 {
		t.Fatalf("%d GETs (want about 100), %d other requests", n, others.Load())
	}

	for _, args := range [][]string{
		{"load", "--method", "PUT", "--body", "x.json"},
		{"load", "--method", "GET", "--body", "x.json"},
		{"load", "--method", "GET", "--token", "t"},
		{"load", "--body", "x.json", "--rate", "-1"},
		{"load"},
	} {
		errb.Reset()
		if code := execute(context.Background(), args, &out, &errb, none); code != exitConfig {
			t.Fatalf("%v: exit %d (%s)", args, code, errb.String())
		}
	}
}

// startBareFunc is startBare answering with the status that status picks.
func startBareFunc(t *testing.T, status func(*http.Request, map[string]any) int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		code := status(r, v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"success":true,"status":"accepted"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
