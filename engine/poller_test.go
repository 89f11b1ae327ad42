package engine

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSQS is an in-memory queue with visibility timeouts.
type fakeSQS struct {
	mu          sync.Mutex
	now         func() time.Time
	msgs        map[string]*fakeMsg // by id
	seq         int
	deleteCalls int
	receives    int   // ReceiveMessage calls
	changes     int   // ChangeMessageVisibility and ChangeMessageVisibilityBatch calls
	batches     []int // entries per ChangeMessageVisibilityBatch
	deleted     []string
	visibility  map[string][]int32 // ChangeMessageVisibility values by id
}

type fakeMsg struct {
	id, body, receipt string
	visibleAt         time.Time
	receives          int
}

func newFakeSQS(bodies ...string) *fakeSQS {
	q := &fakeSQS{now: time.Now, msgs: map[string]*fakeMsg{}, visibility: map[string][]int32{}}
	for _, b := range bodies {
		q.send(b)
	}
	return q
}

func (q *fakeSQS) send(body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	id := "m" + strconv.Itoa(q.seq)
	q.msgs[id] = &fakeMsg{id: id, body: body}
}

func (q *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	deadline := time.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	q.mu.Lock()
	q.receives++
	q.mu.Unlock()
	for {
		q.mu.Lock()
		var out []types.Message
		for i := 1; i <= q.seq && len(out) < int(in.MaxNumberOfMessages); i++ {
			m := q.msgs["m"+strconv.Itoa(i)]
			if m == nil || q.now().Before(m.visibleAt) {
				continue
			}
			m.receives++
			m.receipt = m.id + "#" + strconv.Itoa(m.receives)
			m.visibleAt = q.now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
			out = append(out, types.Message{MessageId: aws.String(m.id), Body: aws.String(m.body), ReceiptHandle: aws.String(m.receipt)})
		}
		q.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			return &sqs.ReceiveMessageOutput{Messages: out}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (q *fakeSQS) byReceipt(r string) *fakeMsg {
	for _, m := range q.msgs {
		if m.receipt == r {
			return m
		}
	}
	return nil
}

func (q *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteCalls++
	out := &sqs.DeleteMessageBatchOutput{}
	if len(in.Entries) > 10 {
		panic("more than 10 entries")
	}
	for _, e := range in.Entries {
		if m := q.byReceipt(*e.ReceiptHandle); m != nil {
			delete(q.msgs, m.id)
			q.deleted = append(q.deleted, m.id)
			out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func (q *fakeSQS) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.changes++
	q.changeVisibility(*in.ReceiptHandle, in.VisibilityTimeout)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *fakeSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(in.Entries) > 10 {
		panic("more than 10 entries")
	}
	q.changes++
	q.batches = append(q.batches, len(in.Entries))
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		if q.changeVisibility(*e.ReceiptHandle, e.VisibilityTimeout) {
			out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
		} else {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid")})
		}
	}
	return out, nil
}

// changeVisibility sets the visibility of the message received with receipt (false if none), under q.mu.
func (q *fakeSQS) changeVisibility(receipt string, timeout int32) bool {
	m := q.byReceipt(receipt)
	if m == nil {
		return false
	}
	m.visibleAt = q.now().Add(time.Duration(timeout) * time.Second)
	q.visibility[m.id] = append(q.visibility[m.id], timeout)
	return true
}

func (q *fakeSQS) remaining() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

type handlerFunc func(ctx context.Context, body []byte) MessageResult

func (f handlerFunc) ProcessMessage(ctx context.Context, body []byte) MessageResult {
	return f(ctx, body)
}

func outcomeOf(body []byte) MessageResult {
	switch string(body) {
	case "drop":
		return MessageResult{Outcome: OutcomeDropped, Reason: ReasonKeyLayout}
	case "retry":
		return MessageResult{Outcome: OutcomeRetry, Reason: ReasonTransient}
	}
	return MessageResult{}
}

func runPoller(t testing.TB, q SQSAPI, h MessageHandler, o PollerOptions, fns ...func(*Poller)) (cancel func(), done <-chan error, m *Metrics) {
	t.Helper()
	m = NewMetrics(prometheus.NewRegistry(), false)
	o.QueueURL, o.Metrics = "q", m
	if o.WaitTime == 0 {
		o.WaitTime = time.Second
	}
	p, err := NewPoller(q, h, o)
	require.NoError(t, err)
	for _, f := range fns {
		f(p)
	}
	ctx, stop := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- p.Run(ctx) }()
	return stop, ch, m
}

func TestPollerDeletesDeliveredAndDropped(t *testing.T) {
	var bodies []string
	for i := range 23 {
		bodies = append(bodies, []string{"ok", "ok", "drop", "retry"}[i%4])
	}
	q := newFakeSQS(bodies...)
	var handled atomic.Int64
	// Deletes wait for full batches (the delay never expires here): 10 by size, the other 8 at shutdown.
	cancel, done, m := runPoller(t, q, handlerFunc(func(_ context.Context, b []byte) MessageResult { handled.Add(1); return outcomeOf(b) }),
		PollerOptions{Workers: 4, Visibility: 30 * time.Second}, neverExpires)
	require.Eventually(t, func() bool { return handled.Load() == 23 }, time.Minute, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	q.mu.Lock()
	defer q.mu.Unlock()
	assert.Len(t, q.msgs, 5)
	for _, msg := range q.msgs {
		assert.Equal(t, "retry", msg.body, "only recoverable messages stay")
		assert.Equal(t, 1, msg.receives, "left for the visibility timeout, not made visible at once")
	}
	assert.Equal(t, 2, q.deleteCalls, "deletes are batched")
	assert.Equal(t, 23.0, value(m.MessagesReceived))
	assert.Equal(t, 18.0, value(m.MessagesDeleted))
	assert.Equal(t, 6.0, value(m.MessagesDropped.WithLabelValues(string(ReasonKeyLayout))))
	assert.Equal(t, 5.0, value(m.MessagesRetried.WithLabelValues(string(ReasonTransient))))
}

// TestPollerHandsBackInBatches: messages whose tenant is busy are handed back with one
// ChangeMessageVisibilityBatch per 10 (the delay never expires here: by size, and the rest at shutdown), each
// with its jittered hand-back delay.
func TestPollerHandsBackInBatches(t *testing.T) {
	bodies := make([]string, 23)
	q := newFakeSQS(bodies...)
	var handled atomic.Int64
	busy := handlerFunc(func(context.Context, []byte) MessageResult {
		handled.Add(1)
		return MessageResult{Outcome: OutcomeRetry, Reason: ReasonTenantBusy, RetryAfter: 2 * time.Second}
	})
	cancel, done, m := runPoller(t, q, busy, PollerOptions{Workers: 30, Visibility: 30 * time.Second}, neverExpires)
	require.Eventually(t, func() bool { return handled.Load() >= 23 }, time.Minute, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	q.mu.Lock()
	defer q.mu.Unlock()
	n := int(handled.Load())
	assert.Equal(t, float64(n), value(m.MessagesRetried.WithLabelValues(string(ReasonTenantBusy))))
	assert.Equal(t, q.changes, len(q.batches), "no single-message visibility change")
	assert.Equal(t, float64(len(q.batches)), value(m.SQSRequests.WithLabelValues("ChangeMessageVisibilityBatch")), "requests metric")
	assert.Zero(t, value(m.SQSRequests.WithLabelValues("ChangeMessageVisibility")), "requests metric")
	require.Len(t, q.batches, ceilDiv(n, 10), "entries per batch: %v", q.batches)
	total := 0
	for i, b := range q.batches {
		total += b
		if i < len(q.batches)-1 {
			assert.Equal(t, 10, b, "batch %d is full", i)
		}
	}
	assert.Equal(t, n, total, "every handed-back message")
	for id, v := range q.visibility {
		for _, s := range v {
			assert.True(t, s >= 1 && s <= 3, "%s handed back for %ds, not within 2s ± 50%%", id, s)
		}
	}
	assert.Len(t, q.msgs, 23, "nothing deleted")
}

func TestPollerHeartbeatExtendsVisibility(t *testing.T) {
	q := newFakeSQS("slow")
	extended := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.visibility["m1"])
	}
	// The handler runs until the heartbeat has extended the message's visibility once.
	cancel, done, m := runPoller(t, q, handlerFunc(func(ctx context.Context, _ []byte) MessageResult {
		for extended() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		return MessageResult{}
	}), PollerOptions{Workers: 1, Visibility: 3 * time.Second})
	require.Eventually(t, func() bool { return q.remaining() == 0 }, time.Minute, 5*time.Millisecond)
	cancel()
	<-done
	q.mu.Lock()
	defer q.mu.Unlock()
	require.NotEmpty(t, q.visibility["m1"])
	for _, v := range q.visibility["m1"] {
		assert.Equal(t, int32(3), v, "extended by the full timeout")
	}
	assert.Equal(t, float64(len(q.visibility["m1"])), value(m.Heartbeats))
	assert.Equal(t, value(m.Heartbeats), value(m.SQSRequests.WithLabelValues("ChangeMessageVisibility")), "requests metric")
}

func TestPollerShutdown(t *testing.T) {
	t.Run("in-flight work finishes within the grace period", func(t *testing.T) {
		q := newFakeSQS("a", "b")
		started, finish := make(chan struct{}, 2), make(chan struct{})
		cancel, done, _ := runPoller(t, q, handlerFunc(func(ctx context.Context, _ []byte) MessageResult {
			started <- struct{}{}
			<-finish
			return MessageResult{}
		}), PollerOptions{Workers: 2, Visibility: 30 * time.Second, Grace: time.Minute})
		<-started
		<-started
		cancel()
		close(finish) // both finish after the shutdown began, well within the grace period
		require.NoError(t, <-done)
		assert.Zero(t, q.remaining(), "finished messages are deleted before Run returns")
	})
	t.Run("work past the grace period is cancelled and made visible again", func(t *testing.T) {
		q := newFakeSQS("stuck")
		started := make(chan struct{})
		cancel, done, _ := runPoller(t, q, handlerFunc(func(ctx context.Context, _ []byte) MessageResult {
			close(started)
			<-ctx.Done()
			return MessageResult{Outcome: OutcomeRetry, Reason: ReasonInterrupted}
		}), PollerOptions{Workers: 1, Visibility: 30 * time.Second, Grace: 50 * time.Millisecond})
		<-started
		cancel()
		require.NoError(t, <-done)
		assert.Equal(t, 1, q.remaining(), "never deleted")
		assert.Equal(t, []int32{0}, q.visibility["m1"], "visible again at once")
	})
}

func TestLambdaHandler(t *testing.T) {
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "1", Body: "ok"}, {MessageId: "2", Body: "retry"}, {MessageId: "3", Body: "drop"}, {MessageId: "4", Body: "retry"}}}
	m := NewMetrics(prometheus.NewRegistry(), false)
	h := NewLambdaHandler(handlerFunc(func(_ context.Context, b []byte) MessageResult { return outcomeOf(b) }), LambdaOptions{Workers: 2, Metrics: m})
	resp, err := h(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "2"}, {ItemIdentifier: "4"}}, resp.BatchItemFailures)
	assert.Equal(t, 2.0, value(m.MessagesDeleted))

	t.Run("deadline", func(t *testing.T) {
		var ran []string
		var mu sync.Mutex
		h := NewLambdaHandler(handlerFunc(func(ctx context.Context, b []byte) MessageResult {
			mu.Lock()
			ran = append(ran, string(b))
			mu.Unlock()
			if string(b) == "slow" {
				<-ctx.Done() // cancelled at deadline - reserve
				return MessageResult{Outcome: OutcomeRetry, Reason: ReasonInterrupted}
			}
			return MessageResult{}
		}), LambdaOptions{Workers: 1, Reserve: 500 * time.Millisecond})
		// The work deadline (1.5s) only has to come after "fast" and "slow" have started.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "a", Body: "fast"}, {MessageId: "b", Body: "slow"}, {MessageId: "c", Body: "fast"}}})
		require.NoError(t, err)
		assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "b"}, {ItemIdentifier: "c"}}, resp.BatchItemFailures)
		assert.Equal(t, []string{"fast", "slow"}, ran, "nothing starts after the reserve")
		_, hasDeadline := ctx.Deadline()
		assert.True(t, hasDeadline)
	})
}

