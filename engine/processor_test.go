package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/tenant"
)

const key1 = "c1/acme/app/pod-1/2026-11-25-10.json.gz"

func TestProcessMessageFanOut(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("hello", 25)
	w.configs["acme"] = []tenant.Config{
		cwConfig("acme", "/acme/app", "arn:aws:iam::1:role/r"),
		s3Config("acme", "acme-archive"),
		cwConfig("acme", "/acme/other", "arn:aws:iam::1:role/r", "other-app"), // filtered out
	}
	reg := prometheus.NewRegistry()
	p := w.processor(t, func(o *Options) { o.Metrics = NewMetrics(reg, true) })
	res := p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	require.Len(t, res.Objects, 1)
	obj := res.Objects[0]
	assert.Equal(t, "acme", obj.TenantID)
	assert.Equal(t, 1, obj.Filtered)
	assert.EqualValues(t, 25, obj.EventsRead)
	require.Len(t, obj.Destinations, 2)

	sinks := w.sinksFor("/acme/app")
	require.Len(t, sinks, 1)
	assert.Equal(t, "pod-1", sinks[0].dest.LogStream)
	require.Len(t, sinks[0].events, 25)
	for i, ev := range sinks[0].events {
		assert.Equal(t, fmt.Sprintf("hello %d", i), string(ev.Message))
		assert.Equal(t, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMilli()+int64(i), ev.Timestamp)
	}
	assert.Empty(t, w.sinksFor("/acme/other"), "filtered application must not be delivered")
	assert.Equal(t, 1, w.s3.gets, "the object is fetched once")

	require.Len(t, w.s3.copies, 1)
	c := w.s3.copies[0]
	assert.Equal(t, "acme-archive", *c.Bucket)
	assert.Equal(t, "logs/acme/c1/app/pod-1/2026-11-25-10.json.gz", *c.Key)
	assert.Equal(t, types.ObjectCannedACLBucketOwnerFullControl, c.ACL)
	assert.Equal(t, "central/"+key1, *c.CopySource)
	assert.Equal(t, types.MetadataDirectiveReplace, c.MetadataDirective)
	assert.Equal(t, map[string]string{
		MetaSourceBucket: "central", MetaSourceKey: key1, MetaTenant: "acme", MetaCluster: "c1",
		MetaApplication: "app", MetaPod: "pod-1", MetaDeliveredAt: "2023-11-14T22:15:00Z",
	}, c.Metadata)

	assert.Equal(t, 1.0, value(p.m.Deliveries.WithLabelValues("cloudwatch", "success", "")))
	assert.Equal(t, 1.0, value(p.m.Deliveries.WithLabelValues("s3", "success", "")))
	assert.Equal(t, 25.0, value(p.m.EventsRead))
	assert.Equal(t, 25.0, value(p.m.TenantEvents.WithLabelValues("acme")))
	assert.Equal(t, 1.0, value(p.m.Filtered))
}

