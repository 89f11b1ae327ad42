package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// engineWorld is a central bucket, a tenant table with one tenant (CloudWatch + S3) and one object, in moto.
type engineWorld struct {
	ctx                          context.Context
	env                          map[string]string
	central, archive, key, group string
	tenantID                     string
	s3                           *s3.Client
	logs                         *cloudwatchlogs.Client
}

func newEngineWorld(t *testing.T) *engineWorld {
	ep := testaws.Endpoint(t)
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": ep, "AWS_REGION": testaws.Region, "AWS_ACCESS_KEY_ID": "testing",
		"AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	cfg := testaws.Config(t)
	w := &engineWorld{ctx: testaws.Context(t, 2*time.Minute), s3: testaws.S3(t), logs: cloudwatchlogs.NewFromConfig(cfg),
		central: testaws.Name("central"), archive: testaws.Name("archive"), tenantID: testaws.Name("acme")}
	for _, b := range []string{w.central, w.archive} {
		_, err := w.s3.CreateBucket(w.ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		require.NoError(t, err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	table := testaws.Name("tenants")
	require.NoError(t, tenant.CreateTable(w.ctx, ddb, table))
	store := tenant.NewStore(ddb, table)
	w.group = "/tenants/" + w.tenantID
	for _, c := range []tenant.Config{
		{TenantID: w.tenantID, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: "arn:aws:iam::" + testaws.AccountID + ":role/acme", LogGroupName: w.group},
		{TenantID: w.tenantID, Type: tenant.TypeS3, BucketName: w.archive},
	} {
		_, err := store.Create(w.ctx, c)
		require.NoError(t, err)
	}
	w.key = "c1/" + w.tenantID + "/api/api-0/part 1+x.json.gz"
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	base := time.Now().Add(-time.Hour).UTC()
	for i := range 40 {
		fmt.Fprintf(zw, `{"cluster_id":"c1","namespace":%q,"application":"api","pod_name":"api-0","message":"hello %d","timestamp":%q}`+"\n",
			w.tenantID, i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano))
	}
	zw.Close()
	_, err := w.s3.PutObject(w.ctx, &s3.PutObjectInput{Bucket: &w.central, Key: &w.key, Body: bytes.NewReader(buf.Bytes())})
	require.NoError(t, err)
	w.env = map[string]string{"LOGROUTER_TENANT_TABLE": table, "LOGROUTER_CENTRAL_ROLE_ARN": "arn:aws:iam::" + testaws.AccountID + ":role/central",
		"LOGROUTER_SOURCE_BUCKETS": w.central, "LOGROUTER_EXTERNAL_ID": "ext", "LOGROUTER_LOG_LEVEL": "warn"}
	return w
}

func decodeResults(t *testing.T, out string) []engine.MessageResult {
	t.Helper()
	var res []engine.MessageResult
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r engine.MessageResult
		if err := dec.Decode(&r); err == io.EOF {
			return res
		} else {
			require.NoError(t, err, out)
		}
		res = append(res, r)
	}
}

func TestProcessCommandIntegration(t *testing.T) {
	w := newEngineWorld(t)

	// --dry-run resolves without sending.
	code, out, stderr := runCmd(t, w.env, "", "process", "--dry-run", "--bucket", w.central, "--key", w.key)
	require.Equal(t, 0, code, stderr)
	res := decodeResults(t, out)
	require.Len(t, res, 1)
	require.Len(t, res[0].Objects[0].Destinations, 2)
	for _, d := range res[0].Objects[0].Destinations {
		assert.True(t, d.DryRun)
	}
	_, err := w.logs.DescribeLogStreams(w.ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: &w.group})
	assert.Error(t, err, "a dry run creates no log group")

	// One object by bucket and key.
	code, out, stderr = runCmd(t, w.env, "", "process", "--bucket", w.central, "--key", w.key)
	require.Equal(t, 0, code, stderr)
	res = decodeResults(t, out)
	require.Equal(t, engine.OutcomeSuccess, res[0].Outcome)
	byType := map[tenant.Type]engine.DestinationResult{}
	for _, d := range res[0].Objects[0].Destinations {
		byType[d.Type] = d
	}
	assert.EqualValues(t, 40, byType[tenant.TypeCloudWatch].Events)
	assert.Positive(t, byType[tenant.TypeCloudWatch].Requests)
	assert.Positive(t, byType[tenant.TypeCloudWatch].Bytes)
	assert.Equal(t, "api-0", byType[tenant.TypeCloudWatch].Stream)
	assert.Equal(t, engine.OutcomeSuccess, byType[tenant.TypeS3].Outcome)
	got, err := w.logs.GetLogEvents(w.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &w.group, LogStreamName: aws.String("api-0"), StartFromHead: aws.Bool(true)})
	require.NoError(t, err)
	require.Len(t, got.Events, 40)
	assert.Equal(t, "hello 0", *got.Events[0].Message)

	// A notification on stdin (URL-encoded key, as S3 sends it); in-memory progress is per process, so
	// this run delivers again.
	body := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`,
		w.central, strings.ReplaceAll(strings.ReplaceAll(w.key, "+", "%2B"), " ", "+"))
	code, out, stderr = runCmd(t, w.env, body, "process")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, engine.OutcomeSuccess, decodeResults(t, out)[0].Outcome)

	// Failure: exit status 1 with the reason.
	code, out, _ = runCmd(t, w.env, "", "process", "--bucket", w.central, "--key", "c1/"+w.tenantID+"/api/api-0/missing.json.gz")
	assert.Equal(t, 1, code)
	res = decodeResults(t, out)
	assert.Equal(t, engine.OutcomeDropped, res[0].Outcome)
	assert.Equal(t, engine.ReasonSourceMissing, res[0].Reason)
}

func pickAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestPollCommandIntegration(t *testing.T) {
	w := newEngineWorld(t)
	q := sqs.NewFromConfig(testaws.Config(t))
	created, err := q.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("q"))})
	require.NoError(t, err)
	body := fmt.Sprintf(`{"Type":"Notification","Message":%q}`, fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`,
		w.central, strings.ReplaceAll(strings.ReplaceAll(w.key, "+", "%2B"), " ", "+")))
	_, err = q.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: &body})
	require.NoError(t, err)

	addr := pickAddr(t)
	env := map[string]string{"LOGROUTER_QUEUE_URL": *created.QueueUrl, "LOGROUTER_METRICS_ADDR": addr, "LOGROUTER_WAIT_TIME": "1s"}
	for k, v := range w.env {
		env[k] = v
	}
	ctx, sigterm := context.WithCancel(w.ctx)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, stdio{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr}, []string{"poll"}, func(k string) string { return env[k] })
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		_, m := get("/metrics")
		return strings.Contains(m, "logrouter_messages_deleted_total 1")
	}, time.Minute, 50*time.Millisecond, "the message is delivered and deleted")
	code, _ := get("/healthz")
	assert.Equal(t, 200, code)
	code, _ = get("/readyz")
	assert.Equal(t, 200, code)
	_, m := get("/metrics")
	for _, name := range []string{"logrouter_deliveries_total", "logrouter_objects_total", "logrouter_putlogevents_requests_total",
		"logrouter_credentials_assume_role_calls_total", "logrouter_config_cache_lookups_total", "logrouter_delivery_latency_seconds_bucket", "go_goroutines"} {
		assert.Contains(t, m, name)
	}
	sigterm()
	select {
	case c := <-done:
		assert.Equal(t, 0, c, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("poll did not stop after SIGTERM")
	}
	got, err := w.logs.GetLogEvents(w.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &w.group, LogStreamName: aws.String("api-0"), StartFromHead: aws.Bool(true)})
	require.NoError(t, err)
	assert.Len(t, got.Events, 40)
}