func TestLambdaShortTimeoutStillWorks(t *testing.T) {
	h := NewLambdaHandler(handlerFunc(func(_ context.Context, b []byte) MessageResult { return outcomeOf(b) }), LambdaOptions{Reserve: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // shorter than the reserve
	defer cancel()
	resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "1", Body: "ok"}}})
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
}

func TestMessageBodies(t *testing.T) {
	assert.Equal(t, [][]byte{[]byte("x"), []byte("y")}, MessageBodies([]byte(`{"Records":[{"eventSource":"aws:sqs","body":"x"},{"eventSource":"aws:sqs","body":"y"}]}`)))
	s3 := []byte(`{"Records":[{"eventSource":"aws:s3"}]}`)
	assert.Equal(t, [][]byte{s3}, MessageBodies(s3))
}

type failingReceive struct {
	*fakeSQS
	calls *atomic.Int64
}

func (f failingReceive) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.calls.Add(1)
	return nil, apiErr("AccessDenied")
}

func TestPollerReadiness(t *testing.T) {
	calls := &atomic.Int64{}
	p, err := NewPoller(failingReceive{newFakeSQS(), calls}, handlerFunc(func(context.Context, []byte) MessageResult { return MessageResult{} }),
		PollerOptions{QueueURL: "q", ReceiveBackoff: time.Millisecond})
	require.NoError(t, err)
	assert.False(t, p.Ready(), "not ready before it runs")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { return calls.Load() >= 2 && !p.Ready() }, 5*time.Second, time.Millisecond, "a failing receive makes it unready")
	cancel()
	require.NoError(t, <-done)

	q := newFakeSQS()
	p, err = NewPoller(q, handlerFunc(func(context.Context, []byte) MessageResult { return MessageResult{} }), PollerOptions{QueueURL: "q", WaitTime: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, p.Ready, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.False(t, p.Ready(), "not ready once stopped")
}

// neverExpires makes the poller's delete and hand-back delays never expire: deletes and hand-backs are
// flushed by size and at shutdown.
func neverExpires(p *Poller) { p.after = func(time.Duration) <-chan time.Time { return nil } }

// countingSQS is an event-driven queue that counts the poller's calls: a receive returns at once what the
// queue holds (up to the number asked for), and otherwise blocks until a message is sent or its context
// ends. Received messages are gone; hand-backs and heartbeats are only counted.
type countingSQS struct {
	mu         sync.Mutex
	queue      []string
	seq        int
	arrived    chan struct{} // closed and replaced when a message is sent
	asked, got []int         // per receive
	blocked    int           // receives that found the queue empty and waited
	deletes    []int         // entries per DeleteMessageBatch
	visibility int           // ChangeMessageVisibility calls
}

func newCountingSQS(n int) *countingSQS {
	q := &countingSQS{arrived: make(chan struct{})}
	for range n {
		q.send()
	}
	return q
}

func (q *countingSQS) send() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	q.queue = append(q.queue, "m"+strconv.Itoa(q.seq))
	close(q.arrived)
	q.arrived = make(chan struct{})
}

