//go:build integration

package main

import (
	"net"
	"time"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

// realBrokers returns the real Kafka started by scripts/services.sh. The
// integration tier must not pass without it, so a missing broker fails.
func realBrokers(t *testing.T) []string {
	t.Helper()
	b := os.Getenv("HAZELNUT_KAFKA_BROKERS")
	if b == "" {
		t.Fatal("HAZELNUT_KAFKA_BROKERS is not set: run the integration tier through `make test` (scripts/services.sh up)")
	}
	return strings.Split(b, ",")
}

func services(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "..", "scripts", "services.sh")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("services.sh %v: %v\n%s", args, err, out)
	}
}

func TestSkeletonKafka(t *testing.T) {
	n := startNode(t, testConfig(t, realBrokers(t)), roleDev)
	scenarioSkeleton(t, n)
}

// The real broker is stopped and started again (data kept) while a gateway
// and a processor role, as separate roles, use it.
func TestBrokerRestartKafka(t *testing.T) {
	brokers := realBrokers(t)
	startNode(t, testConfig(t, brokers), roleProcessor)
	gw := startNode(t, testConfig(t, brokers), roleGateway)
	scenarioBrokerRestart(t, gw,
		func() {
			services(t, "stop", "kafka")
			// The broker must really be gone: a broker run by another
			// checkout's scripts/services.sh would not be stopped by ours.
			poll.Until(t, 30*time.Second, "the broker port to close", func() bool {
				c, err := net.DialTimeout("tcp", brokers[0], 200*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return err != nil
			})
		},
		func() { services(t, "start", "kafka") })
}
