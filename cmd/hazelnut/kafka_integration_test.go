//go:build integration

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		func() { services(t, "stop", "kafka") },
		func() { services(t, "start", "kafka") })
}
