package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
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
// for which ready reports true: from then on nothing reaches the store, and crash is called.
type crashingProgress struct {
	ProgressStore
	ready   func(Progress) bool
	crash   func()
	crashed atomic.Bool
	mu      sync.Mutex
	saved   Progress
}

func (c *crashingProgress) Put(ctx context.Context, id string, u ProgressUpdate) error {
	if c.crashed.Load() {
		return errors.New("process is dead")
	}
	for _, p := range u.Dests {
		if !p.Done && c.ready(p) {
			// Die right after this checkpoint: nothing the process does later reaches the store or the endpoint
			// (in-flight requests are abandoned), this checkpoint is the last durable state.
			c.crashed.Store(true)
			c.mu.Lock()
			c.saved = p
			c.mu.Unlock()
			err := c.ProgressStore.Put(ctx, id, u)
			c.crash()
			return err
		}
	}
	return c.ProgressStore.Put(ctx, id, u)
}

// bigLines renders n Vector lines with ~size-byte messages, so that a few hundred make a full request. With
// interleave, timestamps are permuted within blocks of 2,000 lines: the sort window then packs requests
// with events scattered over the input, and their acknowledgements leave gaps.
func bigLines(n, size int, base time.Time, interleave bool) []byte {
	var buf bytes.Buffer
	pad := strings.Repeat("x", size)
	for i := range n {
		at := i
		if interleave {
			blk := i / 2000 * 2000
			at = blk + (i-blk)*1231%2000
		}
		fmt.Fprintf(&buf, `{"cluster_id":"c1","namespace":"t","application":"app","pod_name":"p","message":"%06d %s","timestamp":%q}`+"\n",
			i, pad, base.Add(time.Duration(at)*time.Millisecond).Format(time.RFC3339Nano))
	}
	return gz(buf.Bytes())
}

// perRequest is how many bigLines events of 1,000-byte padding fill one PutLogEvents request.
const perRequest = batcher.MaxRequestBytes / (1007 + batcher.EventOverhead)

// setupResumable creates one tenant with one CloudWatch destination on the strict fake and one large object.
func setupResumable(t *testing.T, latency time.Duration, interleave bool) (e *e2e, srv *cwlfake.Server, group string, body []byte, want []logEvent) {
	srv = cwlfake.Start(t, func(o *cwlfake.Options) { o.Latency = latency })
	e = newE2E(t, false, srv.URL)
	id := testaws.Name("resume")
	group = "/resume/" + id
	e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("resume"), LogGroupName: group})
	body = bigLines(8_000, 1000, time.Now().Add(-time.Hour), interleave) // ~8 MB of messages: 8+ requests
	want = expected(t, body, time.Time{})
	e.put("c1/"+id+"/app/p/big.json.gz", body)
	return e, srv, group, body, want
}

// settle waits until the fake handles no request (the process that stopped has gone: its held requests
// are abandoned, its others answered) and returns how many events and requests it stored. Nothing the
// stopped process sent is stored after that.
func settle(t *testing.T, srv *cwlfake.Server) (events int64, puts int) {
	t.Helper()
	require.Eventually(t, func() bool { return srv.Fake.Active() == 0 }, time.Minute, 5*time.Millisecond, "the endpoint settles")
	return srv.Fake.EventCount(), len(srv.Fake.Puts())
}

// checkResent asserts that every event arrived, that nothing in the acknowledged set on record (the last
// checkpoint) was sent twice, and that every other event was sent at most twice: once by the process that
// stopped and once by the retry. It returns how many events were sent twice.
func checkResent(t *testing.T, srv *cwlfake.Server, group string, want []logEvent, onRecord batcher.AckState) int {
	t.Helper()
	counts := multiset(fakeEvents(srv, group, "p"))
	resent := 0
	for i, w := range want {
		switch c := counts[w]; {
		case c == 0:
			t.Fatalf("event %d lost", i)
		case c > 1 && onRecord.Contains(int64(i)):
			t.Fatalf("event %d, acknowledged in the checkpoint (prefix %d, %d ranges), was sent again", i, onRecord.Prefix, len(onRecord.Ranges))
		case c > 2:
			t.Fatalf("event %d sent %d times", i, c)
		case c == 2:
			resent++
		}
	}
	t.Logf("checkpoint: prefix %d and %d ranges, %d of %d events; %d events re-sent", onRecord.Prefix, len(onRecord.Ranges), onRecord.Count(), len(want), resent)
	return resent
}

