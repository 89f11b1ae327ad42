package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the subset of *sqs.Client the poller calls.
type SQSAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// MessageHandler processes one message body (a *Processor).
type MessageHandler interface {
	ProcessMessage(ctx context.Context, body []byte) MessageResult
}

// PollerOptions configure a Poller. Zero values take the defaults.
type PollerOptions struct {
	QueueURL string
	// Workers is how many messages the poller holds at once: being handled, or waiting in the handler for
	// one of its workers (default 2 × CPUs + 2 × MaxMessages). A receive is issued only when a full batch
	// (min(MaxMessages, Workers)) fits, so give it the handler's workers plus 2 × MaxMessages: then a
	// receive is issued while MaxMessages messages still wait, so a worker that frees always finds one,
	// and a receive is always outstanding when nothing waits.
	Workers int
	// WaitTime is the long-poll wait (default 20s, SQS's maximum); MaxMessages per receive (default 10).
	WaitTime    time.Duration
	MaxMessages int
	// Crowded, when set, is asked whenever a full batch does not fit: while it answers true the poller
	// receives batches anyway, up to Workers + MaxMessages messages, so that other tenants' messages are
	// found behind one tenant's backlog (the handler hands back what it cannot queue). Give it the
	// Processor's Crowded. It is also asked every crowdedRecheck while the poller waits, since the handler's
	// queue fills after the receive that filled it.
	Crowded func() bool
	// Visibility is the visibility timeout requested on receive and renewed by the heartbeat every
	// Visibility/3 while a message is in flight (default 60s).
	Visibility time.Duration
	// Grace is how long in-flight work may continue after the run context ends (default 25s). Work still
	// unfinished then is cancelled; its progress is saved and its messages become visible again.
	Grace time.Duration
	// DeleteDelay is the longest a finished message waits for a full batch of 10 deletes (default 1s, or
	// Visibility/6 when that is shorter; at most Visibility/6). A finished message stays invisible for at
	// least 2/3 of Visibility (the heartbeat renews it every third), so deferring its delete is safe.
	DeleteDelay time.Duration
	// ReceiveBackoff is the pause after a failed receive (default 1s, doubling to 30s).
	ReceiveBackoff time.Duration
	Metrics        *Metrics
	Logger         *slog.Logger
}

// crowdedRecheck is how often a waiting poller asks Crowded again when no message finished meanwhile.
const crowdedRecheck = 50 * time.Millisecond

// handBackWait is the longest a handed-back message waits for others to share its
// ChangeMessageVisibilityBatch. Messages are handed back together (the ones a receive brought while their
// tenants are busy), and one stays invisible at most this much longer than its hand-back delay.
const handBackWait = 100 * time.Millisecond

// Poller long-polls an SQS queue and hands each message to a MessageHandler: successful and dropped
// messages are deleted (in batches), recoverable ones are left for redelivery.
type Poller struct {
	sqs   SQSAPI
	h     MessageHandler
	o     PollerOptions
	ready atomic.Bool
	log   *slog.Logger
	// after starts the delete and hand-back delays' timers (time.After; tests drive it).
	after func(time.Duration) <-chan time.Time
}

