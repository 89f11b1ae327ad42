package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/tenant"
)

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code + " (test)"} }

// fakeS3 holds central-bucket objects and records copies.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
	gets    int
	heads   int
	copies  []*s3.CopyObjectInput
	copyErr map[string]error // by destination bucket
	getErr  error
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}, copyErr: map[string]error{}} }

func etagOf(b []byte) string { return fmt.Sprintf("etag-%d-%x", len(b), len(b)*7+int(b[len(b)/2])) }

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.getErr != nil {
		return nil, f.getErr
	}
	b, ok := f.objects[*in.Bucket+"/"+*in.Key]
	if !ok {
		return nil, apiErr("NoSuchKey")
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b)), ETag: aws.String(`"` + etagOf(b) + `"`),
		LastModified: aws.Time(time.Unix(1_700_000_000, 0))}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads++
	b, ok := f.objects[*in.Bucket+"/"+*in.Key]
	if !ok {
		return nil, apiErr("NotFound")
	}
	return &s3.HeadObjectOutput{ETag: aws.String(`"` + etagOf(b) + `"`), LastModified: aws.Time(time.Unix(1_700_000_000, 0))}, nil
}

func (f *fakeS3) CopyObject(_ context.Context, in *s3.CopyObjectInput, _ ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.copyErr[*in.Bucket]; err != nil {
		return nil, err
	}
	src, err := url.PathUnescape(*in.CopySource)
	if err != nil {
		return nil, err
	}
	if _, ok := f.objects[src]; !ok {
		return nil, apiErr("NoSuchKey")
	}
	f.copies = append(f.copies, in)
	return &s3.CopyObjectOutput{}, nil
}

// fakeSink records what a batcher would have delivered.
type fakeSink struct {
	dest     batcher.Destination
	mu       sync.Mutex
	events   []batcher.Event
	failAt   int // fail the Add of this (0-based, within this sink) event; -1 never
	failErr  error
	ackLag   int // events after failAt not yet acknowledged... events before failAt-ackLag are acked
	closed   bool
	closeErr error
}

func (s *fakeSink) Add(ev batcher.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt >= 0 && len(s.events) == s.failAt {
		return s.failErr
	}
	s.events = append(s.events, batcher.Event{Timestamp: ev.Timestamp, Message: bytes.Clone(ev.Message)})
	return nil
}

func (s *fakeSink) Close() (batcher.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	n := int64(len(s.events))
	if s.failAt >= 0 && len(s.events) == s.failAt {
		acked := max(0, n-int64(s.ackLag))
		return batcher.Result{Acked: acked, Stats: batcher.Stats{EventsIn: n, EventsOut: acked, Requests: 1}}, s.failErr
	}
	if s.closeErr != nil {
		return batcher.Result{}, s.closeErr
	}
	return batcher.Result{Acked: n, Stats: batcher.Stats{EventsIn: n, EventsOut: n, Requests: 1, Bytes: n * 10}}, nil
}

// fakeWorld wires a Processor to fakes.
type fakeWorld struct {
	s3       *fakeS3
	configs  map[string][]tenant.Config
	cfgErr   error
	mu       sync.Mutex
	sinks    []*fakeSink
	cwErr    map[string]error // by role ARN: error creating the client
	cwCalls  int
	progress ProgressStore // nil: the processor's default
	// sinkSetup adjusts each new sink (by log group).
	sinkSetup func(*fakeSink)
}

func newFakeWorld() *fakeWorld {
	return &fakeWorld{s3: newFakeS3(), configs: map[string][]tenant.Config{}, cwErr: map[string]error{}}
}

func (w *fakeWorld) S3(context.Context, string) (S3API, error) { return w.s3, nil }

func (w *fakeWorld) CloudWatchLogs(_ context.Context, roleARN, _, _, region string) (batcher.API, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cwCalls++
	if err := w.cwErr[roleARN]; err != nil {
		return nil, "", err
	}
	return nil, roleARN + "|" + region, nil
}

func (w *fakeWorld) Lookup(_ context.Context, id string) ([]tenant.Config, error) {
	if w.cfgErr != nil {
		return nil, w.cfgErr
	}
	return w.configs[id], nil
}

func (w *fakeWorld) newSink(_ context.Context, _ batcher.API, _ string, d batcher.Destination, _ ...func(*batcher.Options)) LogSink {
	s := &fakeSink{dest: d, failAt: -1}
	if w.sinkSetup != nil {
		w.sinkSetup(s)
	}
	w.mu.Lock()
	w.sinks = append(w.sinks, s)
	w.mu.Unlock()
	return s
}

func (w *fakeWorld) sinksFor(group string) []*fakeSink {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*fakeSink
	for _, s := range w.sinks {
		if s.dest.LogGroup == group {
			out = append(out, s)
		}
	}
	return out
}

func (w *fakeWorld) processor(t interface{ Fatal(...any) }, fns ...func(*Options)) *Processor {
	o := Options{SourceBuckets: []string{"central"}, Region: "us-east-1", NewSink: w.newSink,
		Now: func() time.Time { return time.Unix(1_700_000_100, 0) }}
	for _, f := range fns {
		f(&o)
	}
	p, err := NewProcessor(w, w, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// vectorObject renders n Vector-shaped lines (gzip) with messages "<prefix> i" and increasing timestamps.
func vectorObject(prefix string, n int) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(zw, `{"cluster_id":"c1","namespace":"acme","application":"app","pod_name":"pod-1","message":"%s %d","timestamp":%q}`+"\n",
			prefix, i, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	zw.Close()
	return buf.Bytes()
}

// s3Body renders an S3 event notification for keys (already URL-encoded by the caller if wanted).
func s3Body(bucket string, rawKeys ...string) []byte {
	var recs []string
	for _, k := range rawKeys {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2026-11-25T10:00:00.000Z","s3":{"bucket":{"name":%q},"object":{"key":%q,"size":10}}}`, bucket, k))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)
}

func cwConfig(id, group, role string, apps ...string) tenant.Config {
	return tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogGroupName: group, LogDistributionRoleARN: role, DesiredLogs: apps}
}

func s3Config(id, bucket string, apps ...string) tenant.Config {
	return tenant.Config{TenantID: id, Type: tenant.TypeS3, BucketName: bucket, BucketPrefix: "logs/", DesiredLogs: apps}
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
