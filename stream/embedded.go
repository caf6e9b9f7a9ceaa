package stream

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is the in-process Kafka-protocol broker of `hazelnut dev` and the
// fast tests. With a data dir it keeps every topic, record and committed
// offset across restarts.
type Embedded struct {
	c *kfake.Cluster
}

// StartEmbedded starts a one-node in-process broker on 127.0.0.1:port (0
// picks a free port). dataDir "" keeps everything in memory.
func StartEmbedded(dataDir string, port int) (*Embedded, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.ClusterID("hazelnut-dev")}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	return &Embedded{c: c}, nil
}

// Brokers returns the bootstrap addresses.
func (e *Embedded) Brokers() []string { return e.c.ListenAddrs() }

// Port returns the port the broker listens on.
func (e *Embedded) Port() int {
	_, p, _ := net.SplitHostPort(e.c.ListenAddrs()[0])
	n, _ := strconv.Atoi(p)
	return n
}

// Cluster exposes the broker for fault injection in tests.
func (e *Embedded) Cluster() *kfake.Cluster { return e.c }

// Close stops the broker, persisting its state when it has a data dir.
func (e *Embedded) Close() { e.c.Close() }
