// Package batcher turns a stream of events for one CloudWatch Logs destination (log group + log stream) into
// PutLogEvents requests that CloudWatch accepts, sends them with the AWS SDK (several in flight), retries
// transient failures, creates missing groups/streams, and reports exactly which input events were
// acknowledged (AckState), so that a later attempt can resume without re-sending them (Options.Resume).
//
// Limits honoured (see the README section "CloudWatch Logs delivery: limits and policies"):
//
//   - a request holds at most 10,000 events and Σ(UTF-8 bytes of each message + 26) ≤ 1,048,576, counted on
//     the text as CloudWatch decodes it (escape sequences resolved, invalid UTF-8 counted as U+FFFD);
//   - events in a request are in chronological order; equal timestamps keep their input order;
//   - a request spans at most 24 hours;
//   - one event is at most Options.MaxEventBytes (message + 26); longer messages are split into consecutive
//     events on character boundaries; empty messages are dropped and counted;
//   - events outside [now-14d (or the retention), now+2h] are clamped into the window or dropped (policy).
//
// Packing: events wait in a sort window of Options.SortWindow requests' worth (default 2); each request is
// built from the oldest pending event onwards, taking every pending event that still fits (first fit over a
// time-sorted window), and filling the remaining room with a piece of a message that has to be split anyway.
// Messages are only split when they exceed the event size limit.
package batcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// CloudWatch Logs PutLogEvents limits.
const (
	MaxRequestBytes  = 1_048_576
	MaxRequestEvents = 10_000
	EventOverhead    = 26
	MaxSpan          = 24 * time.Hour
	MaxAge           = 14 * 24 * time.Hour
	MaxFuture        = 2 * time.Hour
	// WindowMargin keeps clamped timestamps this far inside the accepted [now-MaxAge, now+MaxFuture]
	// window, so that an event accepted by the batcher's clock is not rejected a moment later (time in
	// the sort window and in retries, clock skew).
	WindowMargin = 5 * time.Minute
	// DefaultMaxEventBytes is the largest event (message + 26 bytes) of the current PutLogEvents reference.
	DefaultMaxEventBytes = 1_048_576
	// LegacyMaxEventBytes is the older 256 KiB event limit, for partitions that still enforce it.
	LegacyMaxEventBytes = 262_144
	// maxAckLag bounds how far the input may run ahead of the oldest unacknowledged event before that event
	// is sent ahead of its time order (it bounds the acknowledgement bookkeeping).
	maxAckLag = 200_000
)

// Event is one input event. Message is the JSON string body exactly as in the input line when Escaped is
// true (escape sequences intact, no quotes), else the raw message bytes.
type Event struct {
	Timestamp int64 // Unix milliseconds
	Message   []byte
	Escaped   bool
	// TextLen, when positive with Escaped, vouches that Message is valid JSON string content encoding valid
	// UTF-8, that its escape sequences are all two-byte ones (no \uXXXX), and that its unescaped text is
	// TextLen bytes long: what parser.Event reports for such a message (TextLen, UnicodeEscapes false).
	// Add then copies the message as it is instead of validating and measuring it again. Zero: Add checks
	// and measures the message itself. A vouched length that cannot be right (outside [len/2, len] of the
	// message) is ignored.
	TextLen int
}

// Destination is a log group and stream.
type Destination struct {
	LogGroup, LogStream string
}

// API is the subset of *cloudwatchlogs.Client the batcher calls. Implementations other than the SDK client
// must set Options.StockSerializer: by default the batcher writes the request body itself through an SDK
// serialize middleware and passes PutLogEventsInput.LogEvents empty.
type API interface {
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutRetentionPolicy(ctx context.Context, in *cloudwatchlogs.PutRetentionPolicyInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error)
}

// Policy says what happens to events outside CloudWatch's accepted time window.
type Policy uint8

const (
	// PolicyClamp sends the event at the nearest accepted timestamp (counted in Stats.Clamped).
	PolicyClamp Policy = iota
	// PolicyDrop drops the event (counted in Stats.DroppedOutOfWindow); it counts as acknowledged.
	PolicyDrop
)

