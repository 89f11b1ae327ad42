package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// readTemplate returns deploy/cloudformation/NAME, located from this file so the tests run from any directory.
func readTemplate(t *testing.T, name string) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "deploy", "cloudformation", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deployCentral creates the central stack in the emulator and returns its outputs.
func deployCentral(ctx context.Context, t *testing.T, cfg aws.Config, prefix, table string) map[string]string {
	t.Helper()
	cfn := cloudformation.NewFromConfig(cfg)
	stack := prefix + "-central"
	_, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(stack),
		TemplateBody: aws.String(readTemplate(t, "central.yaml")),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Parameters: []cfntypes.Parameter{
			{ParameterKey: aws.String("NamePrefix"), ParameterValue: aws.String(prefix)},
			{ParameterKey: aws.String("TenantTableName"), ParameterValue: aws.String(table)},
			{ParameterKey: aws.String("VectorWriterPrincipals"), ParameterValue: aws.String("arn:aws:iam::111111111111:role/vector-irsa")},
			{ParameterKey: aws.String("OidcProviderArn"), ParameterValue: aws.String("arn:aws:iam::" + testaws.AccountID + ":oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")},
			{ParameterKey: aws.String("MaxReceiveCount"), ParameterValue: aws.String("3")},
		},
	})
	if err != nil {
		t.Fatalf("create stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(stack)})
	})
	w := cloudformation.NewStackCreateCompleteWaiter(cfn, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	out, err := w.WaitForOutput(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)}, 2*time.Minute)
	if err != nil {
		events, _ := cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(stack)})
		var reasons []string
		if events != nil {
			for _, e := range events.StackEvents {
				if e.ResourceStatusReason != nil {
					reasons = append(reasons, aws.ToString(e.LogicalResourceId)+": "+aws.ToString(e.ResourceStatusReason))
				}
			}
		}
		t.Fatalf("stack did not complete: %v\n%s", err, strings.Join(reasons, "\n"))
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	res, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(stack)})
	if err != nil {
		t.Fatal(err)
	}
	physical := map[string]string{}
	for _, r := range res.StackResources {
		physical[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
	}
	applyWhatMotoIgnores(ctx, t, cfg, physical)
	return outputs
}

// applyWhatMotoIgnores applies the template properties that moto's CloudFormation accepts but does not implement
// (the bucket's notification configuration and the table's TTL) through the services' own APIs. It reads them from
// the template, so the template stays the single source of what is deployed, and fails when their shape changes
// rather than apply something else.
func applyWhatMotoIgnores(ctx context.Context, t *testing.T, cfg aws.Config, physical map[string]string) {
	t.Helper()
	var tpl struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal([]byte(readTemplate(t, "central.yaml")), &tpl); err != nil {
		t.Fatalf("central.yaml: %v", err)
	}

	var bucket struct {
		NotificationConfiguration struct {
			TopicConfigurations []struct {
				Event string    `yaml:"Event"`
				Topic yaml.Node `yaml:"Topic"`
			} `yaml:"TopicConfigurations"`
		} `yaml:"NotificationConfiguration"`
	}
	b := tpl.Resources["CentralBucket"]
	if err := b.Properties.Decode(&bucket); err != nil || b.Type != "AWS::S3::Bucket" {
		t.Fatalf("CentralBucket (%s): %v", b.Type, err)
	}
	var topics []s3types.TopicConfiguration
	for _, tc := range bucket.NotificationConfiguration.TopicConfigurations {
		target := tpl.Resources[tc.Topic.Value]
		if tc.Topic.Tag != "!Ref" || target.Type != "AWS::SNS::Topic" {
			t.Fatalf("CentralBucket notification topic %s %q is not a !Ref to a topic of the stack", tc.Topic.Tag, tc.Topic.Value)
		}
		topics = append(topics, s3types.TopicConfiguration{TopicArn: aws.String(physical[tc.Topic.Value]), Events: []s3types.Event{s3types.Event(tc.Event)}})
	}
	if len(topics) == 0 {
		t.Fatal("CentralBucket has no notification topic in the template")
	}
	s3c := testaws.S3(t)
	if _, err := s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket:                    aws.String(physical["CentralBucket"]),
		NotificationConfiguration: &s3types.NotificationConfiguration{TopicConfigurations: topics},
	}); err != nil {
		t.Fatal(err)
	}

	var table struct {
		TimeToLiveSpecification *struct {
			AttributeName string `yaml:"AttributeName"`
			Enabled       bool   `yaml:"Enabled"`
		} `yaml:"TimeToLiveSpecification"`
	}
	ttls := 0
	for name, r := range tpl.Resources {
		if r.Type != "AWS::DynamoDB::Table" {
			continue
		}
		table.TimeToLiveSpecification = nil
		if err := r.Properties.Decode(&table); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		spec := table.TimeToLiveSpecification
		if spec == nil {
			continue
		}
		ttls++
		if _, err := dynamodb.NewFromConfig(cfg).UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(physical[name]),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
				AttributeName: aws.String(spec.AttributeName),
				Enabled:       aws.Bool(spec.Enabled),
			},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if ttls == 0 {
		t.Fatal("no table of the template has a TimeToLiveSpecification")
	}
}

