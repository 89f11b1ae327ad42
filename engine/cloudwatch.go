package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/parser"
	"github.com/logrouter/logrouter/tenant"
)

// ackStater is implemented by sinks that report the set of input events acknowledged so far (a
// *batcher.Batcher, which also takes Options.Resume and notifies through Options.OnAck); the engine then
// checkpoints that set each time it grows, and a retry skips exactly those events.
type ackStater interface{ AckState() batcher.AckState }

// acker is implemented by sinks that can report only their acknowledged prefix while running; the engine
// then checkpoints it every CheckpointInterval.
type acker interface{ Acked() int64 }

// bodyReader remembers the transport error of the object body, to tell a broken connection (recoverable)
// from a corrupt object (not). The parser's pipeline goroutine may still be in Read when the delivery stops
// early (the context ended), so its counters are safe to read from another goroutine.
type bodyReader struct {
	r   io.Reader
	n   atomic.Int64
	mu  sync.Mutex
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// readErr is the body's transport error so far.
func (b *bodyReader) readErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (p *Processor) batcherOptions(c tenant.Config) func(*batcher.Options) {
	return func(o *batcher.Options) {
		if c.RetentionInDays != nil {
			o.RetentionDays = *c.RetentionInDays
		}
		o.KMSKeyID = c.KMSKeyID
		o.Existence = p.o.Existence
		if p.m != nil {
			o.Metrics = p.m.Batcher
		}
		if p.o.Now != nil {
			o.Now = p.o.Now
		}
		if p.o.Batcher != nil {
			p.o.Batcher(o)
		}
	}
}

// streamObject fetches and decodes the object once and feeds every event to each CloudWatch destination.
// Each destination skips the events earlier attempts delivered; one destination failing stops only its feed.
func (p *Processor) streamObject(ctx context.Context, src S3API, obj ObjectRef, etag string, dests []*delivery, res *ObjectResult) {
	var live []*delivery
	for _, d := range dests {
		client, scope, err := p.clients.CloudWatchLogs(ctx, d.cfg.LogDistributionRoleARN, d.cfg.ExternalID, d.cfg.TenantID, d.res.Region)
		if err != nil {
			d.res.set(classifyCloudWatch(ctx, fmt.Errorf("CloudWatch Logs client for tenant %q: %w", d.cfg.TenantID, err)))
			continue
		}
		d.ctx, d.cancel = context.WithCancel(ctx)
		d.sink = p.o.NewSink(d.ctx, client, scope, batcher.Destination{LogGroup: d.cfg.LogGroupName, LogStream: d.res.Stream},
			p.batcherOptions(d.cfg), d.resumeOptions, obj.Replay.batcherOptions)
		live = append(live, d)
	}
	if len(live) == 0 {
		return
	}
	defer func() {
		for _, d := range live {
			d.cancel()
		}
	}()
	out, err := src.GetObject(ctx, &s3.GetObjectInput{Bucket: &obj.Bucket, Key: &obj.Key, VersionId: nonEmpty(obj.VersionID)},
		quietChecksum)
	if err != nil {
		st := classifySource(ctx, fmt.Errorf("get s3://%s/%s: %w", obj.Bucket, obj.Key, err))
		for _, d := range live {
			d.sink.Close()
			d.res.set(st)
		}
		return
	}
	defer out.Body.Close()
	if got := strings.Trim(aws.ToString(out.ETag), `"`); etag != "" && got != "" && got != etag {
		st := status{OutcomeDropped, ReasonSourceSuperseded, fmt.Errorf("s3://%s/%s was replaced (ETag %s, notified %s); its own notification delivers it", obj.Bucket, obj.Key, got, etag)}
		for _, d := range live {
			d.sink.Close()
			d.res.set(st)
		}
		return
	}
	lastModified := aws.ToTime(out.LastModified)
	body := &bodyReader{r: out.Body}
	rd := p.o.NewReader(body, lastModified)
	defer rd.Close()

	for _, d := range live {
		d.ckpt = p.startCheckpoints(ctx, d)
	}
	// With several destinations each gets its own feeder, so that a slow one (throttled, retrying) holds
	// the others back only until it is detached; with one, events go straight to its sink.
	fan := len(live) > 1
	if fan {
		for _, d := range live {
			d.startFeeder()
		}
	}
	var idx int64
	var readErr error
	var slab []byte // fan-out copies are carved from slabs, never reused: feeders may still hold them
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		alive := false
		var shared []byte // the message, copied once for every feeder
		for _, d := range live {
			if d.stopped() {
				continue
			}
			alive = true
			if idx < d.skip {
				continue
			}
			if !fan {
				if err := d.sink.Add(batcherEvent(ev, ev.Message)); err != nil {
					d.failed = err
					continue
				}
				d.added++
				continue
			}
			if shared == nil {
				if len(ev.Message) > cap(slab)-len(slab) {
					slab = make([]byte, 0, max(slabBytes, len(ev.Message)))
				}
				n := len(slab)
				slab = append(slab, ev.Message...)
				shared = slab[n:len(slab):len(slab)]
			}
			if !d.feed(ctx, batcherEvent(ev, shared), p.o.DetachAfter) && d.detached.Load() {
				p.log.Warn("slow destination detached from the object; it resumes on redelivery", "tenant", d.cfg.TenantID,
					"log_group", d.cfg.LogGroupName, "log_stream", d.res.Stream, "after", p.o.DetachAfter.String())
			}
		}
		if !alive {
			break
		}
		idx++
		if idx&1023 == 0 && ctx.Err() != nil {
			readErr = ctx.Err()
			break
		}
	}
	if fan {
		for _, d := range live {
			d.endFeed()
		}
	}
	for _, d := range live {
		d.fed.Store(idx) // every event is handed over: a checkpoint acknowledging them all is the final write's
	}
	st := rd.Stats()
	bodyBytes := body.n.Load()
	res.EventsRead, res.BytesRead = st.Events, bodyBytes
	res.BytesUncompressed, res.OversizedLines = st.BytesOut, st.OversizedLines
	p.count(func(m *Metrics) {
		m.ObjectBytes.Add(float64(bodyBytes))
		m.ObjectBytesUn.Add(float64(st.BytesOut))
		m.EventsRead.Add(float64(st.Events))
		m.Malformed.Add(float64(st.MalformedLines + st.OversizedLines))
	})

	// What the read error means for every destination that did not fail by itself.
	readStatus := status{}
	var ce *parser.CorruptError
	switch {
	case readErr == nil:
	case interrupted(ctx, readErr):
		readStatus = status{OutcomeRetry, ReasonInterrupted, readErr}
	case body.readErr() != nil:
		readStatus = status{OutcomeRetry, ReasonTransient, fmt.Errorf("read s3://%s/%s: %w", obj.Bucket, obj.Key, body.readErr())}
	case errors.As(readErr, &ce):
		readStatus = status{OutcomeDropped, ReasonCorruptObject, fmt.Errorf("s3://%s/%s: %w", obj.Bucket, obj.Key, readErr)}
	default:
		readStatus = status{OutcomeRetry, ReasonTransient, fmt.Errorf("decode s3://%s/%s: %w", obj.Bucket, obj.Key, readErr)}
	}

	var wg sync.WaitGroup
	for _, d := range live {
		wg.Go(func() {
			r, err := d.sink.Close() // checkpoints continue while in-flight requests complete
			d.ckpt.wait()
			if err == nil {
				err = d.failed
			}
			d.res.Events, d.res.Requests, d.res.Bytes = r.Acked-r.Stats.Resumed, r.Stats.Requests, r.Stats.Bytes
			stats := r.Stats
			d.res.Stats = &stats
			acked := d.ackState(&r)
			switch {
			case d.detached.Load():
				d.res.set(status{OutcomeRetry, ReasonSlowDestination, fmt.Errorf("%s:%s accepted no event for %s while the object's other destinations went on", d.cfg.LogGroupName, d.res.Stream, p.o.DetachAfter)})
			case err != nil:
				d.res.set(classifyCloudWatch(ctx, fmt.Errorf("deliver to %s:%s: %w", d.cfg.LogGroupName, d.res.Stream, err)))
			case readStatus.Outcome == OutcomeRetry:
				d.res.set(readStatus)
			default:
				d.res.set(readStatus) // success, or corrupt: everything readable was delivered
				d.final = &Progress{Done: true, Acked: acked.Prefix}
				p.observeLatency(tenant.TypeCloudWatch, obj, lastModified)
				return
			}
			if !acked.Equal(d.saved) {
				d.final = &Progress{Acked: acked.Prefix, Ranges: acked.Ranges} // recorded by the object's final write
			}
		})
	}
	wg.Wait()
}