func (q *countingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.asked = append(q.asked, int(in.MaxNumberOfMessages))
	call := len(q.asked) - 1
	q.got = append(q.got, 0)
	for waited := false; len(q.queue) == 0; waited = true {
		if !waited {
			q.blocked++
		}
		arrived := q.arrived
		q.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	n := min(len(q.queue), int(in.MaxNumberOfMessages))
	out := &sqs.ReceiveMessageOutput{}
	for _, id := range q.queue[:n] {
		out.Messages = append(out.Messages, types.Message{MessageId: aws.String(id), Body: aws.String(id), ReceiptHandle: aws.String(id)})
	}
	q.queue = q.queue[n:]
	q.got[call] = n
	return out, nil
}

func (q *countingSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deletes = append(q.deletes, len(in.Entries))
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (q *countingSQS) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.visibility++
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *countingSQS) ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.visibility++
	return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
}

// snapshot returns copies of the counts, under the lock.
func (q *countingSQS) snapshot() (asked, got, deletes []int, queued, blocked, visibility int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]int(nil), q.asked...), append([]int(nil), q.got...), append([]int(nil), q.deletes...), len(q.queue), q.blocked, q.visibility
}

// workersHandler stands for the processor: it runs at most its workers' number of messages at once, the
// others wait for a worker, and a running message finishes when the test sends on finish. It records
// every time a worker freed while nothing waited although the queue still held messages (a worker idling).
type workersHandler struct {
	q       *countingSQS
	workers chan struct{}
	finish  chan struct{}
	started chan string // every message given a worker (buffered by the test)

	mu                     sync.Mutex
	waiting, running, done int
	idled                  int
}

