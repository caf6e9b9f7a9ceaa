package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

// What `make run` does, from the outside: build the binary, start `dev`,
// wait for /readyz (within 30s of starting), run the curl lines it printed,
// and stop it with SIGTERM.
func TestDevBinaryPrintsCurlLinesThatWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the printed lines")
	}
	bin := filepath.Join(t.TempDir(), "hazelnut")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "dev", "--data", t.TempDir(), "--http", httpAddr, "--admin", adminAddr, "--grpc", freeAddr(t))
	cmd.Env = append(os.Environ(), "HAZELNUT_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var curls []string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	ready := false
	for !ready {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("dev exited before it was ready")
			}
			if strings.HasPrefix(strings.TrimSpace(l), "curl ") {
				curls = append(curls, strings.TrimSpace(l))
			}
		case <-time.After(50 * time.Millisecond):
			if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == 200
			}
		}
		if time.Since(started) > 30*time.Second {
			t.Fatal("/readyz did not answer 200 within 30s of starting")
		}
	}
	go func() {
		for range lines {
		}
	}()
	if len(curls) < 3 {
		t.Fatalf("expected curl lines, got %q", curls)
	}
	run := func(line string) map[string]any {
		out, err := exec.Command("sh", "-c", line).Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var m map[string]any
		if strings.Contains(line, "/metrics") {
			if !strings.Contains(string(out), "# HELP") {
				t.Fatalf("metrics line printed %q", out)
			}
			return nil
		}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s printed %q", line, out)
		}
		return m
	}
	for _, line := range curls {
		m := run(line)
		switch {
		case strings.Contains(line, "/readyz"):
			if m["status"] != float64(200) {
				t.Errorf("readyz: %v", m)
			}
		case strings.Contains(line, "/api/client/init"):
			if m["status"] != "accepted" {
				t.Errorf("init: %v", m)
			}
		case strings.Contains(line, "/api/client/attribution-data"):
			poll.Until(t, 10*time.Second, "the printed attribution-data line to show the decision", func() bool {
				d, _ := run(line)["data"].(map[string]any)
				return d["attribution_source"] == "ORGANIC"
			})
		}
	}

	go func() { exited <- cmd.Wait() }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("dev did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s of SIGTERM")
	}
}