type checkpoints struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func (c *checkpoints) stop() { c.once.Do(func() { close(c.done) }) }
func (c *checkpoints) wait() { c.stop(); c.wg.Wait() }

// startCheckpoints persists what d's sink acknowledged while it is delivered, when the sink reports it:
// each time the acknowledged set grows (the sink's OnAck) and every CheckpointInterval. Writes are coalesced:
// one at a time, each with the latest state, so a crash re-sends only what was acknowledged after the last
// completed write (typically the requests in flight) and what was never acknowledged.
func (p *Processor) startCheckpoints(ctx context.Context, d *delivery) *checkpoints {
	c := &checkpoints{done: make(chan struct{})}
	_, hasState := d.sink.(ackStater)
	_, hasPrefix := d.sink.(acker)
	if !hasState && !hasPrefix {
		return c
	}
	c.wg.Go(func() {
		t := time.NewTicker(p.o.CheckpointInterval)
		defer t.Stop()
		ticked := false
		for {
			select {
			case <-c.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				ticked = true
			case <-d.ackNote:
				ticked = false
			}
			st := d.ackState(nil)
			if n := d.fed.Load(); !ticked && n >= 0 && st.Prefix >= n {
				// Everything read is acknowledged: the object's final write (done) normally follows at once,
				// so this one would only repeat it (one write per object finished by its last request). Should
				// the sink take longer to close, or the object's other destinations longer to finish, the next
				// tick writes it.
				continue
			}
			if !st.Equal(d.saved) {
				p.saveProgress(ctx, d, Progress{Acked: st.Prefix, Ranges: st.Ranges})
				d.saved = st
			}
		}
	})
	return c
}

