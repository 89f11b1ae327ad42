package engine

import (
	"context"
	"strconv"
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
	if m := q.byReceipt(*in.ReceiptHandle); m != nil {
		m.visibleAt = q.now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
		q.visibility[m.id] = append(q.visibility[m.id], in.VisibilityTimeout)
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
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

func runPoller(t testing.TB, q *fakeSQS, h MessageHandler, o PollerOptions) (cancel func(), done <-chan error, m *Metrics) {
	t.Helper()
	m = NewMetrics(prometheus.NewRegistry(), false)
	o.QueueURL, o.Metrics = "q", m
	if o.WaitTime == 0 {
		o.WaitTime = time.Second
	}
	p, err := NewPoller(q, h, o)
	require.NoError(t, err)
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
		PollerOptions{Workers: 4, Visibility: 30 * time.Second, DeleteDelay: time.Hour})
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
