package replay

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

// queues creates a notification queue whose redrive policy names a new dead-letter queue.
func (w *world) queues() (main, dlq string) {
	d, err := w.sqs.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("dlq"))})
	require.NoError(w.t, err)
	a, err := w.sqs.GetQueueAttributes(w.ctx, &sqs.GetQueueAttributesInput{QueueUrl: d.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(w.t, err)
	policy, _ := json.Marshal(map[string]string{"deadLetterTargetArn": a.Attributes["QueueArn"], "maxReceiveCount": "3"})
	m, err := w.sqs.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("main")),
		Attributes: map[string]string{"RedrivePolicy": string(policy)}})
	require.NoError(w.t, err)
	return *m.QueueUrl, *d.QueueUrl
}

func (w *world) send(queue string, bodies ...string) {
	for _, b := range bodies {
		_, err := w.sqs.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: &queue, MessageBody: aws.String(b)})
		require.NoError(w.t, err)
	}
}

// bodies receives every visible message of queue (deleting them) and returns their bodies, sorted.
func (w *world) bodies(queue string) []string {
	var out []string
	for {
		rm, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(w.t, err)
		if len(rm.Messages) == 0 {
			sort.Strings(out)
			return out
		}
		for _, m := range rm.Messages {
			out = append(out, *m.Body)
			_, err := w.sqs.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: &queue, ReceiptHandle: m.ReceiptHandle})
			require.NoError(w.t, err)
		}
	}
}

func notification(bucket string, keys ...string) string {
	recs := ""
	for i, k := range keys {
		if i > 0 {
			recs += ","
		}
		recs += fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q,"size":1}}}`, bucket, k)
	}
	return `{"Records":[` + recs + `]}`
}

func snsWrapped(body string) string {
	b, _ := json.Marshal(map[string]string{"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": body})
	return string(b)
}

// Redrive by tenant moves exactly that tenant's messages (plain and SNS-wrapped) and leaves every other
// message in the DLQ; the dry run counts the same and moves nothing; without a tenant everything moves.
func TestRedriveByTenant(t *testing.T) {
	w := newWorld(t)
	mainQ, dlq := w.queues()
	a, b := testaws.Name("alpha"), testaws.Name("beta")
	var mine, others []string
	for i := range 4 {
		mine = append(mine, notification("central", fmt.Sprintf("c%d/%s/api/p/f%d", i%2, a, i)))
	}
	mine = append(mine, snsWrapped(notification("central", "c1/"+a+"/web/p/g")))
	for i := range 3 {
		others = append(others, notification("central", fmt.Sprintf("c1/%s/api/p/f%d", b, i)))
	}
	others = append(others, "not json", notification("central", "c1/"+a+"/api/p/x", "c1/"+b+"/api/p/y"))
	w.send(dlq, append(append([]string{}, mine...), others...)...)

	dry, err := Redrive(w.ctx, w.sqs, RedriveOptions{To: mainQ, Tenant: a, DryRun: true, Visibility: 60e9})
	require.NoError(t, err)
	assert.Equal(t, dlq, dry.From, "the DLQ comes from the main queue's redrive policy")
	assert.EqualValues(t, 10, dry.Examined)
	assert.EqualValues(t, 5, dry.Moved)
	assert.Equal(t, map[string]int64{KindMoved: 5, KindOtherTenant: 3, KindMalformed: 1, KindMixed: 1}, dry.ByKind)
	assert.Empty(t, w.bodies(mainQ), "a dry run moves nothing")

	sum, err := Redrive(w.ctx, w.sqs, RedriveOptions{To: mainQ, Tenant: a, Visibility: 60e9})
	require.NoError(t, err)
	assert.EqualValues(t, 5, sum.Moved)
	assert.EqualValues(t, 5, sum.Left)
	assert.Equal(t, map[string]int64{KindMoved: 5}, sum.ByTenant[a])
	assert.Equal(t, map[string]int64{KindOtherTenant: 3}, sum.ByTenant[b])
	assert.Equal(t, map[string]int64{KindMalformed: 1, KindMixed: 1}, sum.ByTenant["-"])
	sort.Strings(mine)
	sort.Strings(others)
	assert.Equal(t, mine, w.bodies(mainQ), "exactly the tenant's messages moved, bodies unchanged")
	left := w.bodies(dlq)
	assert.Equal(t, others, left, "the others stay in the DLQ, visible again")

	// Everything, at most 2: the limit holds and the rest stays.
	w.send(dlq, left...)
	sum, err = Redrive(w.ctx, w.sqs, RedriveOptions{To: mainQ, From: dlq, Max: 2, Visibility: 60e9})
	require.NoError(t, err)
	assert.EqualValues(t, 2, sum.Moved)
	assert.Len(t, w.bodies(mainQ), 2)
	assert.Len(t, w.bodies(dlq), len(left)-2)
}
