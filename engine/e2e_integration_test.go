package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/parser"
	"github.com/logrouter/logrouter/tenant"
)

// e2e is a central bucket whose notifications reach a queue (directly or through SNS), a tenant table, a
// progress table and the clients to inspect them, all in moto.
type e2e struct {
	t             *testing.T
	ctx           context.Context
	cfg           aws.Config
	s3            *s3.Client
	sqs           *sqs.Client
	ddb           *dynamodb.Client
	logs          *cloudwatchlogs.Client
	store         *tenant.Store
	central       string
	queueURL      string
	tenantTable   string
	progressTable string
}

const e2eAccount = testaws.AccountID

func customerRole(name string) string { return "arn:aws:iam::" + e2eAccount + ":role/" + name }

// newE2E sets the process environment the way a deployment would (endpoint overrides included) and
// creates the resources. cwEndpoint, when set, becomes AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.
func newE2E(t *testing.T, viaSNS bool, cwEndpoint string) *e2e {
	ep := testaws.Endpoint(t)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": ep, "AWS_REGION": testaws.Region, "AWS_ACCESS_KEY_ID": "testing",
		"AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": cwEndpoint,
	} {
		t.Setenv(k, v)
	}
	ctx := testaws.Context(t, 3*time.Minute)
	cfg, err := config.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	e := &e2e{t: t, ctx: ctx, cfg: cfg,
		s3:   s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		sqs:  sqs.NewFromConfig(cfg),
		ddb:  dynamodb.NewFromConfig(cfg),
		logs: cloudwatchlogs.NewFromConfig(cfg),
	}
	e.central = testaws.Name("central")
	e.bucket(e.central)
	q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("notifications"))})
	require.NoError(t, err)
	e.queueURL = *q.QueueUrl
	qa, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	queueARN := qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	events := []s3types.Event{"s3:ObjectCreated:*"}
	nc := &s3types.NotificationConfiguration{}
	if viaSNS {
		sc := sns.NewFromConfig(cfg)
		topic, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testaws.Name("objects"))})
		require.NoError(t, err)
		_, err = sc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN)})
		require.NoError(t, err)
		nc.TopicConfigurations = []s3types.TopicConfiguration{{TopicArn: topic.TopicArn, Events: events}}
	} else {
		nc.QueueConfigurations = []s3types.QueueConfiguration{{QueueArn: aws.String(queueARN), Events: events}}
	}
	_, err = e.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: &e.central, NotificationConfiguration: nc})
	require.NoError(t, err)

	e.tenantTable = testaws.Name("tenants")
	require.NoError(t, tenant.CreateTable(ctx, e.ddb, e.tenantTable))
	e.store = tenant.NewStore(e.ddb, e.tenantTable)
	e.progressTable = testaws.Name("progress")
	require.NoError(t, CreateProgressTable(ctx, e.ddb, e.progressTable))
	return e
}

func (e *e2e) bucket(name string) {
	_, err := e.s3.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(e.t, err)
}

func (e *e2e) put(key string, body []byte) {
	_, err := e.s3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &e.central, Key: &key, Body: bytes.NewReader(body)})
	require.NoError(e.t, err)
}

func (e *e2e) config(c tenant.Config) {
	_, err := e.store.Create(e.ctx, c)
	require.NoError(e.t, err)
}

func (e *e2e) settings() Settings {
	return Settings{
		TenantTable: e.tenantTable, CentralRoleARN: customerRole("central-log-distribution"),
		ExternalID: "e2e-external-id", SourceBuckets: []string{e.central}, Workers: 4,
		ConfigCacheTTL: time.Minute, S3PathStyle: true, ProgressTable: e.progressTable,
	}
}

func (e *e2e) runtime(reg prometheus.Registerer, optFns ...func(*Options)) *Runtime {
	rt, err := NewRuntime(e.ctx, e.cfg, e.settings(), reg, testLogger(e.t), optFns...)
	require.NoError(e.t, err)
	return rt
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// queued returns visible + in-flight messages.
func (e *e2e) queued() int {
	out, err := e.sqs.GetQueueAttributes(e.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &e.queueURL, AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	require.NoError(e.t, err)
	n := 0
	for _, v := range out.Attributes {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n
}

// pollUntilDrained runs a poller in-process until the queue is empty, then stops it like SIGTERM would.
func (e *e2e) pollUntilDrained(rt *Runtime, timeout time.Duration) {
	e.t.Helper()
	p, err := NewPoller(rt.SQS, rt.Processor, e.pollerOptions(rt))
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(timeout)
	for e.queued() > 0 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			e.t.Fatalf("queue not drained after %s (%d messages left)", timeout, e.queued())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	require.NoError(e.t, <-done)
}

type logEvent struct {
	ts  int64
	msg string
}

// events reads a stream from the CloudWatch Logs endpoint in use (moto or the strict fake).
func (e *e2e) events(group, stream string) []logEvent {
	var out []logEvent
	var token *string
	for {
		page, err := e.logs.GetLogEvents(e.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, StartFromHead: aws.Bool(true), NextToken: token})
		require.NoError(e.t, err, "%s/%s", group, stream)
		for _, ev := range page.Events {
			out = append(out, logEvent{*ev.Timestamp, *ev.Message})
		}
		if len(page.Events) == 0 || page.NextForwardToken == nil || (token != nil && *token == *page.NextForwardToken) {
			return out
		}
		token = page.NextForwardToken
	}
}

// expected decodes an object the way the engine does.
func expected(t *testing.T, obj []byte, fallback time.Time) []logEvent {
	r := parser.NewReader(bytes.NewReader(obj), fallback)
	defer r.Close()
	var out []logEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		msg, err := ev.AppendMessage(nil)
		require.NoError(t, err)
		out = append(out, logEvent{ev.Timestamp, string(msg)})
	}
}

// sortedByTime orders events by timestamp, keeping input order among equal timestamps (CloudWatch's order).
func sortedByTime(evs []logEvent) []logEvent {
	out := append([]logEvent(nil), evs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ts < out[j].ts })
	return out
}

// vectorLines renders n Vector lines with increasing timestamps starting at base.
func vectorLines(prefix string, n int, base time.Time, app, pod string) []byte {
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"cluster_id":"c1","namespace":"t","application":%q,"pod_name":%q,"message":"%s line %d","timestamp":%q}`+"\n",
			app, pod, prefix, i, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	return buf.Bytes()
}

func (e *e2e) pollerOptions(rt *Runtime) PollerOptions {
	return PollerOptions{QueueURL: e.queueURL, Workers: 4, WaitTime: time.Second,
		Visibility: 30 * time.Second, Metrics: rt.Metrics, Logger: testLogger(e.t)}
}