func TestProcessObjectOutcomes(t *testing.T) {
	tests := map[string]struct {
		body   []byte
		setup  func(*fakeWorld)
		want   Outcome
		reason Reason
	}{
		"malformed body":         {body: []byte("nope"), want: OutcomeDropped, reason: ReasonMalformedBody},
		"test event":             {body: []byte(`{"Event":"s3:TestEvent"}`), want: OutcomeSuccess},
		"unknown bucket":         {body: s3Body("elsewhere", key1), want: OutcomeDropped, reason: ReasonUnknownBucket},
		"key outside the layout": {body: s3Body("central", "c1/acme/app/f.gz"), want: OutcomeDropped, reason: ReasonKeyLayout},
		"dot-dot segment":        {body: s3Body("central", "c1/../app/p/f.gz"), want: OutcomeDropped, reason: ReasonKeyLayout},
		"unknown tenant": {body: s3Body("central", "c1/ghost/app/pod-1/f.gz"), want: OutcomeDropped, reason: ReasonNoTenantConfig,
			setup: func(w *fakeWorld) { w.s3.objects["central/c1/ghost/app/pod-1/f.gz"] = vectorObject("x", 1) }},
		"only disabled configs": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonNoTenantConfig,
			setup: func(w *fakeWorld) {
				c := cwConfig("acme", "/g", "r")
				c.Enabled = aws.Bool(false)
				w.configs["acme"] = []tenant.Config{c}
			}},
		"every config filters the app": {body: s3Body("central", key1), want: OutcomeSuccess,
			setup: func(w *fakeWorld) { w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r", "x")} }},
		"config store down": {body: s3Body("central", key1), want: OutcomeRetry, reason: ReasonConfigLookup,
			setup: func(w *fakeWorld) { w.cfgErr = apiErr("ProvisionedThroughputExceededException") }},
		"source object gone": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonSourceMissing,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
				delete(w.s3.objects, "central/"+key1)
			}},
		"destination bucket missing": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonDestinationBucketMissing,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{s3Config("acme", "gone")}
				w.s3.copyErr["gone"] = apiErr("NoSuchBucket")
			}},
		"customer role denied": {body: s3Body("central", key1), want: OutcomeRetry, reason: ReasonAccessDenied,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
				w.sinkSetup = func(s *fakeSink) {
					s.failAt, s.failErr = 0, &credentials.AccessDeniedError{Hop: "customer", RoleARN: "r", Err: apiErr("AccessDenied")}
				}
			}},
		"throttled beyond retries": {body: s3Body("central", key1), want: OutcomeRetry, reason: ReasonTransient,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
				w.sinkSetup = func(s *fakeSink) { s.failAt, s.failErr = 3, apiErr("ThrottlingException") }
			}},
		"corrupt object": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonCorruptObject,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
				b := vectorObject("x", 200)
				w.s3.objects["central/"+key1] = b[:len(b)/2]
			}},
		"progress store down": {body: s3Body("central", key1), want: OutcomeRetry, reason: ReasonProgress,
			setup: func(w *fakeWorld) { w.progress = failingProgress{} }},
		"object replaced since the notification": {body: []byte(strings.Replace(string(s3Body("central", key1)), `"size":10`, `"size":10,"eTag":"old-etag"`, 1)),
			want: OutcomeDropped, reason: ReasonSourceSuperseded},
		"copy precondition failed": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonSourceSuperseded,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{s3Config("acme", "dst")}
				w.s3.copyErr["dst"] = apiErr("PreconditionFailed")
			}},
		"copy access denied": {body: s3Body("central", key1), want: OutcomeRetry, reason: ReasonAccessDenied,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{s3Config("acme", "dst")}
				w.s3.copyErr["dst"] = apiErr("AccessDenied")
			}},
		"copy rejected": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonDestinationRejected,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{s3Config("acme", "dst")}
				w.s3.copyErr["dst"] = apiErr("InvalidArgument")
			}},
		"CloudWatch rejects the request": {body: s3Body("central", key1), want: OutcomeDropped, reason: ReasonDestinationRejected,
			setup: func(w *fakeWorld) {
				w.sinkSetup = func(s *fakeSink) { s.failAt, s.failErr = 0, apiErr("InvalidParameterException") }
			}},
		"customer client unavailable": {body: s3Body("central", key1), want: OutcomeRetry, reason: ReasonTransient,
			setup: func(w *fakeWorld) { w.cwErr["r"] = errors.New("no route to STS") }},
		"worst of records wins": {body: s3Body("central", key1, "bad-key", "c1/acme/app/pod-1/missing.gz"), want: OutcomeDropped, reason: ReasonKeyLayout,
			setup: func(w *fakeWorld) { w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")} }},
		"retry beats drop": {body: s3Body("central", "bad-key", key1), want: OutcomeRetry, reason: ReasonTransient,
			setup: func(w *fakeWorld) {
				w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
				w.sinkSetup = func(s *fakeSink) { s.failAt, s.failErr = 0, apiErr("ServiceUnavailableException") }
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newFakeWorld()
			w.s3.objects["central/"+key1] = vectorObject("m", 10)
			w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
			if tc.setup != nil {
				tc.setup(w)
			}
			p := w.processor(t, func(o *Options) {
				o.Metrics = NewMetrics(prometheus.NewRegistry(), false)
				if w.progress != nil {
					o.Progress = w.progress
				}
			})
			res := p.ProcessMessage(context.Background(), tc.body)
			assert.Equal(t, tc.want, res.Outcome, "%+v", res)
			assert.Equal(t, tc.reason, res.Reason, "%+v", res)
		})
	}
}