func (p Policy) String() string {
	if p == PolicyDrop {
		return "drop"
	}
	return "clamp"
}

// ParsePolicy parses "clamp" or "drop".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "clamp":
		return PolicyClamp, nil
	case "drop":
		return PolicyDrop, nil
	}
	return 0, fmt.Errorf("unknown out-of-window policy %q (want clamp or drop)", s)
}

// retentionDays are the values CloudWatch accepts for a log group's retention.
var retentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Options configure a Batcher. Zero values take the defaults.
type Options struct {
	MaxEventBytes int               // largest event incl. the 26-byte overhead; default 1,048,576 (262,144 selectable)
	OutOfWindow   Policy            // PolicyClamp (default) or PolicyDrop
	MaxInFlight   int               // concurrent PutLogEvents requests; default 4
	RetentionDays int32             // the group's retention when known (narrows the too-old window); applied on group creation
	KMSKeyID      string            // applied on group creation
	Tags          map[string]string // applied on group creation
	Existence     *ExistenceCache   // shared across batchers; nil = private
	// StreamProbe: how a stream the existence cache has never seen is found or made (default ProbeAuto).
	StreamProbe StreamProbe
	Retry       RetryPolicy
	// AttemptTimeout bounds one PutLogEvents attempt (a timed-out attempt is retried); default 60s.
	AttemptTimeout time.Duration
	Now            func() time.Time // default time.Now
	Metrics        *Metrics         // optional

	// SortWindow is how many requests' worth of events (bytes and count) wait to be sorted and packed;
	// default 2 (Vector's objects are nearly in time order: a wider window packed no better on them, and
	// cost a request body of memory per step). Memory is about (SortWindow + MaxInFlight) request bodies.
	SortWindow int
	// StockSerializer makes the batcher pass the events in PutLogEventsInput.LogEvents and let the SDK
	// serialize them, instead of writing the pre-escaped body itself. Slower; needed for API
	// implementations that do not run the SDK middleware stack.
	StockSerializer bool

	// Resume is the acknowledged set of an earlier attempt at the same input. The caller skips the first
	// Resume.Prefix input events and Adds the rest in input order, the first Add being input index
	// Resume.Prefix; events inside Resume.Ranges are counted (Stats.Resumed) and acknowledged at once, never
	// sent. AckState reports input indices on the same numbering.
	Resume AckState
	// OnAck, when set, is called whenever the acknowledged set grows: from the senders, and from Add for
	// dropped or resumed events. It must not block nor call Add or Close: it is a notification to read
	// AckState, which may already have grown further.
	OnAck func()
}

// Validate reports invalid options (after defaults).
func (o *Options) Validate() error {
	var errs []error
	if o.MaxEventBytes < 1024 || o.MaxEventBytes > MaxRequestBytes {
		errs = append(errs, fmt.Errorf("MaxEventBytes %d outside [1024, %d]", o.MaxEventBytes, MaxRequestBytes))
	}
	if o.OutOfWindow > PolicyDrop {
		errs = append(errs, fmt.Errorf("unknown OutOfWindow policy %d", o.OutOfWindow))
	}
	if o.MaxInFlight < 1 || o.MaxInFlight > 64 {
		errs = append(errs, fmt.Errorf("MaxInFlight %d outside [1, 64]", o.MaxInFlight))
	}
	if _, err := ParseStreamProbe(string(o.StreamProbe)); err != nil {
		errs = append(errs, err)
	}
	if o.RetentionDays != 0 && !slices.Contains(retentionDays, o.RetentionDays) {
		errs = append(errs, fmt.Errorf("RetentionDays %d is not a CloudWatch retention value", o.RetentionDays))
	}
	if o.SortWindow < 1 || o.SortWindow > 64 {
		errs = append(errs, fmt.Errorf("SortWindow %d outside [1, 64]", o.SortWindow))
	}
	if err := o.Resume.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("option Resume: %w", err))
	}
	return errors.Join(errs...)
}

