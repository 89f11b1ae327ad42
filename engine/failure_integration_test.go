package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/bench/corpus"
	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// fakeEvents reads a stream from the strict fake in arrival order.
func fakeEvents(srv *cwlfake.Server, group, stream string) []logEvent {
	var out []logEvent
	for _, ev := range srv.Fake.Events(group, stream) {
		out = append(out, logEvent{ev.Timestamp, ev.Message})
	}
	return out
}

// multiset counts events.
func multiset(evs []logEvent) map[logEvent]int {
	m := map[logEvent]int{}
	for _, e := range evs {
		m[e]++
	}
	return m
}

func TestE2EStrictCloudWatchEndpoint(t *testing.T) {
	srv := cwlfake.Start(t)
	e := newE2E(t, false, srv.URL)
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	type obj struct {
		key, group, stream string
		body               []byte
	}
	var objs []obj
	for i, name := range []string{"alpha", "bravo"} {
		id := testaws.Name(name)
		group := "/strict/" + id
		e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole(name), LogGroupName: group})
		var buf bytes.Buffer
		_, err := corpus.Generate(&buf, corpus.Options{Seed: int64(i + 1), TargetBytes: 3 << 20, Start: start, ClusterID: "c9",
			Namespace: id, Application: "api", PodName: "api-" + name, Tail: true, Span: 30 * time.Minute})
		require.NoError(t, err)
		objs = append(objs, obj{key: "c9/" + id + "/api/api-" + name + "/part-0.json.gz", group: group, stream: "c9.api-" + name, body: buf.Bytes()})
	}
	for _, o := range objs {
		e.put(o.key, o.body)
	}
	rt := e.runtime(prometheus.NewRegistry(), func(o *Options) { o.LogStreamTemplate = "{cluster_id}.{pod_name}" })
	e.pollUntilDrained(rt, 2*time.Minute)

	for _, o := range objs {
		want := expected(t, o.body, time.Time{})
		got := fakeEvents(srv, o.group, o.stream)
		require.NotEmpty(t, want)
		// Split messages arrive as several events; compare whole messages when nothing was split.
		if len(got) == len(want) {
			assert.Equal(t, multiset(want), multiset(got), o.key)
			assert.Equal(t, sortedByTime(want), sortedByTime(got), o.key)
		} else {
			assert.Greater(t, len(got), len(want), "only splitting may add events")
			assert.Equal(t, totalBytes(want), totalBytes(got), "split pieces add up to the messages")
		}
	}
	assert.Zero(t, srv.Fake.FaultsServed(cwlfake.FaultThrottle))
	assert.Equal(t, 0.0, value(rt.Metrics.MessagesRetried.WithLabelValues(string(ReasonTransient))))
	for _, p := range srv.Fake.Puts() {
		assert.LessOrEqual(t, p.Bytes, cwlfake.MaxBatchBytes)
	}
}

func totalBytes(evs []logEvent) int {
	n := 0
	for _, e := range evs {
		n += len(e.msg)
	}
	return n
}

// crashingProgress stands for a process that dies right after persisting its first mid-object checkpoint
// of at least min events: from then on nothing reaches the store, and crash is called.
type crashingProgress struct {
	ProgressStore
	min     int64
	crash   func()
	crashed atomic.Bool
	mu      sync.Mutex
	saved   int64
}

func (c *crashingProgress) Put(ctx context.Context, id string, p Progress) error {
	if c.crashed.Load() {
		return errors.New("process is dead")
	}
	if !p.Done && p.Acked >= c.min {
		// Die right after this checkpoint: nothing the process does later reaches the store or the endpoint
		// (in-flight requests are abandoned), this checkpoint is the last durable state.
		c.crashed.Store(true)
		c.crash()
		c.mu.Lock()
		c.saved = p.Acked
		c.mu.Unlock()
	}
	return c.ProgressStore.Put(ctx, id, p)
}

// bigLines renders n Vector lines with ~size-byte messages, so that a few hundred make a full request.
func bigLines(n, size int, base time.Time) []byte {
	var buf bytes.Buffer
	pad := strings.Repeat("x", size)
	for i := range n {
		fmt.Fprintf(&buf, `{"cluster_id":"c1","namespace":"t","application":"app","pod_name":"p","message":"%06d %s","timestamp":%q}`+"\n",
			i, pad, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	return gz(buf.Bytes())
}

// setupResumable creates one tenant with one CloudWatch destination on the strict fake and one large object.
func setupResumable(t *testing.T, latency time.Duration) (e *e2e, srv *cwlfake.Server, group string, body []byte, want []logEvent) {
	srv = cwlfake.Start(t, func(o *cwlfake.Options) { o.Latency = latency })
	e = newE2E(t, false, srv.URL)
	id := testaws.Name("resume")
	group = "/resume/" + id
	e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("resume"), LogGroupName: group})
	body = bigLines(8_000, 1000, time.Now().Add(-time.Hour)) // ~8 MB of messages: 8+ requests
	want = expected(t, body, time.Time{})
	e.put("c1/"+id+"/app/p/big.json.gz", body)
	return e, srv, group, body, want
}

