package simulate

import (
	"fmt"
	"slices"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Offsets reads high-water marks and consumer group commits: how far the
// groups have got, and how many records every topic holds.
type Offsets struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

// NewOffsets connects to k's brokers.
func NewOffsets(k stream.Kafka) (*Offsets, error) {
	c, err := sarama.NewClient(k.Brokers, k.Sarama(k.ClientID("simulate-offsets")))
	if err != nil {
		return nil, fmt.Errorf("simulate: offsets: %w", err)
	}
	a, err := sarama.NewClusterAdminFromClient(c)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("simulate: offsets: %w", err)
	}
	return &Offsets{client: c, admin: a}, nil
}

// Close disconnects.
func (o *Offsets) Close() { _ = o.admin.Close() }

// HighWater is the sum over topic's partitions of their high-water marks:
// the records it holds (on a topic that was never truncated).
func (o *Offsets) HighWater(topic string) (int64, error) {
	ps, err := o.client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range ps {
		off, err := o.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		sum += off
	}
	return sum, nil
}

// HighWaters are the high-water sums of every topic on the broker.
func (o *Offsets) HighWaters() (map[string]int64, error) {
	if err := o.client.RefreshMetadata(); err != nil {
		return nil, err
	}
	topics, err := o.client.Topics()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(topics))
	for _, t := range topics {
		if out[t], err = o.HighWater(t); err != nil {
			return nil, fmt.Errorf("high water of %s: %w", t, err)
		}
	}
	return out, nil
}

// Committed is the sum over topic's partitions of group's committed
// offsets (partitions without a commit count 0).
func (o *Offsets) Committed(group, topic string) (int64, error) {
	ps, err := o.client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	res, err := o.admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, b := range res.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			return 0, b.Err
		}
		if b.Offset > 0 {
			sum += b.Offset
		}
	}
	return sum, nil
}

// CaughtUp reports whether every group has committed every partition of
// every topic it consumes up to its end, but the topics in skip (ticks,
// which never stop). A group without any commit has not caught up.
func CaughtUp(k stream.Kafka, groups []string, skip ...string) bool {
	o, err := NewOffsets(k)
	if err != nil {
		return false
	}
	defer o.Close()
	for _, g := range groups {
		res, err := o.admin.ListConsumerGroupOffsets(g, nil)
		if err != nil || len(res.Blocks) == 0 {
			return false
		}
		for topic, parts := range res.Blocks {
			if slices.Contains(skip, topic) {
				continue
			}
			for p, b := range parts {
				end, err := o.client.GetOffset(topic, p, sarama.OffsetNewest)
				if err != nil || (b.Offset < end && !(b.Offset == -1 && end == 0)) {
					return false
				}
			}
		}
	}
	return true
}