// resumeOptions makes a batcher skip what earlier attempts acknowledged and notify acknowledgements.
func (d *delivery) resumeOptions(o *batcher.Options) {
	o.Resume = d.resume
	o.OnAck = func() {
		select {
		case d.ackNote <- struct{}{}:
		default: // a checkpoint is already due; it reads the latest state
		}
	}
}

// ackState is the set of input events acknowledged so far, by earlier attempts and this one: from the sink
// when it reports a set, else the prefix it acknowledged (from its Close result when closed is set).
func (d *delivery) ackState(closed *batcher.Result) batcher.AckState {
	if s, ok := d.sink.(ackStater); ok {
		return s.AckState()
	}
	var n int64
	if closed != nil {
		n = closed.Acked
	} else if a, ok := d.sink.(acker); ok {
		n = a.Acked()
	}
	return batcher.AckState{Prefix: d.skip + n}
}

// observeLatency records how long after it was written an object reached a destination; replays (old
// objects by design) are left out, so that they do not set off the latency alert.
func (p *Processor) observeLatency(t tenant.Type, obj ObjectRef, from time.Time) {
	if from.IsZero() || obj.Replay != nil {
		return
	}
	p.count(func(m *Metrics) { m.Latency.WithLabelValues(string(t)).Observe(p.o.Now().Sub(from).Seconds()) })
}

// quietChecksum stops the SDK from printing a non-JSON line to stderr for every object stored without a
// checksum (objects written before S3's default checksums, or by emulators); the gzip CRC still guards the
// body.
func quietChecksum(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true }

// feederDepth bounds the events, and feederBytes the message bytes, queued for one destination's feeder.
const (
	feederDepth = 1024
	feederBytes = 8 << 20
	slabBytes   = 1 << 20
)

// feeder hands one destination its events on its own goroutine.
type feeder struct {
	ch      chan batcher.Event
	space   chan struct{} // poked whenever queued bytes drop
	queued  atomic.Int64
	done    chan struct{}
	closed  bool
	failing atomic.Bool // the sink returned an error (d.failed, readable after done)
}

func (d *delivery) startFeeder() {
	f := &feeder{ch: make(chan batcher.Event, feederDepth), space: make(chan struct{}, 1), done: make(chan struct{})}
	d.feeder = f
	go func() {
		defer close(f.done)
		for ev := range f.ch {
			if !f.failing.Load() {
				if err := d.sink.Add(ev); err != nil {
					d.failed = err
					f.failing.Store(true)
				} else {
					d.added++
				}
			}
			f.queued.Add(-int64(len(ev.Message)))
			select {
			case f.space <- struct{}{}:
			default:
			}
		}
	}()
}

// stopped reports whether the destination takes no more events: its sink failed or it was detached.
func (d *delivery) stopped() bool {
	if d.feeder == nil {
		return d.failed != nil
	}
	return d.feeder.failing.Load() || d.detached.Load()
}

// feed queues ev for the destination, waiting while its queue is full; after waiting detachAfter it
// detaches the destination (stops its sink) and returns false.
func (d *delivery) feed(ctx context.Context, ev batcher.Event, detachAfter time.Duration) bool {
	f := d.feeder
	var timer *time.Timer
	for {
		if f.queued.Load() < feederBytes || f.queued.Load() == 0 {
			select {
			case f.ch <- ev:
				f.queued.Add(int64(len(ev.Message)))
				if timer != nil {
					timer.Stop()
				}
				return true
			default:
			}
		}
		if f.failing.Load() {
			return false
		}
		if timer == nil {
			timer = time.NewTimer(detachAfter)
		}
		select {
		case <-f.space:
		case <-time.After(10 * time.Millisecond): // the channel may have room without bytes moving
		case <-timer.C:
			d.detached.Store(true)
			d.cancel() // unblocks the sink; what it acknowledged stays on record
			return false
		case <-ctx.Done():
			timer.Stop()
			return false
		}
	}
}

// endFeed lets the feeder drain and waits for it.
func (d *delivery) endFeed() {
	if d.feeder != nil && !d.feeder.closed {
		d.feeder.closed = true
		close(d.feeder.ch)
		<-d.feeder.done
	}
}

// batcherEvent hands the parser's event, with msg as its message bytes, to a batcher, passing on the length
// the parser measured while validating it when that spares the batcher a second scan (see batcher.Event);
// msg is ev.Message or a copy of it.
func batcherEvent(ev *parser.Event, msg []byte) batcher.Event {
	be := batcher.Event{Timestamp: ev.Timestamp, Message: msg, Escaped: ev.Escaped}
	if ev.Escaped && !ev.UnicodeEscapes {
		be.TextLen = ev.TextLen
	}
	return be
}
