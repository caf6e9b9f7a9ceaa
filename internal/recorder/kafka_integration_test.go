//go:build integration

package recorder

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestExactlyOnceKafka(t *testing.T) {
	b := os.Getenv("HAZELNUT_KAFKA_BROKERS")
	if b == "" {
		t.Fatal("HAZELNUT_KAFKA_BROKERS is not set: run the integration tier through `make test` (scripts/services.sh up)")
	}
	for _, seed := range []uint64{11, 12, 13} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runScenario(t, strings.Split(b, ","), seed) })
	}
}