func newWorkersHandler(q *countingSQS, workers int, started chan string) *workersHandler {
	return &workersHandler{q: q, workers: make(chan struct{}, workers), finish: make(chan struct{}), started: started}
}

func (h *workersHandler) add(n *int, d int) {
	h.mu.Lock()
	*n += d
	h.mu.Unlock()
}

func (h *workersHandler) ProcessMessage(ctx context.Context, body []byte) MessageResult {
	h.add(&h.waiting, 1)
	select {
	case h.workers <- struct{}{}:
	case <-ctx.Done():
		h.add(&h.waiting, -1)
		return MessageResult{Outcome: OutcomeRetry, Reason: ReasonInterrupted}
	}
	h.mu.Lock()
	h.waiting--
	h.running++
	h.mu.Unlock()
	if h.started != nil {
		h.started <- string(body)
	}
	select {
	case <-h.finish:
	case <-ctx.Done():
		<-h.workers
		h.add(&h.running, -1)
		return MessageResult{Outcome: OutcomeRetry, Reason: ReasonInterrupted}
	}
	_, _, _, queued, _, _ := h.q.snapshot()
	h.mu.Lock()
	h.running--
	h.done++
	if h.waiting == 0 && queued > 0 {
		h.idled++
	}
	h.mu.Unlock()
	<-h.workers
	return MessageResult{}
}