func (o *Options) setDefaults() {
	if o.MaxEventBytes == 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 4
	}
	if o.SortWindow == 0 {
		o.SortWindow = 2
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Existence == nil {
		o.Existence = NewExistenceCache(16)
	}
	if o.StreamProbe == "" {
		o.StreamProbe = ProbeAuto
	}
	o.Retry = o.Retry.withDefaults()
}

// Result is the outcome of a delivery.
type Result struct {
	// Acked is the length of the contiguous prefix of the added events (in Add order) that CloudWatch
	// accepted or that were dropped/rejected by policy or resumed: input events [Resume.Prefix,
	// Resume.Prefix+Acked) are acknowledged. AckState tells which events beyond that prefix are as well.
	Acked int64
	Stats Stats
}

// Stats count what happened to a delivery's events and requests.
type Stats struct {
	EventsIn           int64 // Add calls
	EventsOut          int64 // events accepted by CloudWatch (pieces of split messages counted individually)
	Split              int64 // input messages split into several events
	DroppedEmpty       int64
	DroppedOutOfWindow int64 // PolicyDrop
	Clamped            int64 // PolicyClamp
	RejectedTooOld     int64 // per event, from rejectedLogEventsInfo
	RejectedTooNew     int64
	RejectedExpired    int64
	Resumed            int64   // added events inside Options.Resume.Ranges, acknowledged without sending
	Requests           int64   // accepted PutLogEvents requests
	Retries            int64   // attempts beyond the first
	Bytes              int64   // Σ(message UTF-8 bytes + 26) of accepted requests
	FillSum            float64 // Σ request fill ratios (bytes or events, whichever binds); mean = FillSum/Requests
}

// item is one pending (part of a) message in the sort window.
type item struct {
	ts    int64
	seq   int64  // input index
	ar    *arena // arena holding wire; nil when not recycled
	wire  []byte // canonical wire bytes still to send
	ulen  int    // unescaped UTF-8 length of wire; 0 = consumed
	plain bool
	split bool     // larger than the event limit: may be cut on any character boundary
	prev  *request // request holding the previous piece of this message
}

