package replay

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

var testKeys = map[string][]byte{"k1": []byte("replay-test-secret-0123456789")}

// world is a central bucket, queue, tenant and progress tables in moto, and the strict CloudWatch endpoint.
type world struct {
	t        *testing.T
	ctx      context.Context
	s3       *s3.Client
	sqs      *sqs.Client
	ddb      *dynamodb.Client
	cw       *cwlfake.Server
	store    *tenant.Store
	central  string
	archive  string
	queueURL string
	progress string
	// times overrides the LastModified the listing reports, by key (moto stamps every object "now").
	mu     sync.Mutex
	times  map[string]time.Time
	broken map[string]bool // tenants whose CloudWatch role is denied
}

func newWorld(t *testing.T) *world {
	cfg := testaws.Config(t)
	ctx := testaws.Context(t, 3*time.Minute)
	w := &world{t: t, ctx: ctx, s3: testaws.S3(t), sqs: sqs.NewFromConfig(cfg), ddb: dynamodb.NewFromConfig(cfg),
		cw: cwlfake.Start(t), times: map[string]time.Time{}, broken: map[string]bool{}}
	w.central, w.archive = testaws.Name("central"), testaws.Name("archive")
	for _, b := range []string{w.central, w.archive} {
		_, err := w.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		require.NoError(t, err)
	}
	q, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("notifications"))})
	require.NoError(t, err)
	w.queueURL = *q.QueueUrl
	table := testaws.Name("tenants")
	require.NoError(t, tenant.CreateTable(ctx, w.ddb, table))
	w.store = tenant.NewStore(w.ddb, table)
	w.progress = testaws.Name("progress")
	require.NoError(t, engine.CreateProgressTable(ctx, w.ddb, w.progress))
	return w
}

// S3 and CloudWatchLogs make world an engine.Clients: S3 is moto, CloudWatch the strict fake, except for
// broken tenants, whose role is denied.
func (w *world) S3(context.Context, string) (engine.S3API, error) { return w.s3, nil }

func (w *world) CloudWatchLogs(_ context.Context, roleARN, _, tenantID, region string) (batcher.API, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken[tenantID] {
		return nil, "", fmt.Errorf("assume %s: %w", roleARN, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"})
	}
	return w.cw.Client(), "test|" + region, nil
}

func (w *world) Lookup(ctx context.Context, id string) ([]tenant.Config, error) {
	cs, _, err := w.store.ListTenant(ctx, id)
	return cs, err
}

func (w *world) setBroken(tenantID string, b bool) {
	w.mu.Lock()
	w.broken[tenantID] = b
	w.mu.Unlock()
}

func (w *world) processor() *engine.Processor {
	p, err := engine.NewProcessor(w, w, engine.Options{
		SourceBuckets: []string{w.central}, Region: testaws.Region, Workers: 4, ReplayKeys: testKeys,
		LogStreamTemplate: "{cluster_id}.{application}.{pod_name}",
		Progress:          engine.NewDynamoDBProgress(w.ddb, w.progress, 0),
		BreakerThreshold:  -1,
	})
	require.NoError(w.t, err)
	return p
}

// ListObjectsV2 lists moto and reports the LastModified set by setTime.
func (w *world) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := w.s3.ListObjectsV2(ctx, in, optFns...)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, o := range out.Contents {
		if t, ok := w.times[aws.ToString(o.Key)]; ok {
			out.Contents[i].LastModified = aws.Time(t)
		}
	}
	return out, nil
}

// object is one test object: its key and the messages of its events.
type object struct {
	key    string
	events []logEvent
}

type logEvent struct {
	ts  int64
	msg string
}

// put writes an object of n events starting at base (1 ms apart), written at written.
func (w *world) put(key string, n int, base, written time.Time) object {
	k, err := engine.ParseObjectKey(key)
	require.NoError(w.t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	o := object{key: key}
	for i := range n {
		ts := base.Add(time.Duration(i) * time.Millisecond)
		msg := fmt.Sprintf("%s line %d", key, i)
		fmt.Fprintf(zw, `{"cluster_id":%q,"namespace":%q,"application":%q,"pod_name":%q,"message":%q,"timestamp":%q}`+"\n",
			k.ClusterID, k.TenantID, k.Application, k.PodName, msg, ts.Format(time.RFC3339Nano))
		o.events = append(o.events, logEvent{ts.UnixMilli(), msg})
	}
	require.NoError(w.t, zw.Close())
	_, err = w.s3.PutObject(w.ctx, &s3.PutObjectInput{Bucket: &w.central, Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())})
	require.NoError(w.t, err)
	w.mu.Lock()
	w.times[key] = written
	w.mu.Unlock()
	return o
}

// stream is the CloudWatch stream of an object (template {cluster_id}.{application}.{pod_name}).
func stream(key string) string {
	k, _ := engine.ParseObjectKey(key)
	return k.ClusterID + "." + k.Application + "." + k.PodName
}

// delivered counts each event of the object in its tenant's group.
func (w *world) delivered(group string, o object) map[logEvent]int {
	got := map[logEvent]int{}
	for _, ev := range w.cw.Fake.Events(group, stream(o.key)) {
		if strings.HasPrefix(ev.Message, o.key+" ") {
			got[logEvent{ev.Timestamp, ev.Message}]++
		}
	}
	return got
}

// requireDelivered asserts that every event of o is in group exactly times times, and nothing else of o.
func (w *world) requireDelivered(group string, o object, times int) {
	w.t.Helper()
	got := w.delivered(group, o)
	want := map[logEvent]int{}
	if times > 0 {
		for _, e := range o.events {
			want[e] = times
		}
	}
	require.Equal(w.t, want, got, "events of %s in %s", o.key, group)
}

// drain receives every message of the queue and hands it to the processor (as the poller would), deleting
// it; it expects exactly n messages and returns their results.
func (w *world) drain(p *engine.Processor, n int) []engine.MessageResult {
	var out []engine.MessageResult
	for len(out) < n {
		rm, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(w.t, err)
		for _, m := range rm.Messages {
			out = append(out, p.ProcessMessage(w.ctx, []byte(aws.ToString(m.Body))))
			_, err := w.sqs.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: &w.queueURL, ReceiptHandle: m.ReceiptHandle})
			require.NoError(w.t, err)
		}
	}
	rm, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.queueURL, MaxNumberOfMessages: 10})
	require.NoError(w.t, err)
	require.Empty(w.t, rm.Messages, "more messages than the replay reported")
	return out
}

// config creates a delivery config.
func (w *world) config(c tenant.Config) {
	_, err := w.store.Create(w.ctx, c)
	require.NoError(w.t, err)
}

// archived lists the keys under the archive bucket.
func (w *world) archived() []string {
	out, err := w.s3.ListObjectsV2(w.ctx, &s3.ListObjectsV2Input{Bucket: &w.archive})
	require.NoError(w.t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// noWait records the pacing waits instead of sleeping.
type noWait struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (n *noWait) wait(ctx context.Context, d time.Duration) error {
	n.mu.Lock()
	n.waits = append(n.waits, d)
	n.mu.Unlock()
	return ctx.Err()
}

// GetBucketVersioning and ListObjectVersions make world a version lister (moto, with setTime's times).
func (w *world) GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, optFns ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error) {
	return w.s3.GetBucketVersioning(ctx, in, optFns...)
}

func (w *world) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	out, err := w.s3.ListObjectVersions(ctx, in, optFns...)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, v := range out.Versions {
		if t, ok := w.times[aws.ToString(v.Key)]; ok {
			out.Versions[i].LastModified = aws.Time(t)
		}
	}
	return out, nil
}