func (h *workersHandler) state() (waiting, running, done, idled int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting, h.running, h.done, h.idled
}

// eventually waits for cond, checking it after every scheduling round; the deadline only guards against
// a hang and is no timing assumption.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// TestPollerCallsPerMessage: with a backlog, every receive asks for 10 and gets 10 (one more finds the
// queue empty and waits), a message already waits whenever a worker frees, deletes go in batches of 10,
// and no visibility is changed. The handler's workers finish one message at a time, each time the poller
// has settled, so that the counts do not depend on timing.
func TestPollerCallsPerMessage(t *testing.T) {
	for _, n := range []int{95, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			const workers = 4
			q := newCountingSQS(n)
			h := newWorkersHandler(q, workers, nil)
			fire := make(chan time.Time)
			var delays []time.Duration
			var delaysMu sync.Mutex
			cancel, done, m := runPoller(t, q, h, PollerOptions{Workers: workers + 20, Visibility: 30 * time.Second}, func(p *Poller) {
				p.after = func(d time.Duration) <-chan time.Time {
					delaysMu.Lock()
					delays = append(delays, d)
					delaysMu.Unlock()
					return fire
				}
			})
			for finished := 0; finished < n; finished++ {
				// Settled: every worker busy (or every message left running), and 10 or more waiting unless the
				// queue is empty.
				eventually(t, "settled after "+strconv.Itoa(finished)+" finished", func() bool {
					waiting, running, _, _ := h.state()
					_, _, _, queued, _, _ := q.snapshot()
					return running == min(workers, n-finished) && (waiting >= 10 || queued == 0 && waiting+running == n-finished)
				})
				h.finish <- struct{}{}
				eventually(t, "finished", func() bool { _, _, d, _ := h.state(); return d == finished+1 })
			}
			eventually(t, "all handled", func() bool { return value(m.InFlightMessages) == 0 })
			if n%10 != 0 {
				fire <- time.Now() // the remaining deletes' delay expires
			}
			eventually(t, "all deleted", func() bool { _, _, del, _, _, _ := q.snapshot(); return sum(del) == n })
			cancel()
			require.NoError(t, <-done)

			asked, got, deletes, _, blocked, visibility := q.snapshot()
			assert.LessOrEqual(t, len(asked), ceilDiv(n, 10)+1, "receives")
			for i, a := range asked {
				assert.Equal(t, 10, a, "receive %d asks for a full batch", i)
			}
			for i, g := range got[:ceilDiv(n, 10)-1] {
				assert.Equal(t, 10, g, "receive %d got a full batch", i)
			}
			assert.Equal(t, 1, blocked, "one receive waits on the empty queue")
			assert.Len(t, deletes, ceilDiv(n, 10), "delete batches")
			for _, d := range deletes[:n/10] {
				assert.Equal(t, 10, d)
			}
			assert.Zero(t, visibility, "no heartbeat or hand-back")
			assert.Equal(t, float64(len(asked)), value(m.SQSRequests.WithLabelValues("ReceiveMessage")), "requests metric")
			assert.Equal(t, float64(len(deletes)), value(m.SQSRequests.WithLabelValues("DeleteMessageBatch")), "requests metric")
			_, _, _, idled := h.state()
			assert.Zero(t, idled, "a worker freed with nothing waiting while the queue held messages")
			delaysMu.Lock()
			defer delaysMu.Unlock()
			require.NotEmpty(t, delays)
			for _, d := range delays {
				assert.Equal(t, time.Second, d, "default delete delay")
			}
		})
	}
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestPollerIdleQueueLatency: a receive is outstanding whenever nothing waits locally, so a message sent to
// an idle queue is handed to the handler at once — also while another message is being handled.
func TestPollerIdleQueueLatency(t *testing.T) {
	q := newCountingSQS(0)
	started := make(chan string, 2)
	h := newWorkersHandler(q, 4, started)
	cancel, done, _ := runPoller(t, q, h, PollerOptions{Workers: 4 + 20, Visibility: 30 * time.Second}, neverExpires)
	blocked := func(n int) func() bool {
		return func() bool { _, _, _, _, b, _ := q.snapshot(); return b == n }
	}
	eventually(t, "a receive waits on the empty queue", blocked(1))
	q.send()
	assert.Equal(t, "m1", <-started)
	eventually(t, "another receive waits while m1 is handled", blocked(2))
	q.send()
	assert.Equal(t, "m2", <-started, "handled while m1 still runs")
	h.finish <- struct{}{}
	h.finish <- struct{}{}
	cancel()
	require.NoError(t, <-done)
	asked, _, deletes, _, _, _ := q.snapshot()
	for _, a := range asked {
		assert.Equal(t, 10, a)
	}
	assert.Equal(t, []int{2}, deletes, "pending deletes are flushed at shutdown")
}