// checkExactResume asserts that the events sent twice are exactly those of the requests the first process
// had stored at the endpoint (its first puts requests, firstEvents events) but not acknowledged in the
// checkpoint on record, and that there are at most MaxInFlight (4) such requests: every request is either
// wholly in the checkpoint or wholly re-sent.
func checkExactResume(t *testing.T, srv *cwlfake.Server, want []logEvent, onRecord batcher.AckState, firstEvents int64, firstPuts int, resent int) {
	t.Helper()
	index := map[logEvent]int64{}
	for i, w := range want {
		index[logEvent{w.ts, w.msg}] = int64(i)
	}
	var first []cwlfake.Event
	for _, ev := range srv.Fake.Events(srv.Fake.Puts()[0].Group, "p") {
		if ev.Seq <= firstEvents {
			first = append(first, ev)
		}
	}
	slices.SortFunc(first, func(a, b cwlfake.Event) int { return int(a.Seq - b.Seq) })
	require.Len(t, first, int(firstEvents), "one stream only")
	unacked, expectResent := 0, 0
	for k, put := range srv.Fake.Puts()[:firstPuts] {
		stored := put.Events - put.Rejected
		in := 0
		for _, ev := range first[:stored] {
			i, ok := index[logEvent{ev.Timestamp, ev.Message}]
			require.True(t, ok, "unexpected event %.20q", ev.Message)
			if onRecord.Contains(i) {
				in++
			}
		}
		first = first[stored:]
		switch in {
		case stored:
		case 0:
			unacked++
			expectResent += stored
		default:
			t.Fatalf("request %d: %d of its %d events in the checkpoint", k, in, stored)
		}
	}
	assert.LessOrEqual(t, unacked, 4, "requests stored but not acknowledged in the checkpoint: at most those in flight")
	assert.Equal(t, expectResent, resent, "re-sent events are exactly those of the unacknowledged requests")
	t.Logf("first process: %d requests stored, %d of them unacknowledged in the checkpoint", firstPuts, unacked)
}

// heldRequests is where the crash tests stop the first process: the endpoint stores this many
// PutLogEvents requests (about half the object) and holds every later one.
const heldRequests = 4

func TestE2ECrashMidObjectThenRestart(t *testing.T) {
	for name, interleave := range map[string]bool{"in time order": false, "interleaved timestamps": true} {
		t.Run(name, func(t *testing.T) {
			e, srv, group, _, want := setupResumable(t, 0, interleave)
			// First life: receive the message; the endpoint stores heldRequests requests and holds the rest;
			// the process dies right after the checkpoint that records everything stored.
			out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queueURL, MaxNumberOfMessages: 10, VisibilityTimeout: 2, WaitTimeSeconds: 1})
			require.NoError(t, err)
			var msg *string
			for _, m := range out.Messages {
				if strings.Contains(*m.Body, "big.json.gz") {
					msg = m.Body
				}
			}
			require.NotNil(t, msg)
			srv.Fake.HoldPutsAfter(heldRequests)
			crashCtx, crash := context.WithCancel(e.ctx)
			var cp *crashingProgress
			rt := e.runtime(prometheus.NewRegistry(), func(o *Options) {
				cp = &crashingProgress{ProgressStore: o.Progress, crash: crash, ready: func(p Progress) bool {
					// Every stored request is acknowledged in this checkpoint (requests are stored whole).
					return len(srv.Fake.Puts()) == heldRequests && p.ackState().Count() >= srv.Fake.EventCount()
				}}
				o.Progress = cp
			})
			res := rt.Processor.ProcessMessage(crashCtx, []byte(*msg))
			require.True(t, cp.crashed.Load(), "the process died mid-object")
			require.Equal(t, OutcomeRetry, res.Outcome)
			saved := cp.saved.ackState()
			firstEvents, firstPuts := settle(t, srv)
			require.Equal(t, heldRequests, firstPuts, "the first life stored exactly the requests let through")
			require.Equal(t, firstEvents, saved.Count(), "the checkpoint on record holds every stored event")
			require.Less(t, saved.Count(), int64(len(want)), "the crash happened in the middle of the object")

			// Second life: a new process polls until the queue is empty.
			srv.Fake.ReleasePutsToNewConnections() // a request of the first life still on its way is never stored now
			rt2 := e.runtime(prometheus.NewRegistry())
			e.pollUntilDrained(rt2, 2*time.Minute)
			resent := checkResent(t, srv, group, want, saved)
			assert.Zero(t, resent, "everything the first life stored was on record")
			checkExactResume(t, srv, want, saved, firstEvents, firstPuts, resent)
		})
	}
}

