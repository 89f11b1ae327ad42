package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/tenant"
)

func init() {
	scenarioSetups[EndToEnd] = setupEndToEnd
}

const e2eBucket = "logrouter-bench-central"

// fileS3 serves the corpus files as the central bucket: GetObject streams a file, as S3 streams a body. It
// runs in the child, but costs only the file read (page cache), which an S3 client's socket read would too.
type fileS3 struct {
	objects map[string]string // key → path
}

func (f *fileS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	path, ok := f.objects[aws.ToString(in.Key)]
	if !ok || aws.ToString(in.Bucket) != e2eBucket {
		return nil, fmt.Errorf("no such object s3://%s/%s", aws.ToString(in.Bucket), aws.ToString(in.Key))
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	return &s3.GetObjectOutput{Body: file, ContentLength: aws.Int64(st.Size()), LastModified: aws.Time(st.ModTime())}, nil
}

func (f *fileS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	path, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, fmt.Errorf("no such object %s", aws.ToString(in.Key))
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(st.Size()), ETag: aws.String(`"` + path + `"`)}, nil
}

func (f *fileS3) CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return nil, errors.New("the benchmark has no S3 destinations")
}

// benchClients hands the engine the file-backed bucket and one CloudWatch Logs client aimed at the strict
// endpoint for every tenant (credentials are not what is measured).
type benchClients struct {
	s3 *fileS3
	cw batcher.API
}

func (c *benchClients) S3(context.Context, string) (engine.S3API, error) { return c.s3, nil }

func (c *benchClients) CloudWatchLogs(context.Context, string, string, string, string) (batcher.API, string, error) {
	return c.cw, "bench/us-east-1", nil
}

// staticConfigs gives every tenant one CloudWatch Logs destination.
type staticConfigs map[string][]tenant.Config

func (s staticConfigs) Lookup(_ context.Context, id string) ([]tenant.Config, error) {
	return s[id], nil
}

// notification renders the SQS message body S3 sends for one new object.
func notification(key, etag string, size int64, at time.Time) ([]byte, error) {
	type object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		ETag string `json:"eTag"`
	}
	type record struct {
		EventVersion string    `json:"eventVersion"`
		EventSource  string    `json:"eventSource"`
		AWSRegion    string    `json:"awsRegion"`
		EventTime    time.Time `json:"eventTime"`
		EventName    string    `json:"eventName"`
		S3           struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object object `json:"object"`
		} `json:"s3"`
	}
	r := record{EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: "us-east-1", EventTime: at, EventName: "ObjectCreated:Put"}
	r.S3.Bucket.Name = e2eBucket
	r.S3.Object = object{Key: key, Size: size, ETag: etag}
	return json.Marshal(map[string][]record{"Records": {r}})
}

// setupEndToEnd delivers every object, each announced by its own SQS message body, through a fresh
// engine.Processor per iteration (so nothing is skipped as already delivered) with Workers goroutines taking
// messages as the poll mode's workers do. Objects belong to Tenants tenants, each with one CloudWatch Logs
// destination on the strict endpoint.
func setupEndToEnd(_ context.Context, cs ChildSpec, info *ChildResult) (iteration, func(), error) {
	client, err := cloudWatchClient(cs.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	tenants := max(1, cs.Tenants)
	workers := max(1, cs.Workers)
	src := &fileS3{objects: map[string]string{}}
	configs := staticConfigs{}
	var bodies [][]byte
	var uncompressed int64
	for i, path := range cs.Objects {
		tenantID := tenantName(i % tenants)
		key := engine.ObjectKey{ClusterID: "bench-cluster", TenantID: tenantID, Application: "app-" + strconv.Itoa(i%3),
			PodName: "pod-" + strconv.Itoa(i), File: strconv.Itoa(i) + ".log.gz"}.String()
		src.objects[key] = path
		if _, ok := configs[tenantID]; !ok {
			configs[tenantID] = []tenant.Config{{TenantID: tenantID, Type: tenant.TypeCloudWatch,
				LogDistributionRoleARN: "arn:aws:iam::123456789012:role/logrouter-bench", LogGroupName: "/bench/" + tenantID}}
		}
		shapes, n, err := objectShapes(path)
		if err != nil {
			return nil, nil, err
		}
		info.MinRequestsPerIteration += MinRequests(shapes, 0)
		uncompressed += n
		st, err := os.Stat(path)
		if err != nil {
			return nil, nil, err
		}
		body, err := notification(key, "bench"+strconv.Itoa(i), st.Size(), time.Now().UTC())
		if err != nil {
			return nil, nil, err
		}
		bodies = append(bodies, body)
	}
	existence := batcher.NewExistenceCache(1000)
	clients := &benchClients{s3: src, cw: client}
	run := func(ctx context.Context) (iterStats, error) {
		p, err := engine.NewProcessor(clients, configs, engine.Options{SourceBuckets: []string{e2eBucket},
			Region: "us-east-1", Workers: workers, Existence: existence})
		if err != nil {
			return iterStats{}, err
		}
		msgs := make(chan []byte)
		var mu sync.Mutex
		var st iterStats
		var firstErr error
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for body := range msgs {
					res := p.ProcessMessage(ctx, body)
					mu.Lock()
					if res.Outcome != engine.OutcomeSuccess && firstErr == nil {
						firstErr = fmt.Errorf("message outcome %s (%s): %s", res.Outcome, res.Reason, res.Error)
					}
					for _, o := range res.Objects {
						st.events += o.EventsRead
						for _, d := range o.Destinations {
							st.requests += d.Requests
							if d.Stats != nil {
								st.fillSum += d.Stats.FillSum
							}
						}
					}
					mu.Unlock()
				}
			})
		}
		for _, b := range bodies {
			select {
			case msgs <- b:
			case <-ctx.Done():
			}
		}
		close(msgs)
		wg.Wait()
		if firstErr != nil {
			return st, firstErr
		}
		st.bytes = uncompressed
		return st, ctx.Err()
	}
	return run, func() {}, nil
}