// TestPollerSmallCapacity: with room for fewer messages than a batch, each receive asks for all of it (so
// it waits until every message held is finished).
func TestPollerSmallCapacity(t *testing.T) {
	const capacity, n = 3, 7
	q := newCountingSQS(n)
	h := newWorkersHandler(q, capacity, nil)
	cancel, done, m := runPoller(t, q, h, PollerOptions{Workers: capacity, Visibility: 30 * time.Second}, neverExpires)
	for finished := range n {
		h.finish <- struct{}{}
		eventually(t, "finished", func() bool { _, _, d, _ := h.state(); return d == finished+1 })
	}
	eventually(t, "all handled", func() bool { return value(m.InFlightMessages) == 0 })
	cancel()
	require.NoError(t, <-done)
	asked, got, deletes, _, _, _ := q.snapshot()
	for _, a := range asked {
		assert.Equal(t, capacity, a)
	}
	assert.Equal(t, []int{3, 3, 1}, got[:3])
	assert.Equal(t, []int{n}, deletes, "one batch, flushed at shutdown")
}

func TestPollerDeleteDelay(t *testing.T) {
	tests := map[string]struct {
		o       PollerOptions
		want    time.Duration
		wantErr bool
	}{
		"default":                       {o: PollerOptions{}, want: time.Second},
		"short visibility caps it":      {o: PollerOptions{Visibility: 3 * time.Second}, want: 500 * time.Millisecond},
		"set":                           {o: PollerOptions{DeleteDelay: 2 * time.Second}, want: 2 * time.Second},
		"beyond a sixth of the timeout": {o: PollerOptions{DeleteDelay: 11 * time.Second}, wantErr: true},
		"negative":                      {o: PollerOptions{DeleteDelay: -time.Second}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.o.QueueURL = "q"
			p, err := NewPoller(newCountingSQS(0), handlerFunc(func(context.Context, []byte) MessageResult { return MessageResult{} }), tc.o)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.o.DeleteDelay)
		})
	}
}