func less(a, b *item) int {
	switch {
	case a.ts < b.ts:
		return -1
	case a.ts > b.ts:
		return 1
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

// Batcher delivers one destination's events. Add and Close may be called from different goroutines but
// not concurrently with Close.
type Batcher struct {
	ctx    context.Context
	client API
	scope  string
	dest   Destination
	opts   Options
	maxU   int // largest message per event
	prefix []byte

	addMu     sync.Mutex
	closed    bool
	nextSeq   int64    // input index of the next Add
	resumeAt  int      // first Options.Resume.Ranges entry not behind nextSeq
	arena     *arena   // where Add copies messages
	arenas    []*arena // recycled arenas
	big       *arena   // a recycled arena larger than arenaSize (see newArena)
	winLo     int64    // accepted timestamps [winLo, winHi], from Now at the last refresh
	winHi     int64
	winLeft   int    // events before the bounds are refreshed
	win       []item // sorted by (ts, seq)
	fresh     []item // appended since the last merge, in (ts, seq) order
	late      []item // appended since the last merge, too far out of order for fresh; unsorted
	spare     []item
	order     []int   // build scratch
	pieces    []piece // build scratch
	altPieces []piece
	winU      int64 // Σ(ulen + 26) over the window
	winWire   int64
	winN      int

	queue chan *request
	wg    sync.WaitGroup

	acks ackTracker

	statsMu sync.Mutex // guards Requests, Retries, Bytes, FillSum; the event counters are atomic
	stats   Stats

	failOnce sync.Once
	failed   chan struct{}
	err      error

	createMu   sync.Mutex
	created    bool
	knownMu    sync.Mutex
	knownMarks bool
}

// New starts a batcher for one destination; ctx governs all its work (cancel it to abandon delivery). scope
// identifies the account and region (e.g. the credentials key and region) for the existence cache. Invalid
// options make every Add and Close return the validation error.
func New(ctx context.Context, client API, scope string, dest Destination, optFns ...func(*Options)) *Batcher {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	o.setDefaults()
	b := &Batcher{
		ctx:    ctx,
		client: client,
		scope:  scope,
		dest:   dest,
		opts:   o,
		maxU:   o.MaxEventBytes - EventOverhead,
		queue:  make(chan *request),
		failed: make(chan struct{}),
	}
	if sc := freeBufs.scratch.get(); sc != nil {
		b.win, b.fresh, b.late, b.spare, b.order, b.pieces, b.altPieces = sc.win, sc.fresh, sc.late, sc.spare, sc.order, sc.pieces, sc.altPieces
	}
	if o.Resume.Validate() == nil {
		b.nextSeq = o.Resume.Prefix
		b.acks.init(o.Resume)
	} else {
		b.opts.Resume = AckState{} // Validate below fails the batcher
	}
	g, _ := json.Marshal(dest.LogGroup)
	s, _ := json.Marshal(dest.LogStream)
	b.prefix = fmt.Appendf(nil, `{"logGroupName":%s,"logStreamName":%s,"logEvents":[`, g, s)
	if err := o.Validate(); err != nil {
		b.fail(fmt.Errorf("batcher options: %w", err))
		return b
	}
	if dest.LogGroup == "" || dest.LogStream == "" {
		b.fail(errors.New("batcher: destination log group and stream are required"))
		return b
	}
	for range o.MaxInFlight {
		b.wg.Add(1)
		go b.worker()
	}
	return b
}

var errClosed = errors.New("batcher: Add after Close")

func (b *Batcher) fail(err error) {
	b.failOnce.Do(func() {
		b.err = err
		close(b.failed)
		if m := b.opts.Metrics; m != nil {
			m.deliveryError.WithLabelValues(classify(err).String()).Inc()
		}
	})
}

func (b *Batcher) failure() error {
	select {
	case <-b.failed:
		return b.err
	default:
		return nil
	}
}

// count adds n to an event counter (atomically: Add and the senders count concurrently) and its metric.
func (b *Batcher) count(outcome string, field *int64, n int64) {
	atomic.AddInt64(field, n)
	if m := b.opts.Metrics; m != nil {
		m.event(outcome).Add(float64(n))
	}
}

// Add queues one event. It copies ev.Message before returning and may block while MaxInFlight requests are
// in flight (back-pressure). It returns the batcher's terminal error once the batcher has failed.
func (b *Batcher) Add(ev Event) error {
	b.addMu.Lock()
	defer b.addMu.Unlock()
	if err := b.failure(); err != nil {
		return err
	}
	if b.closed {
		return errClosed
	}
	if err := b.ctx.Err(); err != nil {
		b.fail(&Error{Op: "Add", Dest: b.dest, Retryable: true, Err: err})
		return b.err
	}
	seq := b.nextSeq
	b.nextSeq++
	b.acks.push(seq)
	b.count("in", &b.stats.EventsIn, 1)
	if rs := b.opts.Resume.Ranges; b.resumeAt < len(rs) {
		for b.resumeAt < len(rs) && rs[b.resumeAt][1] <= seq {
			b.resumeAt++
		}
		if b.resumeAt < len(rs) && rs[b.resumeAt][0] <= seq {
			b.count("resumed", &b.stats.Resumed, 1)
			b.resolve(seq)
			return nil
		}
	}

	vouched := ev.Escaped && ev.TextLen > 0 && ev.TextLen <= len(ev.Message) && 2*ev.TextLen >= len(ev.Message)
	a := b.arena
	if a == nil || cap(a.buf)-len(a.buf) < len(ev.Message) {
		need := len(ev.Message)
		if !vouched {
			need += need / 8 // room for what appendWire may add
		}
		a = b.newArena(need)
	}
	start := len(a.buf)
	var out []byte
	var ulen int
	var plain bool
	if vouched {
		// Already in wire form; each escape is two wire bytes for one text byte.
		out, ulen, plain = append(a.buf, ev.Message...), ev.TextLen, ev.TextLen == len(ev.Message)
	} else {
		out, ulen, plain = appendWire(a.buf, ev.Message, ev.Escaped)
	}
	wire := out[start:len(out):len(out)]
	if cap(out) != cap(a.buf) {
		// The wire form outgrew the arena: it lives in a buffer of its own.
		a = nil
	} else {
		a.buf = out
	}
	return b.addItem(seq, ev.Timestamp, a, wire, ulen, plain)
}

// addItem puts an event's wire bytes (in arena a, or in a buffer of their own when a is nil) in the window,
// unless it is empty or out of the time window by policy. Called by Add with addMu held.
func (b *Batcher) addItem(seq, timestamp int64, a *arena, wire []byte, ulen int, plain bool) error {
	if ulen == 0 {
		if a != nil {
			a.buf = a.buf[:len(a.buf)-len(wire)] // nothing refers to the bytes just copied
		}
		b.count("dropped_empty", &b.stats.DroppedEmpty, 1)
		b.resolve(seq)
		return nil
	}
	ts, ok := b.window(timestamp)
	if !ok {
		if a != nil {
			a.buf = a.buf[:len(a.buf)-len(wire)]
		}
		b.resolve(seq)
		return nil
	}
	if a != nil {
		a.live++
	}
	b.fresh = append(b.fresh, item{ts: ts, seq: seq, ar: a, wire: wire, ulen: ulen, plain: plain, split: ulen > b.maxU})
	b.insertLast()
	b.winU += int64(ulen + EventOverhead)
	b.winWire += int64(len(wire))
	b.winN++
	capU := int64(b.opts.SortWindow) * MaxRequestBytes
	for b.winU > capU || b.winWire > 2*capU || b.winN > b.opts.SortWindow*MaxRequestEvents {
		if err := b.flushOne(); err != nil {
			return err
		}
	}
	return nil
}

// arenaSize is the size of the arenas Add copies messages into; larger messages get an arena of their own,
// whose size is a multiple of bigArenaStep.
const (
	arenaSize    = 256 << 10
	bigArenaStep = 1 << 20
)

// arena is a buffer of wire bytes shared by window items. Once every item in it has been committed to a
// request body (copied), it is reused.
type arena struct {
	buf  []byte
	live int // items whose wire bytes are in buf and not yet committed
}

// newArena makes a fresh current arena with room for n bytes, recycling a free one when it is large enough.
// Arenas for messages larger than arenaSize come in whole MiB and one of them is kept for the next large
// message: long messages then reuse a few buffer sizes instead of leaving a trail of freed spans of every
// size, which the Go heap keeps resident (peak RSS grew with the number of long messages in an object).
func (b *Batcher) newArena(n int) *arena {
	old := b.arena
	var a *arena
	if n <= arenaSize {
		if k := len(b.arenas); k > 0 {
			a = b.arenas[k-1]
			b.arenas = b.arenas[:k-1]
		} else {
			a = freeBufs.arenas.get()
		}
	} else {
		if b.big == nil {
			b.big = freeBufs.big.get()
		}
		if b.big != nil && cap(b.big.buf) >= n {
			a, b.big = b.big, nil
		}
	}
	if a == nil {
		size := arenaSize
		if n > arenaSize {
			size = (n + bigArenaStep - 1) / bigArenaStep * bigArenaStep
		}
		a = &arena{buf: make([]byte, 0, size)}
	}
	b.arena = a
	if old != nil && old.live == 0 {
		b.recycle(old)
	}
	return a
}

// committed is called when item it has been wholly copied into request bodies.
func (b *Batcher) committed(it *item) {
	a := it.ar
	if a == nil {
		return
	}
	it.ar = nil
	if a.live--; a.live == 0 {
		if a == b.arena {
			a.buf = a.buf[:0]
		} else {
			b.recycle(a)
		}
	}
}

// freeBufs holds standard arenas and window slices no batcher uses, so that batchers started one after another
// (one per object) reuse them instead of faulting in fresh memory. A bounded free list rather than a
// sync.Pool: a pool's per-P private slot is not visible to a batcher on another P, and buffers parked
// there until the next GCs inflate the heap.
var freeBufs = struct {
	arenas  freeList[arena]
	big     freeList[arena]
	scratch freeList[scratch]
}{freeList[arena]{max: 8}, freeList[arena]{max: 2}, freeList[scratch]{max: 4}}

// freeList is a bounded, locked LIFO of spare buffers.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
	max   int
}

// get returns a spare buffer, or nil when there is none.
func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.items)
	if n == 0 {
		return nil
	}
	x := f.items[n-1]
	f.items[n-1] = nil
	f.items = f.items[:n-1]
	return x
}

