package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// errRunning is returned by a second concurrent Run.
var errRunning = errors.New("spool: drainer already running")

// batch is a run of consecutive spooled records.
type batch struct {
	first, last uint64 // sequences, inclusive
	recs        []stream.Record
	bytes       int64
}

// Run is the drainer: it publishes spooled records oldest first with
// SendAll, in batches, and deletes a batch only after all of its records
// were acknowledged. A failed batch is retried whole after a backoff that
// doubles up to the configured maximum; records of it that had been
// acknowledged are then published again. Run returns nil when ctx ends or
// the spool is closed, and an error when the database fails. A record that
// cannot be decoded is moved to quarantine (see quarantine) and the records
// behind it go on.
func (s *Spool) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.running.CompareAndSwap(false, true) {
		s.mu.Unlock()
		return errRunning
	}
	s.runs.Add(1)
	s.mu.Unlock()
	defer s.runs.Done()
	defer s.running.Store(false)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	delay := s.cfg.minBackoff
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var b *batch
	for {
		if b == nil {
			var err error
			if b, err = s.read(); err != nil {
				return err
			}
		}
		if b == nil {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		sctx, scancel := context.WithTimeout(ctx, s.cfg.drainTimeout)
		err := s.sender.SendAll(sctx, b.recs)
		scancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Debug("spooled batch not acknowledged; retrying", zap.Int("records", len(b.recs)),
				zap.Duration("backoff", delay), zap.Error(err))
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil
			}
			delay = min(2*delay, s.cfg.maxBackoff)
			continue
		}
		delay = s.cfg.minBackoff
		if err := s.remove(b); err != nil {
			return err
		}
		b = nil
	}
}

// read returns the oldest records (nil when the spool is empty).
func (s *Spool) read() (*batch, error) {
	lower := make([]byte, keyLen)
	lower[0] = recordPrefix
	binary.BigEndian.PutUint64(lower[1:], s.head)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{recordPrefix + 1}})
	if err != nil {
		return nil, fmt.Errorf("spool: read: %w", err)
	}
	defer it.Close()
	var b *batch
	for valid := it.First(); valid; valid = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != keyLen {
			return nil, fmt.Errorf("spool: read: unexpected key %x", k)
		}
		seq := binary.BigEndian.Uint64(k[1:])
		rec, err := decode(v)
		if err != nil {
			if b != nil {
				break // publish what precedes it first
			}
			// A record that cannot be decoded would hold up every
			// record behind it: it is moved aside, kept with its error.
			if err := s.quarantine(seq, k, v, err); err != nil {
				return nil, err
			}
			continue
		}
		if b == nil {
			b = &batch{first: seq}
		}
		b.last = seq
		b.recs = append(b.recs, rec)
		b.bytes += int64(len(k) + len(v))
		if len(b.recs) >= s.cfg.batch || b.bytes >= maxDrainBytes {
			break
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("spool: read: %w", err)
	}
	return b, nil
}

// quarantine moves an undecodable record out of the queue to the
// quarantine key range (prefix 'q', same sequence), where it stays for an
// operator to inspect, and logs why.
func (s *Spool) quarantine(seq uint64, key, val []byte, cause error) error {
	qkey := append([]byte{quarantinePrefix}, key[1:]...)
	wb := s.db.NewBatch()
	defer wb.Close()
	if err := wb.Set(qkey, val, nil); err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	if err := wb.Delete(key, nil); err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	s.log.Error("spooled record cannot be decoded; moved to quarantine", zap.Uint64("sequence", seq),
		zap.Int("bytes", len(val)), zap.Error(cause))
	s.quarantined.Add(context.Background(), 1)
	s.head = seq + 1
	s.mu.Lock()
	s.records--
	s.bytes -= int64(len(key) + len(val))
	s.emptied()
	s.mu.Unlock()
	return nil
}

// remove deletes an acknowledged batch; when it was the last one, Publish
// sends directly again.
//
// The records are deleted one by one: a range deletion per batch would add
// a range tombstone for every drained batch, and every iterator the drainer
// opens would fragment all of them again (batches are small while the
// broker keeps up). The deletion is not synced of its own: it becomes
// durable with the next append's fsync or at Close. A crash before that
// brings the batch back, and it is published again (see Duplicates in the
// package documentation); an fsync per drained batch would double the
// fsyncs the appenders wait behind.
func (s *Spool) remove(b *batch) error {
	key := make([]byte, keyLen)
	key[0] = recordPrefix
	wb := s.db.NewBatch()
	defer wb.Close()
	for seq := b.first; seq <= b.last; seq++ {
		binary.BigEndian.PutUint64(key[1:], seq)
		if err := wb.Delete(key, nil); err != nil {
			return fmt.Errorf("spool: delete: %w", err)
		}
	}
	if err := wb.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("spool: delete: %w", err)
	}
	s.head = b.last + 1
	n := int64(len(b.recs))
	s.mu.Lock()
	s.records -= n
	s.bytes -= b.bytes
	s.emptied()
	s.mu.Unlock()
	s.drained.Add(context.Background(), n)
	return nil
}

// Component runs the drainer under a supervisor. It is ready at once: the
// spool is open and accepts records whether or not the broker answers.
func (s *Spool) Component(name string) stream.Component {
	return stream.Component{Name: name, Run: func(ctx context.Context, ready func()) error {
		ready()
		return s.Run(ctx)
	}}
}
