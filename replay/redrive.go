package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logrouter/logrouter/engine"
)

// RedriveSQS is the subset of *sqs.Client a redrive calls.
type RedriveSQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// RedriveOptions configure Redrive.
type RedriveOptions struct {
	// From is the dead-letter queue; empty: the target of To's redrive policy (DeadLetterQueueOf).
	From string
	// To is the queue the messages go back to (the notification queue).
	To string
	// Tenant, when set, moves only messages whose every object belongs to that tenant; the others stay in
	// the dead-letter queue.
	Tenant string
	// Max bounds the messages moved (0: all).
	Max int
	// DryRun counts what would move and moves nothing.
	DryRun bool
	// Visibility hides each examined message while the redrive runs (default 5 minutes); messages left in
	// the queue are made visible again at the end.
	Visibility time.Duration
	// Wait is the long-poll wait of each receive (default 1s); an empty long poll ends the redrive.
	Wait   time.Duration
	Logger *slog.Logger
}

// Kinds of message, the reasons a redrive counts.
const (
	KindMoved       = "moved"        // sent to the target queue and deleted from the DLQ (dry run: would be)
	KindOtherTenant = "other_tenant" // belongs to another tenant: left in the DLQ
	KindMixed       = "mixed_tenants"
	KindMalformed   = "malformed"     // not a notification logrouter can read (moved when no tenant is asked)
	KindSendFailed  = "send_failed"   // the target refused it: left in the DLQ
	KindDeleteFail  = "delete_failed" // sent, but still in the DLQ: it may be delivered twice (harmless: idempotent)
	KindOverMax     = "over_max"      // left because --max was reached
)

// RedriveSummary counts a redrive's messages per tenant and per kind.
type RedriveSummary struct {
	From     string                      `json:"from"`
	To       string                      `json:"to"`
	Tenant   string                      `json:"tenant,omitempty"`
	DryRun   bool                        `json:"dry_run,omitempty"`
	Examined int64                       `json:"messages_examined"`
	Moved    int64                       `json:"messages_moved"` // dry run: would move
	Left     int64                       `json:"messages_left"`
	ByKind   map[string]int64            `json:"by_reason"`
	ByTenant map[string]map[string]int64 `json:"by_tenant"` // tenant ("-" for unreadable messages) -> kind -> count
	Error    string                      `json:"error,omitempty"`
}

func (s *RedriveSummary) count(tenantID, kind string) {
	if tenantID == "" {
		tenantID = "-"
	}
	s.ByKind[kind]++
	if s.ByTenant[tenantID] == nil {
		s.ByTenant[tenantID] = map[string]int64{}
	}
	s.ByTenant[tenantID][kind]++
	switch kind {
	case KindMoved:
		s.Moved++
	case KindDeleteFail:
		s.Moved++ // it reached the target queue
	default:
		s.Left++
	}
}

// DeadLetterQueueOf returns the URL of the dead-letter queue named by queueURL's redrive policy.
func DeadLetterQueueOf(ctx context.Context, c RedriveSQS, queueURL string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return "", fmt.Errorf("read the redrive policy of %s: %w", queueURL, err)
	}
	raw := out.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return "", fmt.Errorf("%s has no redrive policy: give the dead-letter queue's URL", queueURL)
	}
	var p struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil || p.Target == "" {
		return "", fmt.Errorf("the redrive policy of %s names no deadLetterTargetArn", queueURL)
	}
	// arn:aws:sqs:REGION:ACCOUNT:NAME
	parts := strings.Split(p.Target, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return "", fmt.Errorf("dead-letter target %q is not an SQS queue ARN", p.Target)
	}
	u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", fmt.Errorf("find the dead-letter queue %s: %w", p.Target, err)
	}
	return aws.ToString(u.QueueUrl), nil
}

// messageTenant names the tenant of every object of a message body ("" and a kind when there is none).
func messageTenant(body string) (string, string) {
	n, err := engine.ParseNotification([]byte(body))
	if err != nil || len(n.Objects) == 0 {
		return "", KindMalformed
	}
	tenantID := ""
	for _, o := range n.Objects {
		k, err := engine.ParseObjectKey(o.Key)
		if err != nil {
			return "", KindMalformed
		}
		if tenantID != "" && k.TenantID != tenantID {
			return "", KindMixed
		}
		tenantID = k.TenantID
	}
	return tenantID, ""
}