func TestFailingDestinationDoesNotBlockOthers(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 40)
	w.configs["acme"] = []tenant.Config{
		cwConfig("acme", "/broken", "arn:broken"),
		cwConfig("acme", "/good", "arn:good"),
		s3Config("acme", "denied-bucket"),
		s3Config("acme", "good-bucket"),
	}
	w.s3.copyErr["denied-bucket"] = apiErr("AccessDenied")
	w.sinkSetup = func(s *fakeSink) {
		if s.dest.LogGroup == "/broken" {
			s.failAt, s.failErr = 5, apiErr("ThrottlingException")
		}
	}
	p := w.processor(t)
	res := p.ProcessMessage(context.Background(), s3Body("central", key1))
	assert.Equal(t, OutcomeRetry, res.Outcome)
	good := w.sinksFor("/good")
	require.Len(t, good, 1)
	assert.Len(t, good[0].events, 40, "the healthy destination got every event")
	require.Len(t, w.s3.copies, 1)
	assert.Equal(t, "good-bucket", *w.s3.copies[0].Bucket)
	byTarget := map[string]DestinationResult{}
	for _, d := range res.Objects[0].Destinations {
		byTarget[d.LogGroup+d.Bucket] = d
	}
	assert.Equal(t, OutcomeSuccess, byTarget["/good"].Outcome)
	assert.Equal(t, OutcomeSuccess, byTarget["good-bucket"].Outcome)
	assert.Equal(t, ReasonTransient, byTarget["/broken"].Reason)
	assert.Equal(t, ReasonAccessDenied, byTarget["denied-bucket"].Reason)
}

func TestRetryResumesWithoutRepeating(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 30)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/flaky", "arn:r"), s3Config("acme", "archive"), cwConfig("acme", "/steady", "arn:r2")}
	attempt := 0
	w.sinkSetup = func(s *fakeSink) {
		if s.dest.LogGroup == "/flaky" && attempt == 0 {
			// accepts 12 events, of which the last 2 were not acknowledged, then fails
			s.failAt, s.failErr, s.ackLag = 12, apiErr("ThrottlingException"), 2
		}
	}
	progress := NewMemoryProgress()
	p := w.processor(t, func(o *Options) { o.Progress = progress })
	res := p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeRetry, res.Outcome)

	attempt = 1
	res = p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	flaky := w.sinksFor("/flaky")
	require.Len(t, flaky, 2)
	require.Len(t, flaky[1].events, 20, "the retry resumes after the 10 acknowledged events")
	assert.Equal(t, "m 10", string(flaky[1].events[0].Message))
	assert.Len(t, w.sinksFor("/steady"), 1, "a destination that succeeded is not repeated")
	assert.Len(t, w.s3.copies, 1, "the S3 copy is not repeated")
	for _, d := range res.Objects[0].Destinations {
		if d.LogGroup == "/flaky" {
			assert.EqualValues(t, 10, d.ResumedAt)
		} else {
			assert.True(t, d.AlreadyDone, "%+v", d)
		}
	}

	// A duplicate delivery of the message after success sends nothing.
	res = p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome)
	assert.Len(t, w.sinks, 3, "no new sink: every destination is done")
	assert.Len(t, w.s3.copies, 1)
}

func TestCircuitBreaker(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 3)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "arn:broken")}
	w.sinkSetup = func(s *fakeSink) {
		s.failAt, s.failErr = 0, &credentials.AccessDeniedError{Hop: "customer", Err: apiErr("AccessDenied")}
	}
	now := time.Unix(1_700_000_000, 0)
	reg := prometheus.NewRegistry()
	p := w.processor(t, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.BreakerThreshold, o.BreakerCooldown = 2, time.Minute
		o.Metrics = NewMetrics(reg, false)
	})
	for range 2 {
		res := p.ProcessMessage(context.Background(), s3Body("central", key1))
		require.Equal(t, ReasonAccessDenied, res.Reason)
	}
	calls := w.cwCalls
	res := p.ProcessMessage(context.Background(), s3Body("central", key1))
	assert.Equal(t, OutcomeRetry, res.Outcome)
	assert.Equal(t, ReasonCircuitOpen, res.Reason)
	assert.Equal(t, calls, w.cwCalls, "an open breaker makes no call")
	assert.Equal(t, 1.0, value(p.m.BreakerOpen))

	now = now.Add(2 * time.Minute)
	w.sinkSetup = nil
	res = p.ProcessMessage(context.Background(), s3Body("central", key1))
	assert.Equal(t, OutcomeSuccess, res.Outcome, "after the cooldown deliveries are tried again")
}

func TestTenantLimiter(t *testing.T) {
	l := newTenantLimiter(2)
	ctx := context.Background()
	r1, w1, err := l.acquire(ctx, "a")
	require.NoError(t, err)
	r2, _, _ := l.acquire(ctx, "a")
	_, wb, err := l.acquire(ctx, "b")
	require.NoError(t, err)
	assert.False(t, w1 || wb, "other tenants are not held up")
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, waited, err := l.acquire(short, "a")
	assert.True(t, waited)
	assert.Error(t, err, "a third object of tenant a waits")
	r1()
	r3, _, err := l.acquire(ctx, "a")
	require.NoError(t, err)
	r2()
	r3()
	l.mu.Lock()
	_, left := l.sems["a"]
	l.mu.Unlock()
	assert.False(t, left, "idle tenants are forgotten")
}

