package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

// statusWorld adds a status table to an engineWorld; the flush interval is an hour, so what the tests find
// was written by the end-of-run flushes (process: at the end; lambda: after each invocation; poll: at
// shutdown).
func statusWorld(t *testing.T) (*engineWorld, *status.Table) {
	w := newEngineWorld(t)
	ddb := dynamodb.NewFromConfig(testaws.Config(t))
	name := testaws.Name("status")
	require.NoError(t, status.CreateTable(w.ctx, ddb, name))
	w.env["LOGROUTER_STATUS_TABLE"] = name
	w.env["LOGROUTER_STATUS_FLUSH_INTERVAL"] = "1h"
	return w, status.NewTable(ddb, name)
}

// requireDelivered asserts the tenant's status and today's usage say objects were delivered to both types.
func requireDelivered(t *testing.T, w *engineWorld, table *status.Table, objects int64) {
	t.Helper()
	recs, err := table.TenantStatus(w.ctx, w.tenantID, time.Now(), status.DefaultIdleAfter)
	require.NoError(t, err)
	require.Len(t, recs, 2, "a status per destination type")
	for _, r := range recs {
		assert.Equal(t, status.HealthHealthy, r.Health, r.Type)
		assert.Equal(t, objects, r.Total[status.CounterDeliveriesOK], r.Type)
		require.NotNil(t, r.LastSuccess)
		assert.Equal(t, w.key, r.LastSuccess.Key)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	rows, err := table.TenantUsage(w.ctx, w.tenantID, today, today)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	for _, r := range rows {
		if r.Type == tenant.TypeCloudWatch {
			assert.Equal(t, 40*objects, r.Get(status.CounterEventsDelivered))
			assert.Equal(t, 40*objects, r.Get(status.CounterEventsIn))
		} else {
			assert.Equal(t, objects, r.Get(status.CounterS3Copies))
			k, err := engine.ParseObjectKey(w.key)
			require.NoError(t, err)
			head, err := w.s3.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: &w.archive, Key: aws.String(k.DestinationKey(tenant.DefaultBucketPrefix))})
			if assert.NoError(t, err, "the copy") {
				assert.Equal(t, objects*aws.ToInt64(head.ContentLength), r.Get(status.CounterS3CopiedBytes))
			}
		}
	}
}

func TestProcessRecordsStatusIntegration(t *testing.T) {
	w, table := statusWorld(t)
	code, _, stderr := runCmd(t, w.env, "", "process", "--bucket", w.central, "--key", w.key)
	require.Equal(t, 0, code, stderr)
	requireDelivered(t, w, table, 1)
}

func TestLambdaFlushesStatusPerInvocationIntegration(t *testing.T) {
	w, table := statusWorld(t)
	var handler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	old := startLambda
	startLambda = func(h any, _ ...lambda.Option) {
		handler = h.(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
	}
	t.Cleanup(func() { startLambda = old })
	code, _, stderr := runCmd(t, w.env, "", "lambda")
	require.Equal(t, 0, code, stderr)
	require.NotNil(t, handler)

	body := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`,
		w.central, strings.ReplaceAll(strings.ReplaceAll(w.key, "+", "%2B"), " ", "+"))
	ctx, cancel := context.WithDeadline(w.ctx, time.Now().Add(time.Minute))
	defer cancel()
	resp, err := handler(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body}}})
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
	// Written before the invocation returned (a frozen environment would never flush otherwise).
	requireDelivered(t, w, table, 1)
}

func TestPollFlushesStatusAtShutdownIntegration(t *testing.T) {
	w, table := statusWorld(t)
	q := sqs.NewFromConfig(testaws.Config(t))
	created, err := q.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("q"))})
	require.NoError(t, err)
	body := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`,
		w.central, strings.ReplaceAll(strings.ReplaceAll(w.key, "+", "%2B"), " ", "+"))
	_, err = q.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: &body})
	require.NoError(t, err)
	env := map[string]string{"LOGROUTER_QUEUE_URL": *created.QueueUrl, "LOGROUTER_METRICS_ADDR": "", "LOGROUTER_WAIT_TIME": "1s"}
	for k, v := range w.env {
		env[k] = v
	}
	ctx, sigterm := context.WithCancel(w.ctx)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, stdio{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr}, []string{"poll"}, func(k string) string { return env[k] })
	}()
	// Delivered when the queue is empty and nothing is in flight.
	require.Eventually(t, func() bool {
		a, err := q.GetQueueAttributes(w.ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl, AttributeNames: []types.QueueAttributeName{"All"}})
		return err == nil && a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	}, time.Minute, 100*time.Millisecond)
	recs, err := table.TenantStatus(w.ctx, w.tenantID, time.Now(), status.DefaultIdleAfter)
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing is written before the interval or shutdown")
	sigterm()
	select {
	case c := <-done:
		require.Equal(t, 0, c, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("poll did not stop after SIGTERM")
	}
	requireDelivered(t, w, table, 1)
}