// checkResent asserts that every event arrived, that nothing before the acknowledged prefix on record
// (checkpoint) was sent twice, and that events after it were sent at most twice: once by the process that
// stopped (requests in flight, or accepted out of order behind an unacknowledged one — their
// acknowledgement was lost) and once by the retry.
func checkResent(t *testing.T, srv *cwlfake.Server, group string, want []logEvent, checkpoint int64) {
	t.Helper()
	counts := multiset(fakeEvents(srv, group, "p"))
	resent := 0
	for i, w := range want {
		switch c := counts[w]; {
		case c == 0:
			t.Fatalf("event %d lost", i)
		case c > 1 && int64(i) < checkpoint:
			t.Fatalf("event %d, before the checkpoint %d, was sent again", i, checkpoint)
		case c > 2:
			t.Fatalf("event %d sent %d times", i, c)
		case c == 2:
			resent++
		}
	}
	t.Logf("checkpoint %d of %d events; %d events re-sent", checkpoint, len(want), resent)
}

func TestE2ECrashMidObjectThenRestart(t *testing.T) {
	e, srv, group, _, want := setupResumable(t, 100*time.Millisecond)
	// First life: receive the message and die right after the first mid-object checkpoint.
	out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queueURL, MaxNumberOfMessages: 10, VisibilityTimeout: 2, WaitTimeSeconds: 1})
	require.NoError(t, err)
	var msg *string
	for _, m := range out.Messages {
		if strings.Contains(*m.Body, "big.json.gz") {
			msg = m.Body
		}
	}
	require.NotNil(t, msg)
	crashCtx, crash := context.WithCancel(e.ctx)
	var cp *crashingProgress
	rt := e.runtime(prometheus.NewRegistry(), func(o *Options) {
		cp = &crashingProgress{ProgressStore: o.Progress, min: 1, crash: crash}
		o.Progress = cp
		o.CheckpointInterval = 10 * time.Millisecond
	})
	res := rt.Processor.ProcessMessage(crashCtx, []byte(*msg))
	require.True(t, cp.crashed.Load(), "the process died mid-object")
	require.Equal(t, OutcomeRetry, res.Outcome)
	require.Positive(t, cp.saved, "progress was on record before the crash")
	require.Less(t, cp.saved, int64(len(want)), "the crash happened in the middle of the object")

	// Second life: a new process polls until the queue is empty.
	rt2 := e.runtime(prometheus.NewRegistry())
	e.pollUntilDrained(rt2, 2*time.Minute)
	checkResent(t, srv, group, want, cp.saved)
}

func TestE2ESigtermDuringWork(t *testing.T) {
	e, srv, group, _, want := setupResumable(t, 300*time.Millisecond)
	rt := e.runtime(prometheus.NewRegistry(), func(o *Options) { o.CheckpointInterval = 10 * time.Millisecond })
	po := e.pollerOptions(rt)
	po.Grace = 100 * time.Millisecond
	p, err := NewPoller(rt.SQS, rt.Processor, po)
	require.NoError(t, err)
	ctx, sigterm := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { return len(srv.Fake.Puts()) >= 2 }, time.Minute, 5*time.Millisecond, "delivery under way")
	sigterm()
	require.NoError(t, <-done)
	require.Equal(t, 1, e.queued(), "the unfinished message is still queued")
	assert.Equal(t, 1.0, value(rt.Metrics.MessagesRetried.WithLabelValues(string(ReasonInterrupted))))

	// What was acknowledged before the shutdown is on record; the next process resumes there.
	rec := &recordingProgress{}
	rt2 := e.runtime(prometheus.NewRegistry(), func(o *Options) { rec.ProgressStore = o.Progress; o.Progress = rec })
	e.pollUntilDrained(rt2, 2*time.Minute)
	resumedAt := rec.firstGet()
	assert.GreaterOrEqual(t, resumedAt, int64(0), "the restart read the progress on record")
	require.Less(t, resumedAt, int64(len(want)), "SIGTERM arrived in the middle of the object")
	checkResent(t, srv, group, want, resumedAt)
}

// recordingProgress remembers the first progress read.
type recordingProgress struct {
	ProgressStore
	mu    sync.Mutex
	first *Progress
}

func (r *recordingProgress) Get(ctx context.Context, id string) (Progress, error) {
	p, err := r.ProgressStore.Get(ctx, id)
	r.mu.Lock()
	if r.first == nil && err == nil {
		r.first = &p
	}
	r.mu.Unlock()
	return p, err
}

func (r *recordingProgress) firstGet() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == nil {
		return -1
	}
	return r.first.Acked
}