func TestDryRunSendsNothing(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 3)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r"), s3Config("acme", "b"), cwConfig("acme", "/x", "r", "nope")}
	p := w.processor(t, func(o *Options) { o.LogStreamTemplate = "{cluster_id}/{application}/{pod_name}" })
	res := p.PlanMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome)
	d := res.Objects[0].Destinations
	require.Len(t, d, 2)
	assert.Equal(t, "c1/app/pod-1", d[0].Stream)
	assert.Equal(t, "logs/acme/c1/app/pod-1/2026-11-25-10.json.gz", d[1].Key)
	assert.True(t, d[0].DryRun && d[1].DryRun)
	assert.Empty(t, w.sinks)
	assert.Empty(t, w.s3.copies)
	assert.Zero(t, w.s3.gets)
}

func TestStreamTemplate(t *testing.T) {
	k := ObjectKey{ClusterID: "c1", TenantID: "t", Application: "app", PodName: "pod:1*x", File: "f"}
	tests := map[string]struct {
		tpl, want string
		err       bool
	}{
		"default":      {tpl: "{pod_name}", want: "pod_1_x"},
		"all fields":   {tpl: "{cluster_id}/{tenant_id}/{application}/{pod_name}", want: "c1/t/app/pod_1_x"},
		"literal text": {tpl: "k8s-{application}.{pod_name}", want: "k8s-app.pod_1_x"},
		"unknown":      {tpl: "{namespace}", err: true},
		"unclosed":     {tpl: "{pod_name", err: true},
		"no field":     {tpl: "static", err: true},
		"forbidden":    {tpl: "a:{pod_name}", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tpl, err := parseStreamTemplate(tc.tpl)
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, tpl.render(k))
		})
	}
	long, _ := parseStreamTemplate("{pod_name}")
	assert.Len(t, long.render(ObjectKey{PodName: strings.Repeat("é", 600)}), 512*2)
}

func TestCopySourceEncoding(t *testing.T) {
	for _, key := range []string{"c1/t/app/pod/a b+c.gz", "c1/t/app/pod/ünï cödé%.gz", "c1/t/app/pod/x?y#z&=.gz"} {
		src := copySource("bucket", key, "")
		assert.NotContains(t, src, " ")
		assert.NotContains(t, src, "+")
		got, err := url.PathUnescape(src)
		require.NoError(t, err)
		assert.Equal(t, "bucket/"+key, got)
	}
	assert.Equal(t, "b/k%2Bx?versionId=v1", copySource("b", "k+x", "v1"))
}

func TestCopyEncryptionAndMetadata(t *testing.T) {
	w := newFakeWorld()
	key := "c1/acme/app/pod-1/fé+ x.gz"
	w.s3.objects["central/"+key] = vectorObject("m", 1)
	kms := s3Config("acme", "kms-bucket")
	kms.SSE, kms.KMSKeyID = "aws:kms", "arn:aws:kms:us-east-1:1:key/k"
	aes := s3Config("acme", "aes-bucket")
	aes.SSE = "AES256"
	aes.TargetRegion = "eu-west-1"
	w.configs["acme"] = []tenant.Config{kms, aes}
	p := w.processor(t)
	res := p.ProcessMessage(context.Background(), s3Body("central", url.QueryEscape(key)))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	require.Len(t, w.s3.copies, 2)
	for _, c := range w.s3.copies {
		switch *c.Bucket {
		case "kms-bucket":
			assert.Equal(t, types.ServerSideEncryptionAwsKms, c.ServerSideEncryption)
			assert.Equal(t, "arn:aws:kms:us-east-1:1:key/k", aws.ToString(c.SSEKMSKeyId))
		case "aes-bucket":
			assert.Equal(t, types.ServerSideEncryptionAes256, c.ServerSideEncryption)
			assert.Nil(t, c.SSEKMSKeyId)
		}
		assert.Equal(t, "c1/acme/app/pod-1/f%C3%A9%2B%20x.gz", c.Metadata[MetaSourceKey])
	}
}

// slowSink acknowledges events as they are added but finishes its Close only when released, like a
// batcher whose last requests are still in flight.
type slowSink struct {
	fakeSink
	release chan struct{}
}

func (s *slowSink) Acked() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.events))
}

func (s *slowSink) Close() (batcher.Result, error) {
	<-s.release
	return s.fakeSink.Close()
}

type putLog struct {
	MemoryProgress
	puts chan Progress
}

// Put logs every destination's entry of u.
func (l *putLog) Put(ctx context.Context, id string, u ProgressUpdate) error {
	for _, p := range u.Dests {
		l.puts <- p
	}
	return l.MemoryProgress.Put(ctx, id, u)
}