// put keeps x for a later get unless the list is full.
func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.items) < f.max {
		f.items = append(f.items, x)
	}
}

// maxFreeArenas is how many unused arenas a batcher keeps: the window's arenas are freed one at a time,
// and the next one needed is taken from here.
const maxFreeArenas = 4

// recycle keeps an arena that no item refers to for reuse: up to maxFreeArenas of standard size, and the
// largest larger one.
func (b *Batcher) recycle(a *arena) {
	switch c := cap(a.buf); {
	case c == arenaSize && len(b.arenas) < maxFreeArenas:
		a.buf = a.buf[:0]
		b.arenas = append(b.arenas, a)
	case c > arenaSize && (b.big == nil || cap(b.big.buf) < c):
		a.buf = a.buf[:0]
		b.big = a
	}
}

// scratch is a batcher's sort window and build scratch, reused by later batchers (see Close).
type scratch struct {
	win, fresh, late, spare []item
	order                   []int
	pieces, altPieces       []piece
}

// releaseBuffers hands the arenas no item refers to and the window's slices to later batchers. Called by
// Close with addMu held, once no request will be built any more.
func (b *Batcher) releaseBuffers() {
	if a := b.arena; a != nil && a.live == 0 {
		b.recycle(a)
	}
	b.arena = nil
	for _, a := range b.arenas {
		freeBufs.arenas.put(a)
	}
	b.arenas = nil
	if b.big != nil {
		freeBufs.big.put(b.big)
		b.big = nil
	}
	sc := &scratch{win: b.win[:0], fresh: b.fresh[:0], late: b.late[:0], spare: b.spare[:0], order: b.order[:0], pieces: b.pieces[:0], altPieces: b.altPieces[:0]}
	clear(sc.win[:cap(sc.win)]) // drop references to message bytes
	clear(sc.fresh[:cap(sc.fresh)])
	clear(sc.late[:cap(sc.late)])
	clear(sc.spare[:cap(sc.spare)])
	b.win, b.fresh, b.late, b.spare, b.order, b.pieces, b.altPieces = nil, nil, nil, nil, nil, nil, nil
	freeBufs.scratch.put(sc)
}