// TestPollerReceivesBeyondItsPlacesOnlyWhileCrowded: with every place held, the poller receives no more
// until Crowded answers true; then it receives one batch beyond its places at a time (never holding more
// than Workers + MaxMessages), and what the handler cannot queue is handed back.
func TestPollerReceivesBeyondItsPlacesOnlyWhileCrowded(t *testing.T) {
	const workers, n = 20, 100
	q := newCountingSQS(n)
	var crowded atomic.Bool
	var asked atomic.Int64 // Crowded calls
	var held, most, handedBack atomic.Int64
	release := make(chan struct{})
	h := handlerFunc(func(ctx context.Context, body []byte) MessageResult {
		now := held.Add(1)
		defer held.Add(-1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		id, _ := strconv.Atoi(strings.TrimPrefix(string(body), "m"))
		if id <= workers { // the first 20 hold their places until the end
			<-release
			return MessageResult{}
		}
		handedBack.Add(1)
		return MessageResult{Outcome: OutcomeRetry, Reason: ReasonTenantBusy, RetryAfter: time.Second}
	})
	cancel, done, _ := runPoller(t, q, h, PollerOptions{Workers: workers, Visibility: 30 * time.Second,
		Crowded: func() bool { asked.Add(1); return crowded.Load() }}, neverExpires)
	eventually(t, "every place held", func() bool { return held.Load() == workers })
	before := asked.Load()
	eventually(t, "Crowded asked twice more with every place held", func() bool { return asked.Load() >= before+2 })
	gotAsked, _, _, _, _, _ := q.snapshot()
	assert.Len(t, gotAsked, 2, "no receive beyond the places while nobody crowds them")
	assert.Zero(t, handedBack.Load())

	crowded.Store(true)
	eventually(t, "the rest received and handed back", func() bool { return handedBack.Load() == n-workers })
	assert.LessOrEqual(t, most.Load(), int64(workers+10), "never more than one batch beyond the places")
	gotAsked, got, _, _, _, _ := q.snapshot()
	for _, a := range gotAsked {
		assert.Equal(t, 10, a)
	}
	assert.Equal(t, n, sum(got))
	close(release)
	cancel()
	require.NoError(t, <-done)
	_, _, _, _, _, visibility := q.snapshot()
	assert.Equal(t, (n-workers)/10, visibility, "hand-backs go 10 to a ChangeMessageVisibilityBatch")
}