func TestE2ESigtermDuringWork(t *testing.T) {
	e, srv, group, _, want := setupResumable(t, 0, false)
	srv.Fake.HoldPutsAfter(2)
	rt := e.runtime(prometheus.NewRegistry())
	po := e.pollerOptions(rt)
	po.Grace = 100 * time.Millisecond
	p, err := NewPoller(rt.SQS, rt.Processor, po)
	require.NoError(t, err)
	ctx, sigterm := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { return len(srv.Fake.Puts()) == 2 && srv.Fake.HeldPuts() > 0 }, time.Minute, 5*time.Millisecond,
		"delivery under way, held after 2 stored requests")
	sigterm()
	require.NoError(t, <-done)
	require.Equal(t, 1, e.queued(), "the unfinished message is still queued")
	assert.Equal(t, 1.0, value(rt.Metrics.MessagesRetried.WithLabelValues(string(ReasonInterrupted))))
	firstEvents, firstPuts := settle(t, srv)
	require.Equal(t, 2, firstPuts)

	// What was acknowledged before the shutdown is on record; the next process resumes there.
	srv.Fake.ReleasePutsToNewConnections()
	rec := &recordingProgress{}
	rt2 := e.runtime(prometheus.NewRegistry(), func(o *Options) { rec.ProgressStore = o.Progress; o.Progress = rec })
	e.pollUntilDrained(rt2, 2*time.Minute)
	resumedAt := rec.firstGet(t)
	require.Less(t, resumedAt.Count(), int64(len(want)), "SIGTERM arrived in the middle of the object")
	resent := checkResent(t, srv, group, want, resumedAt)
	assert.LessOrEqual(t, resent, 4*perRequest, "at most the MaxInFlight requests cut by the shutdown are re-sent")
	checkExactResume(t, srv, want, resumedAt, firstEvents, firstPuts, resent)
}

// legacyProgress stands for a progress entry written before acknowledged ranges were stored: on the first
// read it records only "acked" for the object's one destination (the log group's stream "p").
type legacyProgress struct {
	ProgressStore
	e     *e2e
	group string
	acked int64
	once  sync.Once
}

func (l *legacyProgress) Get(ctx context.Context, id string) (ObjectProgress, error) {
	l.once.Do(func() {
		dest := progressDestKey(cloudWatchDestKey(testaws.Region, l.group, "p"))
		_, err := l.e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &l.e.progressTable, Item: map[string]ddbtypes.AttributeValue{
			"id": &ddbtypes.AttributeValueMemberS{Value: id},
			"dests": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
				dest: &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
					"acked": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(l.acked, 10)},
				}},
			}},
		}})
		require.NoError(l.e.t, err)
	})
	return l.ProgressStore.Get(ctx, id)
}

func TestE2EResumeFromLegacyPrefix(t *testing.T) {
	e, srv, group, _, want := setupResumable(t, 0, true)
	const acked = 2500
	rt := e.runtime(prometheus.NewRegistry(), func(o *Options) {
		o.Progress = &legacyProgress{ProgressStore: o.Progress, e: e, group: group, acked: acked}
	})
	e.pollUntilDrained(rt, 2*time.Minute)
	counts := multiset(fakeEvents(srv, group, "p"))
	for i, w := range want {
		wantN := 1
		if i < acked {
			wantN = 0 // delivered by the earlier attempt on record
		}
		require.Equal(t, wantN, counts[w], "event %d", i)
	}
}

// recordingProgress remembers the first progress read.
type recordingProgress struct {
	ProgressStore
	mu    sync.Mutex
	first ObjectProgress
}

func (r *recordingProgress) Get(ctx context.Context, id string) (ObjectProgress, error) {
	op, err := r.ProgressStore.Get(ctx, id)
	r.mu.Lock()
	if r.first == nil && err == nil {
		r.first = op
	}
	r.mu.Unlock()
	return op, err
}

// firstGet is the acknowledged set the first read returned for the object's one destination.
func (r *recordingProgress) firstGet(t *testing.T) batcher.AckState {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotNil(t, r.first, "the restart read the progress on record")
	require.LessOrEqual(t, len(r.first), 1, "one destination")
	for _, p := range r.first {
		return p.ackState()
	}
	return batcher.AckState{} // nothing on record

}
