package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

var (
	// ErrFull is returned when a record does not fit under the spool's
	// bound; nothing was written and the caller answers 503.
	ErrFull = errors.New("spool: full")
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("spool: closed")
)

const (
	// DefaultMaxBytes bounds the encoded records (keys included) in a spool.
	DefaultMaxBytes int64 = 256 << 20
	// DefaultSendTimeout bounds the wait for the broker's acknowledgement of
	// a direct send.
	DefaultSendTimeout = 5 * time.Second
	// DefaultDrainTimeout bounds the wait for the acknowledgements of one
	// drain batch.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultBatch is the number of records the drainer publishes at once.
	DefaultBatch = 500

	// maxGroupRecords and maxGroupBytes cap what one fsync commits.
	maxGroupRecords = 1024
	maxGroupBytes   = 8 << 20
	// maxDrainBytes caps the encoded size of one drain batch (a batch holds
	// at least one record).
	maxDrainBytes = 16 << 20

	recordPrefix     = 'r'
	quarantinePrefix = 'q'
	keyLen           = 9
)

// Option configures a Spool.
type Option func(*config)

type config struct {
	maxBytes     int64
	log          *zap.Logger
	meter        metric.Meter
	sendTimeout  time.Duration
	drainTimeout time.Duration
	batch        int
	fs           vfs.FS
	minBackoff   time.Duration
	maxBackoff   time.Duration
}

// WithMaxBytes bounds the spool to n bytes of encoded records (default
// DefaultMaxBytes). An append that would exceed it fails with ErrFull.
func WithMaxBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = l } }

// WithMeter sets the meter for the spool's metrics (default: none).
func WithMeter(m metric.Meter) Option { return func(c *config) { c.meter = m } }

// WithSendTimeout bounds the wait for the acknowledgement of a direct send
// before the record is spooled instead (default DefaultSendTimeout).
func WithSendTimeout(d time.Duration) Option { return func(c *config) { c.sendTimeout = d } }

// WithDrainTimeout bounds the wait for the acknowledgements of one drain
// batch before it is retried (default DefaultDrainTimeout).
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithBatch sets how many records the drainer publishes at once (default
// DefaultBatch).
func WithBatch(n int) Option { return func(c *config) { c.batch = n } }

// WithFS sets the file system the database lives on (default: the
// operating system's).
func WithFS(fs vfs.FS) Option { return func(c *config) { c.fs = fs } }

// WithBackoff bounds the drainer's delay between failed attempts; it doubles
// from min up to max (defaults 100ms and 10s).
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = min, max }
}

// Spool is a bounded, durable, ordered queue of records in front of a
// Sender. See the package documentation. Safe for concurrent use.
type Spool struct {
	cfg    config
	sender stream.Sender
	db     *pebble.DB
	log    *zap.Logger

	// ctx ends with Close; it stops the writer and the drainer.
	ctx    context.Context
	cancel context.CancelFunc

	// reqs hands appends to the writer goroutine (unbuffered: a request the
	// writer received is always answered).
	reqs        chan *appendReq
	writerDone  chan struct{}
	wake        chan struct{}
	running     atomic.Bool
	runs        sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
	metricsUnrg metric.Registration

	// mu guards the counters below and the choice between direct and
	// spooled publishing.
	mu       sync.Mutex
	closed   bool
	records  int64 // committed and not yet deleted
	bytes    int64
	resRecs  int64 // reserved: handed to the writer, not yet committed
	resBytes int64
	filling  bool // a Publish fell back to the spool since it was last empty
	outage   time.Time

	// next is the sequence of the next record; only the writer uses it
	// after Open.
	next uint64
	// head is the sequence of the oldest record; only the drainer uses it
	// after Open.
	head uint64

	// groups and grouped count fsync groups and the records in them.
	groups, grouped atomic.Int64

	appended    metric.Int64Counter
	drained     metric.Int64Counter
	quarantined metric.Int64Counter
	refused     metric.Int64Counter
	direct      metric.Int64Counter
	groupSize   metric.Int64Histogram
}

type appendReq struct {
	val  []byte
	size int64
	done chan error
}

