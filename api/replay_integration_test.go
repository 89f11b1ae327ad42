package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/replay"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

var replayKey = []byte("replay-key-0123456789abcdef")

// blockingQueue passes the first `pass` batches to SQS, then blocks every later one until its context ends
// (the API stopping), telling blocked when it does.
type blockingQueue struct {
	*sqs.Client
	mu      sync.Mutex
	pass    int
	blocked chan struct{}
}

func (q *blockingQueue) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	pass := q.pass > 0
	q.pass--
	q.mu.Unlock()
	if pass {
		return q.Client.SendMessageBatch(ctx, in, optFns...)
	}
	close(q.blocked)
	<-ctx.Done()
	return nil, ctx.Err()
}

type replayEnv struct {
	t       *testing.T
	ctx     context.Context
	ddb     *dynamodb.Client
	s3      *s3.Client
	sqs     *sqs.Client
	table   string
	central string
	queue   string
}

func newReplayEnv(t *testing.T) *replayEnv {
	cfg := testaws.Config(t)
	e := &replayEnv{t: t, ctx: testaws.Context(t, 2*time.Minute), ddb: dynamodb.NewFromConfig(cfg), s3: testaws.S3(t), sqs: sqs.NewFromConfig(cfg),
		table: testaws.Name("status"), central: testaws.Name("central")}
	require.NoError(t, status.CreateTable(e.ctx, e.ddb, e.table))
	_, err := e.s3.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String(e.central)})
	require.NoError(t, err)
	q, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("notifications"))})
	require.NoError(t, err)
	e.queue = *q.QueueUrl
	return e
}

// api starts one API process: its Jobs (owner name) and server; queue nil means plain SQS.
func (e *replayEnv) api(owner string, queue replay.SQSSender) (*replay.Jobs, *testServer) {
	if queue == nil {
		queue = e.sqs
	}
	jobs, err := replay.NewJobs(replay.JobsOptions{DB: e.ddb, Table: e.table, Bucket: e.central, Lister: e.s3, Queue: queue,
		QueueURL: e.queue, KeyID: "k1", Secret: replayKey, Owner: owner})
	require.NoError(e.t, err)
	srv, err := New(tenant.NewStore(nil, "unused"), Keys{testKeyID: testSecret}, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(), Replays: jobs})
	require.NoError(e.t, err)
	return jobs, &testServer{t: e.t, srv: srv, now: time.Now()}
}

func decodeJob(t *testing.T, res response) replay.Job {
	t.Helper()
	var j replay.Job
	require.NoError(t, json.Unmarshal(res.Body, &j), "%s", res.Body)
	return j
}