// windowRefresh is how many events are checked against the same time window bounds; the bounds are also
// refreshed after each request is built. WindowMargin absorbs the staleness.
const windowRefresh = 256

// maxInsertion is how far back insertLast moves an event; an event further out of order goes to late,
// sorted at the next merge.
const maxInsertion = 64

// insertLast moves the event just appended to fresh to its place in (ts, seq) order: input is mostly in
// time order, and a late event is usually only a few places late.
func (b *Batcher) insertLast() {
	f := b.fresh
	last := len(f) - 1
	ts := f[last].ts
	j := last
	for j > 0 && f[j-1].ts > ts { // equal timestamps keep input (seq) order
		if last-j >= maxInsertion {
			b.late = append(b.late, f[last])
			f[last] = item{}
			b.fresh = f[:last]
			return
		}
		j--
	}
	if j < last {
		it := f[last]
		copy(f[j+1:], f[j:last])
		f[j] = it
	}
}

// window applies the out-of-window policy; ok is false when the event is dropped.
func (b *Batcher) window(ts int64) (int64, bool) {
	if b.winLeft <= 0 {
		now := b.opts.Now()
		age := MaxAge
		if r := b.opts.RetentionDays; r > 0 && time.Duration(r)*24*time.Hour < age {
			age = time.Duration(r) * 24 * time.Hour
		}
		b.winLo = now.Add(-age + WindowMargin).UnixMilli()
		b.winHi = now.Add(MaxFuture - WindowMargin).UnixMilli()
		b.winLeft = windowRefresh
	}
	b.winLeft--
	oldest, newest := b.winLo, b.winHi
	if ts >= oldest && ts <= newest {
		return ts, true
	}
	if b.opts.OutOfWindow == PolicyDrop {
		b.count("dropped_out_of_window", &b.stats.DroppedOutOfWindow, 1)
		return 0, false
	}
	b.count("clamped", &b.stats.Clamped, 1)
	if ts < oldest {
		return oldest, true
	}
	return newest, true
}

