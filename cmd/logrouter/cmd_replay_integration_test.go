package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/replay"
)

// lines splits JSON-lines output.
func lines(out string) []string {
	return strings.Split(strings.TrimSpace(out), "\n")
}

// The replay and redrive commands as an operator runs them: dry run, enqueue with a replay key, the
// processor accepting the signed notification only with that key, local delivery, and a redrive by tenant.
func TestReplayAndRedriveCommandsIntegration(t *testing.T) {
	w := newEngineWorld(t)
	sq := sqs.NewFromConfig(testaws.Config(t))
	q, err := sq.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("notifications"))})
	require.NoError(t, err)
	keys := filepath.Join(t.TempDir(), "replay-keys")
	require.NoError(t, os.WriteFile(keys, []byte("k1=replay-secret-0123456789\n"), 0o600))
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}

	// Dry run: one line per object, then the summary.
	code, out, stderr := runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h", "--dry-run")
	require.Equal(t, 0, code, stderr)
	ls := lines(out)
	require.Len(t, ls, 2, out)
	var obj replay.Object
	require.NoError(t, json.Unmarshal([]byte(ls[0]), &obj))
	assert.Equal(t, w.key, obj.Key)
	assert.Positive(t, obj.Size)
	var sum replay.Summary
	require.NoError(t, json.Unmarshal([]byte(ls[1]), &sum))
	assert.Equal(t, "dry-run", sum.Mode)
	assert.EqualValues(t, 1, sum.Matched)

	// Enqueueing needs the queue and a replay key.
	code, _, stderr = runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--queue-url")
	env["LOGROUTER_QUEUE_URL"] = *q.QueueUrl
	code, _, stderr = runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--replay-keys-file")
	code, _, stderr = runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h", "--bucket", "elsewhere")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "not one of the configured source buckets")

	code, out, stderr = runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h", "--type", "s3", "--id", "r-cli",
		"--replay-keys-file", keys, "--rate", "0")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	assert.EqualValues(t, 1, sum.Enqueued)
	assert.Equal(t, "r-cli", sum.ReplayID)
	rm, err := sq.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, rm.Messages, 1)
	body := aws.ToString(rm.Messages[0].Body)
	_, err = sq.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: rm.Messages[0].ReceiptHandle})
	require.NoError(t, err)

	// A processor without the key drops the replay notification; with it, only the S3 destination is served.
	code, out, _ = runCmd(t, env, body, "process")
	assert.Equal(t, 1, code)
	res := decodeResults(t, out)
	assert.Equal(t, engine.ReasonMalformedBody, res[0].Reason)
	code, out, stderr = runCmd(t, env, body, "process", "--replay-keys-file", keys)
	require.Equal(t, 0, code, stderr)
	res = decodeResults(t, out)
	require.Len(t, res[0].Objects[0].Destinations, 1)
	assert.Equal(t, "s3", string(res[0].Objects[0].Destinations[0].Type))
	assert.Equal(t, "r-cli", res[0].Objects[0].ReplayID)
	// The same key given in the environment (as the Lambda template does) authenticates it as well.
	inline := map[string]string{"LOGROUTER_REPLAY_KEYS": "k0=other-secret-0123456789,k1=replay-secret-0123456789"}
	for k, v := range env {
		inline[k] = v
	}
	code, out, stderr = runCmd(t, inline, body, "process")
	require.Equal(t, 0, code, stderr)
	res = decodeResults(t, out)
	require.Len(t, res[0].Objects[0].Destinations, 1)
	assert.Equal(t, "s3", string(res[0].Objects[0].Destinations[0].Type))
	assert.Equal(t, "r-cli", res[0].Objects[0].ReplayID)
	assert.NotContains(t, stderr, "replay-secret-0123456789")

	// Local delivery needs the fleet's progress table, or --force (in-memory progress knows nothing: this
	// process delivers CloudWatch, which nothing delivered before).
	code, _, stderr = runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h", "--local")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--progress-table")
	code, out, stderr = runCmd(t, env, "", "replay", "--tenant", w.tenantID, "--since", "2h", "--type", "cloudwatch", "--local", "--force")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	assert.Equal(t, "local", sum.Mode)
	assert.EqualValues(t, 1, sum.Delivered)
	assert.EqualValues(t, 40, sum.Events)

	// Redrive by tenant: the body above back in a DLQ with another tenant's message.
	dlq, err := sq.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("dlq"))})
	require.NoError(t, err)
	other := strings.Replace(body, w.tenantID, "someone-else", 1)
	for _, b := range []string{body, other} {
		_, err := sq.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: dlq.QueueUrl, MessageBody: aws.String(b)})
		require.NoError(t, err)
	}
	code, out, stderr = runCmd(t, env, "", "redrive", "--from", *dlq.QueueUrl, "--tenant", w.tenantID, "--visibility-timeout", "1m")
	require.Equal(t, 0, code, stderr)
	var rs replay.RedriveSummary
	require.NoError(t, json.Unmarshal([]byte(out), &rs))
	assert.EqualValues(t, 1, rs.Moved)
	assert.EqualValues(t, 1, rs.Left)
	assert.Equal(t, map[string]int64{replay.KindMoved: 1}, rs.ByTenant[w.tenantID])
	assert.Equal(t, map[string]int64{replay.KindOtherTenant: 1}, rs.ByTenant["someone-else"])
	rm, err = sq.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, rm.Messages, 1)
	assert.Equal(t, body, aws.ToString(rm.Messages[0].Body))
}