func TestCheckpointsWhileClosing(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 50)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r")}
	release := make(chan struct{})
	store := &putLog{MemoryProgress: *NewMemoryProgress(), puts: make(chan Progress, 100)}
	p := w.processor(t, func(o *Options) {
		o.Progress = store
		o.CheckpointInterval = time.Millisecond
		o.NewSink = func(context.Context, batcher.API, string, batcher.Destination, ...func(*batcher.Options)) LogSink {
			return &slowSink{fakeSink: fakeSink{failAt: -1}, release: release}
		}
	})
	done := make(chan MessageResult, 1)
	go func() { done <- p.ProcessMessage(context.Background(), s3Body("central", key1)) }()
	// Every event is added (and acknowledged) before Close; Close blocks until released.
	for pr := range store.puts {
		require.False(t, pr.Done, "the delivery cannot be done before its sink closes")
		if pr.Acked == 50 {
			break // the acknowledged offset is on record while the sink is still closing
		}
	}
	close(release)
	require.Equal(t, OutcomeSuccess, (<-done).Outcome)
	for {
		select {
		case pr := <-store.puts:
			if pr.Done {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the finished delivery was not recorded")
		}
	}
}

type failingProgress struct{}

func (failingProgress) Get(context.Context, string) (ObjectProgress, error) {
	return nil, apiErr("ProvisionedThroughputExceededException")
}
func (failingProgress) Put(context.Context, string, ProgressUpdate) error { return nil }

func TestDuplicateNotificationsDeliverOnce(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 20)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/g", "r"), s3Config("acme", "b")}
	p := w.processor(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			res := p.ProcessMessage(context.Background(), s3Body("central", key1, key1))
			assert.Equal(t, OutcomeSuccess, res.Outcome)
		})
	}
	wg.Wait()
	require.Len(t, w.sinksFor("/g"), 1, "one CloudWatch delivery for six notifications")
	assert.Len(t, w.sinksFor("/g")[0].events, 20)
	assert.Len(t, w.s3.copies, 1)
}

// stuckSink accepts n events, then blocks in Add until its context ends, like a batcher whose
// destination throttles every request.
type stuckSink struct {
	fakeSink
	ctx context.Context
	n   int
}

func (s *stuckSink) Add(ev batcher.Event) error {
	s.mu.Lock()
	if len(s.events) < s.n {
		s.events = append(s.events, batcher.Event{Timestamp: ev.Timestamp, Message: append([]byte(nil), ev.Message...)})
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	<-s.ctx.Done()
	return s.ctx.Err()
}

func (s *stuckSink) Close() (batcher.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return batcher.Result{Acked: int64(len(s.events))}, s.ctx.Err()
}

func TestSlowDestinationIsDetached(t *testing.T) {
	w := newFakeWorld()
	w.s3.objects["central/"+key1] = vectorObject("m", 5000)
	w.configs["acme"] = []tenant.Config{cwConfig("acme", "/slow", "r"), cwConfig("acme", "/fast", "r")}
	attempt := 0
	var fast []*fakeSink
	var slow []*stuckSink
	p := w.processor(t, func(o *Options) {
		o.DetachAfter = 50 * time.Millisecond
		o.NewSink = func(ctx context.Context, _ batcher.API, _ string, d batcher.Destination, _ ...func(*batcher.Options)) LogSink {
			if d.LogGroup == "/slow" {
				n := 100
				if attempt > 0 {
					n = 1 << 30
				}
				s := &stuckSink{fakeSink: fakeSink{dest: d, failAt: -1}, ctx: ctx, n: n}
				slow = append(slow, s)
				return s
			}
			s := &fakeSink{dest: d, failAt: -1}
			fast = append(fast, s)
			return s
		}
	})
	res := p.ProcessMessage(context.Background(), s3Body("central", key1))
	assert.Equal(t, OutcomeRetry, res.Outcome)
	assert.Equal(t, ReasonSlowDestination, res.Reason)
	require.Len(t, fast, 1)
	assert.Len(t, fast[0].events, 5000, "the healthy destination got the whole object")

	attempt = 1
	res = p.ProcessMessage(context.Background(), s3Body("central", key1))
	require.Equal(t, OutcomeSuccess, res.Outcome, "%+v", res)
	assert.Len(t, fast, 1, "the finished destination is not repeated")
	require.Len(t, slow, 2)
	require.Len(t, slow[1].events, 4900, "the detached destination resumes after what it acknowledged")
	assert.Equal(t, "m 100", string(slow[1].events[0].Message))
}