// NewPoller returns a poller for o.QueueURL.
func NewPoller(client SQSAPI, h MessageHandler, o PollerOptions) (*Poller, error) {
	if o.QueueURL == "" {
		return nil, errors.New("poller: queue URL is required")
	}
	if o.WaitTime == 0 {
		o.WaitTime = 20 * time.Second
	}
	if o.WaitTime < 0 || o.WaitTime > 20*time.Second {
		return nil, fmt.Errorf("poller: wait time %s outside 0-20s", o.WaitTime)
	}
	if o.MaxMessages == 0 {
		o.MaxMessages = 10
	}
	if o.MaxMessages < 1 || o.MaxMessages > 10 {
		return nil, fmt.Errorf("poller: max messages %d outside 1-10", o.MaxMessages)
	}
	if o.Workers == 0 {
		o.Workers = 2*defaultCPUs() + 2*o.MaxMessages
	}
	if o.Workers < 1 {
		return nil, fmt.Errorf("poller: workers %d < 1", o.Workers)
	}
	if o.Visibility == 0 {
		o.Visibility = 60 * time.Second
	}
	if o.Visibility < 3*time.Second || o.Visibility > 12*time.Hour {
		return nil, fmt.Errorf("poller: visibility timeout %s outside 3s-12h", o.Visibility)
	}
	if o.Grace == 0 {
		o.Grace = 25 * time.Second
	}
	if o.DeleteDelay == 0 {
		o.DeleteDelay = min(time.Second, o.Visibility/6)
	}
	if o.DeleteDelay < 0 || o.DeleteDelay > o.Visibility/6 {
		return nil, fmt.Errorf("poller: delete delay %s outside 0-%s (a sixth of the visibility timeout)", o.DeleteDelay, o.Visibility/6)
	}
	if o.ReceiveBackoff == 0 {
		o.ReceiveBackoff = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Poller{sqs: client, h: h, o: o, log: o.Logger, after: time.After}, nil
}

// Ready reports whether the poller is running and its last receive did not fail (for /readyz).
func (p *Poller) Ready() bool { return p.ready.Load() }

// Run polls until ctx ends, then stops receiving, lets in-flight messages finish within the grace
// period, flushes pending deletes and returns. Messages not finished are never deleted: they become
// visible again (immediately, when the queue allows it).
func (p *Poller) Run(ctx context.Context) error {
	// work outlives ctx by the grace period.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	del := &sqsBatcher{ch: make(chan pending, 64), delay: p.o.DeleteDelay, after: p.after, flush: p.deleteBatch}
	back := &sqsBatcher{ch: make(chan pending, 64), delay: handBackWait, after: p.after, flush: p.handBackBatch}
	batchersDone := make(chan struct{}, 2)
	go func() { del.run(); batchersDone <- struct{}{} }()
	go func() { back.run(); batchersDone <- struct{}{} }()

	held := newHolding()
	var wg sync.WaitGroup
	p.ready.Store(true)
	backoff := p.o.ReceiveBackoff
	for ctx.Err() == nil {
		n := p.reserve(ctx, held)
		if n == 0 {
			continue // ctx ended
		}
		p.counted("ReceiveMessage")
		out, err := p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &p.o.QueueURL,
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             int32(p.o.WaitTime / time.Second),
			VisibilityTimeout:           int32(p.o.Visibility / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		got := 0
		if out != nil {
			got = min(len(out.Messages), n)
		}
		held.release(n - got)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.ready.Store(false)
			p.log.Warn("receive messages", "queue", p.o.QueueURL, "error", err.Error(), "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		p.ready.Store(true)
		backoff = p.o.ReceiveBackoff
		if len(out.Messages) > n {
			p.log.Warn("receive returned more messages than asked for: the extra ones are left for redelivery", "asked", n, "got", len(out.Messages))
		}
		for _, m := range out.Messages[:got] {
			p.count(func(m *Metrics) { m.MessagesReceived.Inc(); m.InFlightMessages.Inc() })
			wg.Go(func() {
				defer held.release(1)
				defer p.count(func(m *Metrics) { m.InFlightMessages.Dec() })
				p.handle(work, m, del, back)
			})
		}
	}
	p.ready.Store(false)

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(p.o.Grace):
		p.log.Warn("grace period over: cancelling in-flight work", "grace", p.o.Grace.String())
		cancelWork()
		<-finished
	}
	del.close()
	back.close()
	<-batchersDone
	<-batchersDone
	return nil
}

// reserve waits until a receive may be issued and reserves its messages' places: a full batch,
// min(MaxMessages, Workers), when that many places are free, or MaxMessages beyond Workers while Crowded
// answers true. It returns the batch size, or 0 when ctx ended.
func (p *Poller) reserve(ctx context.Context, h *holding) int {
	batch := min(p.o.MaxMessages, p.o.Workers)
	var recheck <-chan time.Time
	for {
		h.mu.Lock()
		held := h.n
		if p.o.Workers-held >= batch || p.o.Crowded != nil && held <= p.o.Workers && p.o.Crowded() {
			h.n += batch
			h.mu.Unlock()
			return batch
		}
		h.mu.Unlock()
		if p.o.Crowded != nil && held <= p.o.Workers && recheck == nil {
			recheck = time.After(crowdedRecheck)
		}
		select {
		case <-h.freed:
		case <-recheck:
			recheck = nil
		case <-ctx.Done():
			return 0
		}
	}
}

// holding counts the messages a poller holds (received and not finished, or reserved for a receive).
type holding struct {
	mu    sync.Mutex
	n     int
	freed chan struct{} // signalled (capacity 1) when places were released since the last wait
}

func newHolding() *holding { return &holding{freed: make(chan struct{}, 1)} }

func (h *holding) release(k int) {
	if k <= 0 {
		return
	}
	h.mu.Lock()
	h.n -= k
	h.mu.Unlock()
	select {
	case h.freed <- struct{}{}:
	default:
	}
}

func (p *Poller) count(f func(*Metrics)) {
	if p.o.Metrics != nil {
		f(p.o.Metrics)
	}
}

// counted counts one SQS API call of operation op.
func (p *Poller) counted(op string) {
	p.count(func(m *Metrics) { m.SQSRequests.WithLabelValues(op).Inc() })
}

// handle processes m and then deletes it (del) or hands it back (back), or leaves it for redelivery.
func (p *Poller) handle(ctx context.Context, m types.Message, del, back *sqsBatcher) {
	hbCtx, stopHB := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { p.heartbeat(hbCtx, m) })
	res := p.h.ProcessMessage(ctx, []byte(aws.ToString(m.Body)))
	stopHB()
	hb.Wait()
	switch res.Outcome {
	case OutcomeSuccess:
		del.add(pending{m: m})
	case OutcomeDropped:
		p.count(func(mt *Metrics) { mt.MessagesDropped.WithLabelValues(string(res.Reason)).Inc() })
		p.log.Warn("message dropped", "message_id", aws.ToString(m.MessageId), "reason", string(res.Reason), "error", res.Error)
		del.add(pending{m: m})
	case OutcomeRetry:
		if res.Reason == ReasonTenantBusy || res.Reason == ReasonRateLimited || res.Reason == ReasonLeased {
			// Hand it back: another tenant's message can use the slot; this one is offered again shortly.
			p.count(func(mt *Metrics) { mt.MessagesRetried.WithLabelValues(string(res.Reason)).Inc() })
			d := handBackDelay(res.RetryAfter, p.o.Visibility)
			p.log.Debug("message handed back", "message_id", aws.ToString(m.MessageId), "reason", string(res.Reason), "visible_in", d.String())
			back.add(pending{m: m, visibility: d})
			return
		}
		fallthrough
	default:
		p.count(func(mt *Metrics) { mt.MessagesRetried.WithLabelValues(string(res.Reason)).Inc() })
		p.log.Warn("message left for redelivery", "message_id", aws.ToString(m.MessageId), "reason", string(res.Reason),
			"receive_count", m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)], "error", res.Error)
		if res.Reason == ReasonInterrupted {
			// Shutting down: make it visible to another consumer now rather than after the timeout (the
			// batch is sent at the latest when the poller stops).
			back.add(pending{m: m})
		}
	}
}

