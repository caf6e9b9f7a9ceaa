package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/geo/geotest"
	"github.com/hazelnut-mmp/hazelnut/internal/poll"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// A click link answers its 302 once the click is in the click spool on
// disk, not once Kafka has it: the gateway is killed (SIGKILL) right after
// the 302, while its broker is out of reach so the click cannot have left
// the spool, and the click reaches topic `clicks` after a restart on the
// same --data.
func TestClickSurvivesKillAfterRedirect(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "hazelnut")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	catalogFile, err := filepath.Abs(filepath.Join("..", "..", "testdata", "catalog", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
	// The click comes through a trusted proxy from an address the test's
	// GeoIP database places in London.
	geoDB := geotest.Write(t)

	// First run: no broker answers (port 1), so nothing can be published.
	httpAddr := freeAddr(t)
	first := startBinary(t, bin, "dev", "--data", data, "--catalog", catalogFile, "--brokers", "127.0.0.1:1",
		"--http", httpAddr, "--admin", freeAddr(t), "--grpc", freeAddr(t), "--geoip-db", geoDB, "--trusted-proxies", "127.0.0.0/8")
	poll.Until(t, 30*time.Second, "the gateway to listen", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/c/news?utm_source=newsletter&gclid=G-kill", nil)
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", "81.2.69.160")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_ = first.cmd.Process.Kill() // SIGKILL right after the 302
	_ = first.cmd.Wait()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("click link answered %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	ref, _ := url.ParseQuery(loc.Query().Get("referrer"))
	clickID := ref.Get("lr_ia_id")
	if clickID == "" {
		t.Fatalf("no lr_ia_id in %s", loc)
	}

	// Second run on the same data, with the embedded broker.
	httpAddr = freeAddr(t)
	second := startBinary(t, bin, "dev", "--data", data, "--catalog", catalogFile,
		"--http", httpAddr, "--admin", freeAddr(t), "--grpc", freeAddr(t))
	brokers := second.brokers(t, 30*time.Second)
	var got *codecs.Click
	poll.Until(t, 60*time.Second, "the click on topic clicks", func() bool {
		got = findClick(t, brokers, clickID)
		return got != nil
	})
	if got.CampaignID != "newsletter" || got.ProjectID != "demo" || got.Platform != "ANDROID" || got.Source != "link" ||
		got.Params["gclid"] != "G-kill" || got.Device != "Pixel 8" || got.ClientIP != "81.2.69.160" ||
		got.Geo != (codecs.Geo{Country: "GB", Region: "ENG", RegionName: "England", City: "London"}) {
		t.Fatalf("click %+v", got)
	}
	_ = second.cmd.Process.Signal(os.Interrupt)
}

type binary struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log strings.Builder
}

var brokersLine = regexp.MustCompile(`embedded broker started.*"brokers": ?\["([^"]+)"`)

func startBinary(t *testing.T, bin string, args ...string) *binary {
	t.Helper()
	b := &binary{cmd: exec.Command(bin, args...)}
	b.cmd.Env = append(os.Environ(), "HAZELNUT_LOG_LEVEL=info")
	b.cmd.Stdout = io.Discard
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.log.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("%s log:\n%s", args[0], b.log.String())
			b.mu.Unlock()
		}
	})
	return b
}

// brokers is the embedded broker's address, from the log.
func (b *binary) brokers(t *testing.T, d time.Duration) []string {
	t.Helper()
	var addr string
	poll.Until(t, d, "the embedded broker's address in the log", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if m := brokersLine.FindStringSubmatch(b.log.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return []string{addr}
}

// findClick reads topic clicks from the start and returns the click with
// id, nil when it is not there (yet).
func findClick(t *testing.T, brokers []string, id string) *codecs.Click {
	t.Helper()
	kafka := stream.Kafka{Brokers: brokers}
	client, err := sarama.NewClient(brokers, kafka.Sarama(kafka.ClientID("click-kill-test")))
	if err != nil {
		return nil
	}
	defer client.Close()
	parts, err := client.Partitions("clicks")
	if err != nil {
		return nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil
	}
	defer consumer.Close()
	for _, p := range parts {
		newest, err := client.GetOffset("clicks", p, sarama.OffsetNewest)
		if err != nil {
			return nil
		}
		oldest, err := client.GetOffset("clicks", p, sarama.OffsetOldest)
		if err != nil || newest <= oldest {
			continue
		}
		pc, err := consumer.ConsumePartition("clicks", p, oldest)
		if err != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				if string(m.Key) == id {
					var c codecs.Click
					if err := json.Unmarshal(m.Value, &c); err != nil {
						t.Fatalf("click %s: %v", id, err)
					}
					cancel()
					pc.Close()
					return &c
				}
				done = m.Offset+1 >= newest
			case <-ctx.Done():
				done = true
			}
		}
		cancel()
		pc.Close()
	}
	return nil
}