// resolve resolves one piece of event seq.
func (b *Batcher) resolve(seq int64) {
	b.acked(b.acks.add(seq, -1))
}

// acked accounts for an acknowledgement that advanced the prefix by n events and changed the set or not.
func (b *Batcher) acked(n int64, changed bool) {
	if n > 0 {
		if m := b.opts.Metrics; m != nil {
			m.acked.Add(float64(n))
		}
	}
	if changed && b.opts.OnAck != nil {
		b.opts.OnAck()
	}
}

// Acked returns the current acknowledged prefix length of the added events (see Result.Acked).
func (b *Batcher) Acked() int64 { return b.acks.acked() - b.opts.Resume.Prefix }

// AckState returns the set of acknowledged input events (numbered from 0, the first Add being
// Options.Resume.Prefix), including Options.Resume's ranges not added yet. A later attempt at the same
// input that passes it as Options.Resume sends exactly the events not in it. The ranges cover events added
// since the oldest unacknowledged one, which the packing keeps within about maxAckLag (200,000) events
// unless that event's request is being retried.
func (b *Batcher) AckState() AckState { return b.acks.state() }

// Stats returns a snapshot of the counters.
func (b *Batcher) Stats() Stats {
	b.statsMu.Lock()
	st := Stats{Requests: b.stats.Requests, Retries: b.stats.Retries, Bytes: b.stats.Bytes, FillSum: b.stats.FillSum}
	b.statsMu.Unlock()
	st.EventsIn = atomic.LoadInt64(&b.stats.EventsIn)
	st.EventsOut = atomic.LoadInt64(&b.stats.EventsOut)
	st.Split = atomic.LoadInt64(&b.stats.Split)
	st.DroppedEmpty = atomic.LoadInt64(&b.stats.DroppedEmpty)
	st.DroppedOutOfWindow = atomic.LoadInt64(&b.stats.DroppedOutOfWindow)
	st.Clamped = atomic.LoadInt64(&b.stats.Clamped)
	st.RejectedTooOld = atomic.LoadInt64(&b.stats.RejectedTooOld)
	st.RejectedTooNew = atomic.LoadInt64(&b.stats.RejectedTooNew)
	st.RejectedExpired = atomic.LoadInt64(&b.stats.RejectedExpired)
	st.Resumed = atomic.LoadInt64(&b.stats.Resumed)
	return st
}

// Close flushes the pending events, waits for every request in flight, and reports. After a failure it
// returns the terminal error (typed *Error where it came from CloudWatch) with the acknowledged prefix.
func (b *Batcher) Close() (Result, error) {
	b.addMu.Lock()
	if !b.closed {
		b.closed = true
		for b.failure() == nil && len(b.win)+len(b.fresh)+len(b.late) > 0 {
			if b.ctx.Err() != nil {
				b.fail(&Error{Op: "PutLogEvents", Dest: b.dest, Retryable: true, Err: b.ctx.Err()})
				break
			}
			if err := b.flushOne(); err != nil {
				break
			}
		}
		close(b.queue)
		b.releaseBuffers()
	}
	b.addMu.Unlock()
	b.wg.Wait()
	res := Result{Acked: b.Acked(), Stats: b.Stats()}
	return res, b.failure()
}

// appendEventJSON appends one log event object to body.
func appendEventJSON(body []byte, first bool, ts int64, wire []byte) []byte {
	if !first {
		body = append(body, ',')
	}
	body = append(body, `{"timestamp":`...)
	body = strconv.AppendInt(body, ts, 10)
	body = append(body, `,"message":"`...)
	body = append(body, wire...)
	return append(body, `"}`...)
}