// handBackDelay is the visibility delay of a handed-back message: after jittered by ±50% (so that handed-back
// messages do not return together), in whole seconds as SQS takes it, at least 1 s and at most the
// visibility timeout.
func handBackDelay(after, visibility time.Duration) time.Duration {
	after = max(after, time.Second)
	d := time.Duration(float64(after) * (0.5 + rand.Float64()))
	return min(max(d.Round(time.Second), time.Second), visibility)
}

// heartbeat keeps m invisible while it is being processed.
func (p *Poller) heartbeat(ctx context.Context, m types.Message) {
	t := time.NewTicker(p.o.Visibility / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.setVisibility(ctx, m, p.o.Visibility); err == nil {
				p.count(func(mt *Metrics) { mt.Heartbeats.Inc() })
			} else if ctx.Err() == nil {
				p.count(func(mt *Metrics) { mt.HeartbeatErrors.Inc() })
				p.log.Warn("extend message visibility", "message_id", aws.ToString(m.MessageId), "error", err.Error())
			}
		}
	}
}

func (p *Poller) setVisibility(ctx context.Context, m types.Message, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p.counted("ChangeMessageVisibility")
	_, err := p.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &p.o.QueueURL, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(d / time.Second),
	})
	return err
}

// pending is a message waiting in an sqsBatcher, with the visibility timeout a hand-back gives it.
type pending struct {
	m          types.Message
	visibility time.Duration
}

