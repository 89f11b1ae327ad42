package engine

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/bench/corpus"
)

// nopLogs accepts every request instantly: the benchmark measures the engine, parser and batcher.
type nopLogs struct{}

func (nopLogs) PutLogEvents(context.Context, *cloudwatchlogs.PutLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	return &cloudwatchlogs.PutLogEventsOutput{}, nil
}
func (nopLogs) CreateLogGroup(context.Context, *cloudwatchlogs.CreateLogGroupInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error) {
	return &cloudwatchlogs.CreateLogGroupOutput{}, nil
}
func (nopLogs) CreateLogStream(context.Context, *cloudwatchlogs.CreateLogStreamInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}
func (nopLogs) PutRetentionPolicy(context.Context, *cloudwatchlogs.PutRetentionPolicyInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error) {
	return &cloudwatchlogs.PutRetentionPolicyOutput{}, nil
}

type nopLogsWorld struct{ *fakeWorld }

func (w nopLogsWorld) CloudWatchLogs(context.Context, string, string, string, string) (batcher.API, string, error) {
	return nopLogs{}, "bench", nil
}

// BenchmarkProcessObject delivers one 16 MiB (uncompressed) Vector object to 1 or 2 CloudWatch destinations
// through the real parser and batcher; MB/s is of uncompressed input.
func BenchmarkProcessObject(b *testing.B) {
	var buf bytes.Buffer
	sum, err := corpus.Generate(&buf, corpus.Options{Seed: 7, TargetBytes: 16 << 20, Start: time.Now().Add(-time.Hour),
		ClusterID: "c1", Namespace: "acme", Application: "app", PodName: "pod-1", Span: 30 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("destinations=%d", n), func(b *testing.B) {
			w := newFakeWorld()
			w.s3.objects["central/"+key1] = buf.Bytes()
			for i := range n {
				w.configs["acme"] = append(w.configs["acme"], cwConfig("acme", fmt.Sprintf("/g%d", i), "r"))
			}
			p, err := NewProcessor(nopLogsWorld{w}, w, Options{SourceBuckets: []string{"central"}, Region: "us-east-1",
				Progress: nopProgress{}})
			if err != nil {
				b.Fatal(err)
			}
			obj := ObjectRef{Bucket: "central", Key: key1, ETag: etagOf(buf.Bytes())}
			b.SetBytes(sum.UncompressedBytes)
			b.ReportAllocs()
			for b.Loop() {
				if res := p.ProcessObject(context.Background(), obj); res.Outcome != OutcomeSuccess {
					b.Fatalf("%+v", res)
				}
			}
		})
	}
}

type nopProgress struct{}

func (nopProgress) Get(context.Context, string) (ObjectProgress, error) { return ObjectProgress{}, nil }
func (nopProgress) Put(context.Context, string, ProgressUpdate) error   { return nil }
