package engine

import (
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// TestE2ELambda feeds the handler the records an SQS event source mapping would deliver.
func TestE2ELambda(t *testing.T) {
	e := newE2E(t, true, "")
	id := testaws.Name("lam")
	group := "/lambda/" + id
	e.config(tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("lam"), LogGroupName: group})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	objs := map[string][]byte{}
	for _, pod := range []string{"a-0", "b-0", "c-0"} {
		k := "c1/" + id + "/app/" + pod + "/x.json.gz"
		objs[pod] = gz(vectorLines(pod, 25, base, "app", pod))
		e.put(k, objs[pod])
	}
	_, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: &e.queueURL, MessageBody: aws.String("not a notification")})
	require.NoError(t, err)

	var ev events.SQSEvent
	for len(ev.Records) < 5 { // 3 objects, the S3 test event, the malformed body
		out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		require.NotEmpty(t, out.Messages, "expected 5 messages, got %d", len(ev.Records))
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle, Body: *m.Body, EventSource: "aws:sqs"})
		}
	}
	rt := e.runtime(prometheus.NewRegistry())
	h := NewLambdaHandler(rt.Processor, LambdaOptions{Workers: 2, Metrics: rt.Metrics})
	resp, err := h(testaws.Context(t, time.Minute), ev)
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures, "delivered and dropped records are not failures")
	assert.Equal(t, 1.0, value(rt.Metrics.MessagesDropped.WithLabelValues(string(ReasonMalformedBody))))
	for pod, body := range objs {
		assert.Equal(t, sortedByTime(expected(t, body, time.Time{})), e.events(group, pod))
	}
}