// sqsBatcher batches one kind of SQS call (DeleteMessageBatch, ChangeMessageVisibilityBatch): a batch of 10
// as soon as 10 are pending, or of those pending when the oldest has waited delay, and of every pending one
// when the poller stops (close).
type sqsBatcher struct {
	ch    chan pending
	delay time.Duration
	after func(time.Duration) <-chan time.Time
	flush func([]pending)
}

func (b *sqsBatcher) add(m pending) { b.ch <- m }
func (b *sqsBatcher) close()        { close(b.ch) }

func (b *sqsBatcher) run() {
	var batch []pending
	var expired <-chan time.Time // the oldest pending entry's delay; nil with none pending
	send := func() {
		if len(batch) > 0 {
			b.flush(batch)
		}
		batch, expired = nil, nil
	}
	for {
		select {
		case m, ok := <-b.ch:
			if !ok {
				send()
				return
			}
			if len(batch) == 0 {
				expired = b.after(b.delay)
			}
			batch = append(batch, m)
			if len(batch) == 10 {
				send()
			}
		case <-expired:
			// Entries already queued join the batch (the select may have chosen the timer over them).
			for drained := false; len(batch) < 10 && !drained; {
				select {
				case m, ok := <-b.ch:
					if !ok {
						send()
						return
					}
					batch = append(batch, m)
				default:
					drained = true
				}
			}
			send()
		}
	}
}

// batchEntryID is the Id of a batch's i-th entry.
func batchEntryID(i int) *string { return aws.String(strconv.Itoa(i)) }

func (p *Poller) deleteBatch(batch []pending) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: batchEntryID(i), ReceiptHandle: e.m.ReceiptHandle}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p.counted("DeleteMessageBatch")
	out, err := p.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &p.o.QueueURL, Entries: entries})
	if err != nil {
		p.count(func(m *Metrics) { m.DeleteErrors.Add(float64(len(batch))) })
		p.log.Warn("delete messages", "count", len(batch), "error", err.Error())
		return
	}
	p.count(func(m *Metrics) {
		m.MessagesDeleted.Add(float64(len(out.Successful)))
		m.DeleteErrors.Add(float64(len(out.Failed)))
	})
	for _, f := range out.Failed {
		p.log.Warn("delete message", "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
	}
}

// handBackBatch sets the visibility of handed-back (and, at shutdown, interrupted) messages in one call.
// A message whose change fails becomes visible again when its visibility timeout ends.
func (p *Poller) handBackBatch(batch []pending) {
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id: batchEntryID(i), ReceiptHandle: e.m.ReceiptHandle, VisibilityTimeout: int32(e.visibility / time.Second),
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.counted("ChangeMessageVisibilityBatch")
	out, err := p.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &p.o.QueueURL, Entries: entries})
	if err != nil {
		p.log.Warn("hand messages back", "count", len(batch), "error", err.Error())
		return
	}
	for _, f := range out.Failed {
		p.log.Warn("hand message back", "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
	}
}

// Crowded reports whether one tenant's objects take more than half of the places where objects wait for a
// worker (false when the scheduler cannot tell): PollerOptions.Crowded of a poller feeding p.
func (p *Processor) Crowded() bool {
	c, ok := p.sched.(interface{ Crowded() bool })
	return ok && c.Crowded()
}