func TestCentralStackResourcesAreWired(t *testing.T) {
	cfg := testaws.Config(t)
	ctx := testaws.Context(t, 3*time.Minute)
	prefix := testaws.Name("lr")
	table := testaws.Name("tenants")
	out := deployCentral(ctx, t, cfg, prefix, table)

	for _, k := range []string{"CentralBucketName", "NotificationTopicArn", "QueueUrl", "QueueArn", "DeadLetterQueueUrl",
		"TenantTableName", "ProgressTableName", "StatusTableName", "AuditTableName", "CentralLogDistributionRoleArn", "ProcessorRoleArn", "ApiRoleArn", "VectorS3WriterRoleArn"} {
		if out[k] == "" {
			t.Errorf("stack output %s is missing (outputs: %v)", k, out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	s3c := testaws.S3(t)
	sqsc := sqs.NewFromConfig(cfg)
	snsc := sns.NewFromConfig(cfg)

	t.Run("bucket notifies the topic on every object created", func(t *testing.T) {
		n, err := s3c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(out["CentralBucketName"])})
		if err != nil {
			t.Fatal(err)
		}
		if len(n.TopicConfigurations) != 1 || aws.ToString(n.TopicConfigurations[0].TopicArn) != out["NotificationTopicArn"] {
			t.Fatalf("topic configurations %+v, want one to %s", n.TopicConfigurations, out["NotificationTopicArn"])
		}
		if ev := n.TopicConfigurations[0].Events; len(ev) != 1 || string(ev[0]) != "s3:ObjectCreated:*" {
			t.Fatalf("events %v, want s3:ObjectCreated:*", ev)
		}
	})

	t.Run("bucket is encrypted", func(t *testing.T) {
		enc, err := s3c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(out["CentralBucketName"])})
		if err != nil {
			t.Fatal(err)
		}
		r := enc.ServerSideEncryptionConfiguration.Rules
		if len(r) == 0 || r[0].ApplyServerSideEncryptionByDefault == nil || r[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != "AES256" {
			t.Fatalf("encryption rules %+v, want AES256 by default", r)
		}
	})

	t.Run("topic delivers to the queue, enveloped", func(t *testing.T) {
		subs, err := snsc.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(out["NotificationTopicArn"])})
		if err != nil {
			t.Fatal(err)
		}
		if len(subs.Subscriptions) != 1 || aws.ToString(subs.Subscriptions[0].Protocol) != "sqs" ||
			aws.ToString(subs.Subscriptions[0].Endpoint) != out["QueueArn"] {
			t.Fatalf("subscriptions %+v, want one sqs subscription to %s", subs.Subscriptions, out["QueueArn"])
		}
		attrs, err := snsc.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: subs.Subscriptions[0].SubscriptionArn})
		if err != nil {
			t.Fatal(err)
		}
		if attrs.Attributes["RawMessageDelivery"] == "true" {
			t.Fatal("raw message delivery is on; logrouter expects the SNS envelope")
		}
	})

	t.Run("queue redrives to the dead-letter queue", func(t *testing.T) {
		dlq, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(out["DeadLetterQueueUrl"]),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		q, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(out["QueueUrl"]),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		var redrive struct {
			DeadLetterTargetArn string      `json:"deadLetterTargetArn"`
			MaxReceiveCount     json.Number `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(q.Attributes["RedrivePolicy"]), &redrive); err != nil {
			t.Fatalf("redrive policy %q: %v", q.Attributes["RedrivePolicy"], err)
		}
		if redrive.DeadLetterTargetArn != dlq.Attributes["QueueArn"] || redrive.MaxReceiveCount.String() != "3" {
			t.Fatalf("redrive %+v, want %s after 3 receives", redrive, dlq.Attributes["QueueArn"])
		}
		if q.Attributes["ReceiveMessageWaitTimeSeconds"] != "20" {
			t.Errorf("ReceiveMessageWaitTimeSeconds = %q, want 20 (long polling)", q.Attributes["ReceiveMessageWaitTimeSeconds"])
		}
	})

	tables := map[string]struct {
		output string
		keys   map[string]ddbtypes.KeyType
		ttl    string
	}{
		"tenant table":   {"TenantTableName", map[string]ddbtypes.KeyType{"tenant_id": ddbtypes.KeyTypeHash, "type": ddbtypes.KeyTypeRange}, "ttl"},
		"progress table": {"ProgressTableName", map[string]ddbtypes.KeyType{"id": ddbtypes.KeyTypeHash}, "ttl"},
		"status table":   {"StatusTableName", map[string]ddbtypes.KeyType{"pk": ddbtypes.KeyTypeHash, "sk": ddbtypes.KeyTypeRange}, "expires_at"},
		"audit table":    {"AuditTableName", map[string]ddbtypes.KeyType{"pk": ddbtypes.KeyTypeHash, "sk": ddbtypes.KeyTypeRange}, "expires_at"},
	}
	for name, tc := range tables {
		t.Run(name+" keys and ttl", func(t *testing.T) {
			ddb := dynamodb.NewFromConfig(cfg)
			d, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(out[tc.output])})
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]ddbtypes.KeyType{}
			for _, k := range d.Table.KeySchema {
				keys[aws.ToString(k.AttributeName)] = k.KeyType
			}
			if fmt.Sprint(keys) != fmt.Sprint(tc.keys) {
				t.Fatalf("key schema %v, want %v", keys, tc.keys)
			}
			ttl, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(out[tc.output])})
			if err != nil {
				t.Fatal(err)
			}
			if ttl.TimeToLiveDescription == nil || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != tc.ttl ||
				ttl.TimeToLiveDescription.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
				t.Fatalf("ttl %+v, want enabled on %s", ttl.TimeToLiveDescription, tc.ttl)
			}
		})
	}

	t.Run("roles trust the right principals", func(t *testing.T) {
		iamc := iam.NewFromConfig(cfg)
		trust := func(arn string) string {
			name := arn[strings.LastIndex(arn, "/")+1:]
			r, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			return decodePolicy(t, aws.ToString(r.Role.AssumeRolePolicyDocument))
		}
		checks := map[string][]string{
			"CentralLogDistributionRoleArn": {out["ProcessorRoleArn"], ":role/" + prefix + "-processor-lambda"},
			"ProcessorRoleArn":              {"lambda.amazonaws.com", "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub", "system:serviceaccount:logrouter:" + prefix + "-processor"},
			"ApiRoleArn":                    {"system:serviceaccount:logrouter:" + prefix + "-api"},
			"VectorS3WriterRoleArn":         {"arn:aws:iam::111111111111:role/vector-irsa"},
		}
		for output, wants := range checks {
			doc := trust(out[output])
			for _, w := range wants {
				if !strings.Contains(doc, w) {
					t.Errorf("%s trust policy lacks %q:\n%s", output, w, doc)
				}
			}
		}
	})

	// One object end to end through the stack's resources: written where Vector writes, its notification travels
	// S3 -> SNS -> SQS in the SNS envelope, and the engine, configured from the stack's outputs (queue, tables,
	// central role, bucket), delivers its events to the tenant's CloudWatch Logs group.
	t.Run("one object end to end", func(t *testing.T) {
		endToEnd(ctx, t, out, prefix)
	})
}

func endToEnd(ctx context.Context, t *testing.T, out map[string]string, prefix string) {
	t.Helper()
	// The environment a deployment gives the processor, aimed at the emulator for every client it builds.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": testaws.Endpoint(t), "AWS_REGION": testaws.Region, "AWS_ACCESS_KEY_ID": "testing",
		"AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := "/e2e/" + prefix
	store := tenant.NewStore(dynamodb.NewFromConfig(cfg), out["TenantTableName"])
	if _, err := store.Create(ctx, tenant.Config{TenantID: "tenant-a", Type: tenant.TypeCloudWatch,
		LogDistributionRoleARN: "arn:aws:iam::" + testaws.AccountID + ":role/LogDistributionRole", LogGroupName: group}); err != nil {
		t.Fatal(err)
	}

	base := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	var want []string
	for i := range 3 {
		msg := fmt.Sprintf("%s I1126 request %d served", base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), i)
		want = append(want, msg)
		line, err := json.Marshal(map[string]any{
			"message": msg, "timestamp": base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano), "stream": "stderr",
			"source_type": "kubernetes_logs", "cluster_id": "cluster-1", "namespace": "tenant-a",
			"application": "kube-apiserver", "pod_name": "kube-apiserver-0",
			"kubernetes": map[string]any{"pod_namespace": "tenant-a", "pod_name": "kube-apiserver-0", "container_name": "kube-apiserver",
				"pod_labels": map[string]string{"app": "kube-apiserver"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	key := "cluster-1/tenant-a/kube-apiserver/kube-apiserver-0/1764118923-30f6652c-71da-4f9f-800d-a1189c47c547.log.gz"
	if _, err := testaws.S3(t).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(out["CentralBucketName"]), Key: aws.String(key),
		Body: bytes.NewReader(body.Bytes())}); err != nil {
		t.Fatal(err)
	}

	rt, err := engine.NewRuntime(ctx, cfg, engine.Settings{
		TenantTable: out["TenantTableName"], CentralRoleARN: out["CentralLogDistributionRoleArn"],
		SourceBuckets: []string{out["CentralBucketName"]}, ProgressTable: out["ProgressTableName"], S3PathStyle: true,
	}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sqsc := sqs.NewFromConfig(cfg)
	delivered := false
	for deadline := time.Now().Add(20 * time.Second); !delivered && time.Now().Before(deadline); {
		msgs, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(out["QueueUrl"]), WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			var env struct {
				Type    string `json:"Type"`
				Message string `json:"Message"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil || env.Type != "Notification" {
				t.Fatalf("message is not an SNS envelope: %s", aws.ToString(m.Body))
			}
			res := rt.Processor.ProcessMessage(ctx, []byte(aws.ToString(m.Body)))
			if res.Test {
				continue
			}
			if res.Outcome != engine.OutcomeSuccess || len(res.Objects) != 1 || res.Objects[0].Key != key || res.Objects[0].TenantID != "tenant-a" {
				t.Fatalf("processing the notification: %+v (%v)", res, res.Err)
			}
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(out["QueueUrl"]), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			delivered = true
		}
	}
	if !delivered {
		t.Fatal("no notification for the object arrived on the queue within 20s")
	}

	events, err := cloudwatchlogs.NewFromConfig(cfg).GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String("kube-apiserver-0"), StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range events.Events {
		got = append(got, aws.ToString(e.Message))
		if ts := base.Add(time.Duration(i) * time.Second).UnixMilli(); i < len(want) && aws.ToInt64(e.Timestamp) != ts {
			t.Errorf("event %d timestamp %d, want %d", i, aws.ToInt64(e.Timestamp), ts)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log group %s stream kube-apiserver-0 holds %q, want %q", group, got, want)
	}
}

// decodePolicy returns a policy document as compact JSON text, whether IAM returns it URL-encoded or not.
func decodePolicy(t *testing.T, doc string) string {
	t.Helper()
	if strings.HasPrefix(doc, "%7B") {
		d, err := url.QueryUnescape(doc)
		if err != nil {
			t.Fatalf("policy document %q: %v", doc, err)
		}
		doc = d
	}
	return doc
}