// Open opens (creating it if necessary) the spool in dir; records are
// published with sender. Records left by an earlier run are drained by Run.
func Open(dir string, sender stream.Sender, opts ...Option) (*Spool, error) {
	cfg := config{maxBytes: DefaultMaxBytes, sendTimeout: DefaultSendTimeout, drainTimeout: DefaultDrainTimeout,
		batch: DefaultBatch, minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.log == nil {
		cfg.log = zap.NewNop()
	}
	if cfg.meter == nil {
		cfg.meter = noop.NewMeterProvider().Meter("spool")
	}
	if cfg.batch <= 0 {
		cfg.batch = DefaultBatch
	}
	if cfg.sendTimeout <= 0 {
		cfg.sendTimeout = DefaultSendTimeout
	}
	if cfg.drainTimeout <= 0 {
		cfg.drainTimeout = DefaultDrainTimeout
	}
	if cfg.minBackoff <= 0 {
		cfg.minBackoff = time.Millisecond
	}
	if cfg.maxBackoff < cfg.minBackoff {
		cfg.maxBackoff = cfg.minBackoff
	}
	log := cfg.log.With(zap.String("spool", dir))
	cache := pebble.NewCache(8 << 20)
	defer cache.Unref()
	po := &pebble.Options{
		Logger:             pebbleLogger{l: log.Sugar().With(zap.String("component", "pebble"))},
		FormatMajorVersion: pebble.FormatNewest,
		Cache:              cache,
		FS:                 cfg.fs,
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	s := &Spool{cfg: cfg, sender: sender, db: db, log: log,
		reqs: make(chan *appendReq), writerDone: make(chan struct{}), wake: make(chan struct{}, 1)}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.initMetrics(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if s.records > 0 {
		log.Warn("spool holds records from an earlier run", zap.Int64("records", s.records), zap.Int64("bytes", s.bytes))
		s.filling = true
		s.outage = time.Now()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.writer()
	return s, nil
}

// load counts the records and finds the oldest and the next sequence.
func (s *Spool) load() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{recordPrefix}, UpperBound: []byte{recordPrefix + 1}})
	if err != nil {
		return fmt.Errorf("spool: load: %w", err)
	}
	defer it.Close()
	first := true
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		if len(k) != keyLen {
			return fmt.Errorf("spool: load: unexpected key %x", k)
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if first {
			s.head, first = seq, false
		}
		s.next = seq + 1
		s.records++
		s.bytes += int64(len(k)) + int64(len(it.Value()))
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("spool: load: %w", err)
	}
	if first {
		s.head, s.next = 1, 1
	}
	return nil
}

func (s *Spool) initMetrics() error {
	m := s.cfg.meter
	var err error
	var errs []error
	recs, err := m.Int64ObservableGauge("hazelnut.spool.records", metric.WithDescription("records waiting in the spool"))
	errs = append(errs, err)
	bytes, err := m.Int64ObservableGauge("hazelnut.spool.bytes", metric.WithUnit("By"), metric.WithDescription("encoded bytes waiting in the spool"))
	errs = append(errs, err)
	s.appended, err = m.Int64Counter("hazelnut.spool.appended", metric.WithDescription("records written to the spool"))
	errs = append(errs, err)
	s.drained, err = m.Int64Counter("hazelnut.spool.drained", metric.WithDescription("spooled records acknowledged by the broker and removed"))
	errs = append(errs, err)
	s.quarantined, err = m.Int64Counter("hazelnut.spool.quarantined", metric.WithDescription("spooled records that could not be decoded, moved aside"))
	errs = append(errs, err)
	s.refused, err = m.Int64Counter("hazelnut.spool.full", metric.WithDescription("records refused because the spool was full"))
	errs = append(errs, err)
	s.direct, err = m.Int64Counter("hazelnut.spool.direct", metric.WithDescription("records published directly, bypassing the spool"))
	errs = append(errs, err)
	s.groupSize, err = m.Int64Histogram("hazelnut.spool.fsync.group_size", metric.WithDescription("records committed by one fsync"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: metrics: %w", err)
	}
	s.metricsUnrg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r, b := s.Len()
		o.ObserveInt64(recs, r)
		o.ObserveInt64(bytes, b)
		return nil
	}, recs, bytes)
	if err != nil {
		return fmt.Errorf("spool: metrics: %w", err)
	}
	return nil
}

// Len returns the number of records in the spool and their encoded size
// (appends still waiting for their fsync excluded).
func (s *Spool) Len() (records int64, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records, s.bytes
}

// Publish publishes rec. While the spool is empty it sends rec directly and
// waits at most the send timeout for the acknowledgement; it returns
// (false, nil) once the broker acknowledged. When the direct send fails for
// any reason, or when records are waiting in the spool (so rec must not
// overtake them), rec is appended to the spool and Publish returns
// (true, nil) after the fsync. A record that does not fit fails with
// ErrFull and is not written.
//
// A direct send whose acknowledgement did not arrive in time may still be
// written by the producer; it is spooled as well and then published twice
// with the same content. Consumers drop such duplicates by the request id
// carried inside the value.
//
// ctx bounds the direct send and the wait for a place in the write queue;
// once a record is queued Publish waits for its fsync. A record whose
// direct send failed because ctx ended is still spooled: it may have been
// written.
func (s *Spool) Publish(ctx context.Context, rec stream.Record) (spooled bool, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, ErrClosed
	}
	direct := s.records+s.resRecs == 0
	s.mu.Unlock()
	if !direct {
		if err := s.append(ctx, rec, nil); err != nil {
			return false, err
		}
		return true, nil
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.sendTimeout)
	serr := s.sender.Send(sctx, rec)
	cancel()
	if serr == nil {
		s.direct.Add(ctx, 1)
		return false, nil
	}
	if err := s.append(context.WithoutCancel(ctx), rec, serr); err != nil {
		return false, err
	}
	return true, nil
}

