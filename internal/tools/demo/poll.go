package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// pollUntilDrained runs `logrouter poll`, shows its progress from /metrics, and stops it with SIGTERM once
// every uploaded object's message was handled and the queue is empty. It returns the last scrape.
func (d *demo) pollUntilDrained(ctx context.Context, exp *expectation) (samples, error) {
	poll, addr, err := d.startPoll(ctx, nil)
	if err != nil {
		return nil, err
	}

	sqsClient := sqs.NewFromConfig(d.cfg)
	tty := isTerminal(d.status)
	var last samples
	quiet := 0
	lastPrint := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w: %v", errDrainTimeout, ctx.Err())
		case <-poll.done:
			return last, fmt.Errorf("logrouter poll exited early:\n%s", poll.tail(20))
		case <-time.After(300 * time.Millisecond):
		}
		s, err := scrape(ctx, "http://"+addr+"/metrics")
		if err != nil {
			continue
		}
		last = s
		line := progressLine(s, len(exp.objects))
		if tty {
			fmt.Fprintf(d.status, "\r\033[K  %s", line)
		} else if time.Since(lastPrint) > 5*time.Second {
			fmt.Fprintf(d.status, "  %s\n", line)
			lastPrint = time.Now()
		}
		handled := s.sum("logrouter_objects_total", nil)
		backlog, err := queueBacklog(ctx, sqsClient, d.stack["QueueUrl"])
		if err != nil {
			continue
		}
		if handled >= float64(len(exp.objects)) && backlog == 0 && s.sum("logrouter_inflight_messages", nil) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet >= 3 {
			break
		}
	}
	if tty {
		fmt.Fprintln(d.status)
	}
	fmt.Fprintf(d.out, "  %s\n", progressLine(last, len(exp.objects)))
	fmt.Fprintln(d.out, "  queue drained; stopping poll with SIGTERM")
	if err := poll.stop(30 * time.Second); err != nil {
		return last, fmt.Errorf("logrouter poll did not exit cleanly on SIGTERM: %v\n%s", err, poll.tail(20))
	}
	return last, nil
}

// startPoll starts `logrouter poll` on the stack's queue and tables and waits until it is ready; extra
// settings (e.g. LOGROUTER_CONFIG_CACHE_TTL) override the demo's. watch, when not nil, sees every log line.
func (d *demo) startPoll(ctx context.Context, watch func([]byte), extra ...string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	replayKeys, err := d.replayKeys()
	if err != nil {
		return nil, "", err
	}
	env := d.env(append([]string{
		"LOGROUTER_QUEUE_URL=" + d.stack["QueueUrl"],
		"LOGROUTER_REPLAY_KEYS_FILE=" + replayKeys,
		"LOGROUTER_TENANT_TABLE=" + d.stack["TenantTableName"],
		"LOGROUTER_PROGRESS_TABLE=" + d.stack["ProgressTableName"],
		"LOGROUTER_STATUS_TABLE=" + d.stack["StatusTableName"],
		"LOGROUTER_STATUS_FLUSH_INTERVAL=2s",
		"LOGROUTER_CENTRAL_ROLE_ARN=" + d.stack["CentralLogDistributionRoleArn"],
		"LOGROUTER_SOURCE_BUCKETS=" + d.stack["CentralBucketName"],
		"LOGROUTER_METRICS_ADDR=" + addr,
		"LOGROUTER_TENANT_METRICS=true",
		"LOGROUTER_WAIT_TIME=1s",
		"LOGROUTER_WORKERS=4",
	}, extra...)...)
	poll, err := startProc("poll", d.dir, d.o.bin, env, watch, "poll")
	if err != nil {
		return nil, "", err
	}
	d.procs = append(d.procs, poll)
	if err := waitHTTP(ctx, "http://"+addr+"/readyz", poll, 30*time.Second); err != nil {
		return nil, "", err
	}
	fmt.Fprintf(d.out, "  poll ready; metrics at http://%s/metrics\n", addr)
	return poll, addr, nil
}

func queueBacklog(ctx context.Context, c *sqs.Client, url string) (int, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, v := range out.Attributes {
		n, _ := strconv.Atoi(v)
		total += n
	}
	return total, nil
}

func progressLine(s samples, objects int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "objects %d/%d | events read %s | CloudWatch events delivered %s | deleted msgs %d",
		int(s.sum("logrouter_objects_total", nil)), objects,
		thousands(s.sum("logrouter_events_read_total", nil)),
		thousands(s.sum("logrouter_tenant_events_delivered_total", nil)),
		int(s.sum("logrouter_messages_deleted_total", nil)))
	per := s.by("logrouter_tenant_deliveries_total", "tenant")
	if len(per) > 0 {
		b.WriteString(" | deliveries:")
		for _, t := range sortedKeys(per) {
			fmt.Fprintf(&b, " %s=%d", t, int(per[t]))
		}
	}
	return b.String()
}

func thousands(v float64) string {
	s := strconv.FormatInt(int64(v), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
