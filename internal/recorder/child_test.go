package recorder

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lovoo/goka"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
)

// Environment of a child process: the test binary re-executed to run one
// recorder instance, so that it can be stopped cleanly or killed with
// SIGKILL like a real deployment.
const (
	envChild    = "RECORDER_CHILD"
	envBrokers  = "RECORDER_BROKERS"
	envSuffix   = "RECORDER_SUFFIX"
	envData     = "RECORDER_DATA"
	envInstance = "RECORDER_INSTANCE"
	envDump     = "RECORDER_DUMP"
	envKeys     = "RECORDER_KEYS"
)

// runChild runs one recorder instance until SIGTERM. It prints "ready" once
// its processor serves, and on SIGTERM writes the values of the keys it
// owns (read through the running processor) to the dump file before it
// stops.
func runChild() int {
	log, _ := zap.NewDevelopment(zap.IncreaseLevel(zap.WarnLevel))
	names := NamesFor(os.Getenv(envSuffix))
	kafka := stream.Kafka{Brokers: strings.Split(os.Getenv(envBrokers), ","), InstanceID: os.Getenv(envInstance), Logger: log}
	tables := pebblestore.New(os.Getenv(envData), pebblestore.WithLogger(log))
	var cur atomic.Pointer[goka.Processor]
	comp := stream.ProcessorComponent("recorder", func() (*goka.Processor, error) {
		p, err := goka.NewProcessor(kafka.Brokers, Graph(names), kafka.ProcessorOptions(string(names.Group), tables.Builder(), 1)...)
		if err == nil {
			cur.Store(p)
		}
		return p, err
	}, stream.WithUncleanStop(tables.Discard))
	sup := stream.NewSupervisor(log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx, comp) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	ready := false
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if !ready && len(sup.NotReady()) == 0 {
				ready = true
				fmt.Println("ready")
			}
			continue
		case err := <-done:
			fmt.Fprintln(os.Stderr, "supervisor stopped:", err)
			return 1
		case <-sig:
		}
		break
	}
	dump := map[string]*State{}
	if p := cur.Load(); p != nil {
		for i := range atoi(os.Getenv(envKeys)) {
			k := Key(i)
			v, err := p.Get(k)
			if err != nil || v == nil {
				continue // another instance owns it, or it has no value
			}
			dump[k] = v.(*State)
		}
	}
	if f := os.Getenv(envDump); f != "" {
		b, _ := json.Marshal(dump)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "dump:", err)
			return 1
		}
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		return 1
	}
	return 0
}

// Key is the i-th input key.
func Key(i int) string { return fmt.Sprintf("k-%03d", i) }

func atoi(s string) int {
	var n int
	_, _ = fmt.Sscan(s, &n)
	return n
}