// Enqueue appends rec to the spool and returns after its fsync, whether or
// not the spool is empty. The drainer publishes it. ctx bounds the wait for
// a place in the write queue; a record that got one is written, and Enqueue
// waits for its fsync.
func (s *Spool) Enqueue(ctx context.Context, rec stream.Record) error {
	return s.append(ctx, rec, nil)
}

// append reserves room for rec, hands it to the writer and waits for the
// fsync. A non-nil cause marks an append after a failed direct send.
func (s *Spool) append(ctx context.Context, rec stream.Record, cause error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	val := encode(rec)
	size := int64(keyLen + len(val))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.bytes+s.resBytes+size > s.cfg.maxBytes {
		s.mu.Unlock()
		s.refused.Add(ctx, 1)
		return ErrFull
	}
	if cause != nil && !s.filling {
		s.filling = true
		s.outage = time.Now()
		s.log.Warn("direct publish failed; spooling records until the broker acknowledges again",
			zap.Int64("records", s.records+s.resRecs), zap.NamedError("cause", cause))
	}
	s.resRecs++
	s.resBytes += size
	s.mu.Unlock()

	req := &appendReq{val: val, size: size, done: make(chan error, 1)}
	var err error
	select {
	case s.reqs <- req:
		err = <-req.done
	case <-s.ctx.Done():
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.unreserve(1, size)
		return err
	}
	s.appended.Add(ctx, 1)
	return nil
}

// unreserve releases a reservation whose record was not written.
func (s *Spool) unreserve(n, size int64) {
	s.mu.Lock()
	s.resRecs -= n
	s.resBytes -= size
	s.emptied()
	s.mu.Unlock()
}

// emptied logs the end of an outage once nothing waits any more; s.mu is
// held.
func (s *Spool) emptied() {
	if s.filling && s.records+s.resRecs == 0 {
		s.filling = false
		s.log.Info("spool drained; publishing directly again", zap.Duration("after", time.Since(s.outage)))
	}
}

// writer commits appends in groups: it takes every request waiting (up to
// a cap), writes them in one batch with one fsync and then answers all of
// them.
func (s *Spool) writer() {
	defer close(s.writerDone)
	group := make([]*appendReq, 0, maxGroupRecords)
	key := make([]byte, keyLen)
	key[0] = recordPrefix
	for {
		group = group[:0]
		select {
		case req := <-s.reqs:
			group = append(group, req)
		case <-s.ctx.Done():
			return
		}
		size := group[0].size
	collect:
		for len(group) < maxGroupRecords && size < maxGroupBytes {
			select {
			case req := <-s.reqs:
				group = append(group, req)
				size += req.size
			default:
				break collect
			}
		}
		b := s.db.NewBatch()
		for i, req := range group {
			binary.BigEndian.PutUint64(key[1:], s.next+uint64(i))
			if err := b.Set(key, req.val, nil); err != nil {
				panic(err) // a batch Set only fails for a closed batch
			}
		}
		err := b.Commit(pebble.Sync)
		_ = b.Close()
		if err != nil {
			err = fmt.Errorf("spool: write: %w", err)
		} else {
			s.next += uint64(len(group))
			s.groups.Add(1)
			s.grouped.Add(int64(len(group)))
			s.groupSize.Record(context.Background(), int64(len(group)))
			s.mu.Lock()
			s.records += int64(len(group))
			s.bytes += size
			s.resRecs -= int64(len(group))
			s.resBytes -= size
			s.mu.Unlock()
		}
		// On error each appender releases its own reservation.
		for _, req := range group {
			req.done <- err
		}
		if err == nil {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Close stops the drainer and the writer and closes the database. Appends
// that did not reach the writer fail with ErrClosed.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		<-s.writerDone
		s.runs.Wait()
		var errs []error
		if s.metricsUnrg != nil {
			errs = append(errs, s.metricsUnrg.Unregister())
		}
		errs = append(errs, s.db.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// pebbleLogger adapts a zap logger to pebble.Logger: pebble's informational
// messages go to debug level.
type pebbleLogger struct{ l *zap.SugaredLogger }

func (z pebbleLogger) Infof(format string, args ...any)  { z.l.Debugf(format, args...) }
func (z pebbleLogger) Errorf(format string, args ...any) { z.l.Errorf(format, args...) }

// Fatalf must not return; it logs and panics so that deferred cleanup runs.
func (z pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	z.l.Error(msg)
	panic("pebble: " + msg)
}