// A replay job started through the API survives the API's restart: the stopped process records where the
// job stopped, the next one resumes it under the same replay id, and every object is enqueued exactly once.
// While it runs, a second job for the tenant is refused with 409.
func TestReplayJobSurvivesRestartIntegration(t *testing.T) {
	e := newReplayEnv(t)
	tenantID := testaws.Name("acme")
	var keys []string
	for i := range 25 {
		k := fmt.Sprintf("c%d/%s/app/pod/f%02d.json.gz", i%2, tenantID, i)
		_, err := e.s3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &e.central, Key: aws.String(k), Body: bytes.NewReader([]byte("x"))})
		require.NoError(t, err)
		keys = append(keys, k)
	}
	bq := &blockingQueue{Client: e.sqs, pass: 1, blocked: make(chan struct{})}
	jobs1, api1 := e.api("api-1", bq)

	res := api1.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays", `{"since":"1h","types":["cloudwatch"]}`, true)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	job := decodeJob(t, res)
	assert.Equal(t, replay.JobRunning, job.State)
	assert.Equal(t, "/api/v1/tenants/"+tenantID+"/replays/"+job.ID, res.Header.Get("Location"))
	<-bq.blocked // one batch of 10 enqueued, the job is in the middle of the second

	res = api1.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays", `{"since":"2h"}`, true)
	require.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
	assert.Contains(t, res.problem(t).Detail, job.ID)

	jobs1.Close() // the first API process stops
	stopped := decodeJob(t, api1.do(http.MethodGet, "/api/v1/tenants/"+tenantID+"/replays/"+job.ID, "", true))
	assert.Equal(t, replay.JobRunning, stopped.State, "a stopped process leaves the job to the next")
	assert.Equal(t, keys[18], stopped.NextStartAfter, "the last key of the first batch, in key order (c0 first)")
	assert.EqualValues(t, 10, stopped.Progress.Enqueued)

	jobs2, api2 := e.api("api-2", nil)
	require.NoError(t, jobs2.Resume(e.ctx))
	jobs2.Wait()
	done := decodeJob(t, api2.do(http.MethodGet, "/api/v1/tenants/"+tenantID+"/replays/"+job.ID, "", true))
	assert.Equal(t, replay.JobSucceeded, done.State, "%+v", done)
	assert.EqualValues(t, 25, done.Progress.Enqueued)
	assert.EqualValues(t, 25, done.Progress.InWindow)
	assert.Equal(t, 1, done.Resumed)
	assert.False(t, done.FinishedAt.IsZero())

	seen := map[string]int{}
	for len(seen) < 25 {
		rm, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		require.NotEmpty(t, rm.Messages, "only %d of 25 objects enqueued", len(seen))
		for _, m := range rm.Messages {
			n, err := engine.ParseNotification([]byte(*m.Body))
			require.NoError(t, err)
			require.NoError(t, engine.VerifyReplay(n.Replay, map[string][]byte{"k1": replayKey}, n.Objects))
			assert.Equal(t, job.ID, n.Replay.ID)
			assert.Equal(t, []tenant.Type{tenant.TypeCloudWatch}, n.Replay.Types)
			seen[n.Objects[0].Key]++
			_, err = e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: &e.queue, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
	rm, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queue, MaxNumberOfMessages: 10})
	require.NoError(t, err)
	assert.Empty(t, rm.Messages, "no object enqueued twice")
	for _, k := range keys {
		assert.Equal(t, 1, seen[k], k)
	}

	// The tenant is free again; the list shows the job; a finished job cannot be cancelled.
	list := api2.do(http.MethodGet, "/api/v1/tenants/"+tenantID+"/replays", "", true)
	require.Equal(t, http.StatusOK, list.Status)
	var l ReplayList
	require.NoError(t, json.Unmarshal(list.Body, &l))
	require.Len(t, l.Items, 1)
	assert.Equal(t, job.ID, l.Items[0].ID)
	res = api2.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays/"+job.ID+"/cancel", "", true)
	assert.Equal(t, http.StatusConflict, res.Status)
	res = api2.do(http.MethodGet, "/api/v1/tenants/"+tenantID+"/replays/r-none", "", true)
	assert.Equal(t, http.StatusNotFound, res.Status)
	jobs2.Close()
}

// Cancelling a running job stops it and frees the tenant; a bad request is a 400.
func TestReplayJobCancelIntegration(t *testing.T) {
	e := newReplayEnv(t)
	tenantID := testaws.Name("acme")
	for i := range 15 {
		_, err := e.s3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &e.central, Key: aws.String(fmt.Sprintf("c1/%s/app/pod/f%02d", tenantID, i)), Body: bytes.NewReader([]byte("x"))})
		require.NoError(t, err)
	}
	bq := &blockingQueue{Client: e.sqs, pass: 1, blocked: make(chan struct{})}
	jobs, srv := e.api("api-1", bq)
	defer jobs.Close()
	for body, field := range map[string]string{`{"since":"yesterday"}`: "since", `{"since":"1h","until":"2h"}`: "until", `{"since":"1h","types":["kinesis"]}`: "types"} {
		res := srv.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays", body, true)
		assert.Equal(t, http.StatusBadRequest, res.Status, "%s: %s", field, res.Body)
	}
	res := srv.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays", `{"since":"1h"}`, true)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	job := decodeJob(t, res)
	<-bq.blocked
	res = srv.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays/"+job.ID+"/cancel", "", true)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	assert.True(t, decodeJob(t, res).CancelRequested)
	jobs.Wait()
	got := decodeJob(t, srv.do(http.MethodGet, "/api/v1/tenants/"+tenantID+"/replays/"+job.ID, "", true))
	assert.Equal(t, replay.JobCancelled, got.State)
	assert.EqualValues(t, 10, got.Progress.Enqueued)
	res = srv.do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/replays", `{"since":"1h"}`, true)
	assert.Equal(t, http.StatusAccepted, res.Status, "the tenant is free again: %s", res.Body)
}
