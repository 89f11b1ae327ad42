package replay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/status"
)

// stallingQueue passes the first pass batches, then stalls every later one until its context ends.
type stallingQueue struct {
	SQSSender
	mu      sync.Mutex
	pass    int
	stalled chan struct{}
	once    sync.Once
}

func (q *stallingQueue) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	pass := q.pass > 0
	q.pass--
	q.mu.Unlock()
	if pass {
		return q.SQSSender.SendMessageBatch(ctx, in, optFns...)
	}
	q.once.Do(func() { close(q.stalled) })
	<-ctx.Done()
	return nil, ctx.Err()
}

// A process that dies while running a job (its lease is never released) loses the job to another process
// once the lease has expired; the new owner continues after the last checkpoint, and the dead process,
// should it wake up, cannot overwrite the job.
func TestJobTakenOverAfterLeaseExpiry(t *testing.T) {
	w := newWorld(t)
	table := testaws.Name("status")
	require.NoError(t, status.CreateTable(w.ctx, w.ddb, table))
	id := testaws.Name("acme")
	now := time.Now().UTC()
	var keys []string
	for i := range 25 {
		o := w.put(fmt.Sprintf("c1/%s/app/pod/f%02d", id, i), 1, now.Add(-time.Hour), now.Add(-time.Hour))
		keys = append(keys, o.key)
	}
	opts := func(owner string, q SQSSender, now func() time.Time) JobsOptions {
		return JobsOptions{DB: w.ddb, Table: table, Bucket: w.central, Lister: w, Queue: q, QueueURL: w.queueURL, KeyID: "k1",
			Secret: testKeys["k1"], Owner: owner, Lease: 2 * time.Minute, CheckpointEvery: time.Nanosecond, Now: now}
	}
	stall := &stallingQueue{SQSSender: w.sqs, pass: 2, stalled: make(chan struct{})}
	a, err := NewJobs(opts("a", stall, time.Now))
	require.NoError(t, err)
	job, err := a.Start(w.ctx, id, JobRequest{Since: now.Add(-2 * time.Hour)})
	require.NoError(t, err)
	<-stall.stalled // two batches enqueued and checkpointed; "a" hangs and will never renew its lease

	// Before the lease expires nobody takes the job.
	early, err := NewJobs(opts("b", w.sqs, time.Now))
	require.NoError(t, err)
	require.NoError(t, early.Resume(w.ctx))
	early.Wait()
	got, err := early.Get(w.ctx, id, job.ID)
	require.NoError(t, err)
	assert.Equal(t, JobRunning, got.State)
	assert.Equal(t, keys[19], got.NextStartAfter)
	assert.Zero(t, got.Resumed)

	later, err := NewJobs(opts("b", w.sqs, func() time.Time { return time.Now().Add(3 * time.Minute) }))
	require.NoError(t, err)
	require.NoError(t, later.Resume(w.ctx))
	later.Wait()
	got, err = later.Get(w.ctx, id, job.ID)
	require.NoError(t, err)
	assert.Equal(t, JobSucceeded, got.State)
	assert.Equal(t, 1, got.Resumed)
	assert.EqualValues(t, 25, got.Progress.Enqueued)

	a.Close() // the hung process wakes up: its release must not touch the job
	got, err = later.Get(w.ctx, id, job.ID)
	require.NoError(t, err)
	assert.Equal(t, JobSucceeded, got.State)
	_, err = later.Start(w.ctx, id, JobRequest{Since: now.Add(-time.Minute)})
	require.NoError(t, err, "the tenant is free for a new job")
	later.Close()

	seen := map[string]int{}
	for {
		rm, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		if len(rm.Messages) == 0 {
			break
		}
		for _, m := range rm.Messages {
			n, err := engine.ParseNotification([]byte(aws.ToString(m.Body)))
			require.NoError(t, err)
			if n.Replay.ID == job.ID {
				seen[n.Objects[0].Key]++
			}
			_, err = w.sqs.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: &w.queueURL, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
	for _, k := range keys {
		assert.Equal(t, 1, seen[k], k)
	}
}