// Redrive moves messages from the dead-letter queue back to the target queue: all of them, or those of one
// tenant. At least once: a message is deleted from the DLQ only after the target accepted it. It examines
// each message once and stops when a long poll finds nothing, a message comes round again, Max is reached,
// or ctx ends (the summary then says what was done).
func Redrive(ctx context.Context, c RedriveSQS, o RedriveOptions) (RedriveSummary, error) {
	if o.Visibility <= 0 {
		o.Visibility = 5 * time.Minute
	}
	if o.Wait <= 0 {
		o.Wait = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sum := RedriveSummary{From: o.From, To: o.To, Tenant: o.Tenant, DryRun: o.DryRun, ByKind: map[string]int64{}, ByTenant: map[string]map[string]int64{}}
	if o.To == "" {
		return sum, errors.New("redrive: no target queue")
	}
	if o.From == "" {
		dlq, err := DeadLetterQueueOf(ctx, c, o.To)
		if err != nil {
			return sum, err
		}
		o.From, sum.From = dlq, dlq
	}
	if o.From == o.To {
		return sum, errors.New("redrive: the dead-letter queue and the target are the same queue")
	}
	seen := map[string]bool{}
	var leave []string // receipt handles of messages left in the DLQ, made visible again at the end
	defer func() {
		release(context.WithoutCancel(ctx), c, o.From, leave, o.Logger)
	}()
	for {
		if o.Max > 0 && sum.Moved >= int64(o.Max) {
			return sum, nil
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(o.From), MaxNumberOfMessages: 10,
			WaitTimeSeconds: int32(o.Wait / time.Second), VisibilityTimeout: int32(o.Visibility / time.Second),
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			sum.Error = err.Error()
			return sum, fmt.Errorf("receive from %s: %w", o.From, err)
		}
		if len(out.Messages) == 0 {
			return sum, nil
		}
		var move []sqstypes.Message
		var moveTenants []string
		again := false
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				again = true
				leave = append(leave, aws.ToString(m.ReceiptHandle))
				continue
			}
			seen[id] = true
			sum.Examined++
			tenantID, kind := messageTenant(aws.ToString(m.Body))
			switch {
			case o.Tenant != "" && kind != "":
			case o.Tenant != "" && tenantID != o.Tenant:
				kind = KindOtherTenant
			case o.Max > 0 && sum.Moved+int64(len(move)) >= int64(o.Max):
				kind = KindOverMax
			default:
				kind = ""
			}
			if kind != "" {
				sum.count(tenantID, kind)
				leave = append(leave, aws.ToString(m.ReceiptHandle))
				continue
			}
			if o.DryRun {
				sum.count(tenantID, KindMoved)
				leave = append(leave, aws.ToString(m.ReceiptHandle))
				continue
			}
			move = append(move, m)
			moveTenants = append(moveTenants, tenantID)
		}
		if len(move) > 0 {
			moveBatch(ctx, c, o, move, moveTenants, &sum, &leave)
		}
		if again {
			return sum, nil // every message has been examined
		}
		if err := ctx.Err(); err != nil {
			return sum, err
		}
	}
}

// moveBatch sends msgs to the target, then deletes from the DLQ those the target accepted.
func moveBatch(ctx context.Context, c RedriveSQS, o RedriveOptions, msgs []sqstypes.Message, tenants []string, sum *RedriveSummary, leave *[]string) {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes}
	}
	sent := make([]bool, len(msgs))
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(o.To), Entries: entries})
	if err != nil {
		o.Logger.Warn("redrive: send to the target queue", "error", err.Error())
	} else {
		for _, s := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i >= 0 && i < len(msgs) {
				sent[i] = true
			}
		}
		for _, f := range out.Failed {
			o.Logger.Warn("redrive: target refused a message", "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
		}
	}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if !sent[i] {
			sum.count(tenants[i], KindSendFailed)
			*leave = append(*leave, aws.ToString(m.ReceiptHandle))
			continue
		}
		del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
	}
	if len(del) == 0 {
		return
	}
	deleted := map[string]bool{}
	dout, err := c.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(o.From), Entries: del})
	if err != nil {
		o.Logger.Warn("redrive: delete from the dead-letter queue", "error", err.Error())
	} else {
		for _, s := range dout.Successful {
			deleted[aws.ToString(s.Id)] = true
		}
	}
	for _, d := range del {
		i, _ := strconv.Atoi(aws.ToString(d.Id))
		if deleted[aws.ToString(d.Id)] {
			sum.count(tenants[i], KindMoved)
		} else {
			sum.count(tenants[i], KindDeleteFail)
		}
	}
}

// release makes the messages left in the DLQ visible again.
func release(ctx context.Context, c RedriveSQS, queue string, handles []string, log *slog.Logger) {
	for len(handles) > 0 {
		n := min(10, len(handles))
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, h := range handles[:n] {
			entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0}
		}
		if _, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queue), Entries: entries}); err != nil {
			log.Warn("redrive: make the messages left in the dead-letter queue visible again (they reappear after the visibility timeout)", "error", err.Error())
			return
		}
		handles = handles[n:]
	}
}
