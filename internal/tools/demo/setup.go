package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/logrouter/logrouter/bench/corpus"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/parser"
)

func (d *demo) deployCentral(ctx context.Context) error {
	body, err := os.ReadFile(d.o.template)
	if err != nil {
		return err
	}
	cfn := cloudformation.NewFromConfig(d.cfg)
	name := "logrouter-demo"
	_, err = cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(string(body)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Parameters: []cfntypes.Parameter{
			{ParameterKey: aws.String("NamePrefix"), ParameterValue: aws.String("demo")},
			{ParameterKey: aws.String("VectorWriterPrincipals"), ParameterValue: aws.String("arn:aws:iam::123456789012:role/demo-vector")},
		},
	})
	if err != nil {
		return fmt.Errorf("create stack: %w", err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(cfn, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	out, err := w.WaitForOutput(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)}, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("stack %s did not complete: %w", name, err)
	}
	d.stack = map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		d.stack[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, k := range []string{"CentralBucketName", "QueueUrl", "TenantTableName", "ProgressTableName", "CentralLogDistributionRoleArn", "NotificationTopicArn"} {
		if d.stack[k] == "" {
			return fmt.Errorf("stack output %s is missing", k)
		}
	}
	return d.ensureBucketNotification(ctx)
}

// ensureBucketNotification applies the template's ObjectCreated → SNS notification when the emulator's
// CloudFormation left it out (moto creates the bucket, topic and subscription but not the bucket's
// NotificationConfiguration).
func (d *demo) ensureBucketNotification(ctx context.Context) error {
	client := s3.NewFromConfig(d.cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := d.stack["CentralBucketName"]
	cur, err := client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		return fmt.Errorf("read the central bucket's notifications: %w", err)
	}
	if len(cur.TopicConfigurations) > 0 {
		return nil
	}
	_, err = client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{TopicConfigurations: []s3types.TopicConfiguration{{
			TopicArn: aws.String(d.stack["NotificationTopicArn"]),
			Events:   []s3types.Event{"s3:ObjectCreated:*"},
		}}},
	})
	if err != nil {
		return fmt.Errorf("set the central bucket's notifications: %w", err)
	}
	fmt.Fprintln(d.out, "  (the emulator's CloudFormation skips bucket notifications: applied ObjectCreated → SNS as the template declares)")
	return nil
}

func (d *demo) createCustomerSide(ctx context.Context) error {
	client := s3.NewFromConfig(d.cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, s := range s3Dests {
		if s.missing {
			fmt.Fprintf(d.out, "  %s: bucket %s is configured but was never created (its deliveries fail)\n", s.tenant, s.bucket)
			continue
		}
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", s.bucket, err)
		}
	}
	for _, c := range cloudwatchDests {
		fmt.Fprintf(d.out, "  %s: CloudWatch Logs in account %s (role %s); logrouter creates %s\n", c.tenant, accountOf(c.roleARN), c.roleARN, c.logGroup)
	}
	return nil
}

func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return "?"
}

// apiClient is how a client reaches the API the demo started: the environment `logrouter configs` reads.
type apiClient struct {
	url, keyID, secretFile string
}

func (a apiClient) env() []string {
	return []string{"LOGROUTER_API_URL=" + a.url, "LOGROUTER_API_KEY_ID=" + a.keyID, "LOGROUTER_API_SECRET_FILE=" + a.secretFile}
}

// startAPI starts `logrouter api` with a freshly generated key and waits until it is healthy.
func (d *demo) startAPI(ctx context.Context, keyID string) (apiClient, error) {
	addr, err := freeAddr()
	if err != nil {
		return apiClient{}, err
	}
	secret := randomHex(32)
	keysFile := filepath.Join(d.dir, "api-keys")
	if err := os.WriteFile(keysFile, []byte(keyID+"="+secret+"\n"), 0o600); err != nil {
		return apiClient{}, err
	}
	replayKeys, err := d.replayKeys()
	if err != nil {
		return apiClient{}, err
	}
	// With the queue, the source bucket and the replay keys the API runs replay jobs (configs replay).
	api, err := startProc("api", d.dir, d.o.bin, d.env(
		"LOGROUTER_API_ADDR="+addr,
		"LOGROUTER_QUEUE_URL="+d.stack["QueueUrl"],
		"LOGROUTER_SOURCE_BUCKETS="+d.stack["CentralBucketName"],
		"LOGROUTER_REPLAY_KEYS_FILE="+replayKeys,
		"LOGROUTER_TENANT_TABLE="+d.stack["TenantTableName"],
		"LOGROUTER_API_KEYS_FILE="+keysFile,
		"LOGROUTER_STATUS_TABLE="+d.stack["StatusTableName"],
		"LOGROUTER_AUDIT_TABLE="+d.stack["AuditTableName"],
		"LOGROUTER_CENTRAL_ROLE_ARN="+d.stack["CentralLogDistributionRoleArn"],
	), nil, "api")
	if err != nil {
		return apiClient{}, err
	}
	d.procs = append(d.procs, api)
	if err := waitHTTP(ctx, "http://"+addr+"/api/v1/health", api, 30*time.Second); err != nil {
		return apiClient{}, err
	}
	fmt.Fprintf(d.out, "  API on http://%s (requests signed with key id %q)\n", addr, keyID)
	secretFile := filepath.Join(d.dir, "api-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return apiClient{}, err
	}
	d.api = apiClient{url: "http://" + addr, keyID: keyID, secretFile: secretFile}
	return d.api, nil
}

func (d *demo) startAPIAndRegister(ctx context.Context) error {
	client, err := d.startAPI(ctx, "demo")
	if err != nil {
		return err
	}
	cliEnv := d.env(client.env()...)
	var docs []map[string]any
	for _, c := range cloudwatchDests {
		doc := map[string]any{"type": "cloudwatch", "log_distribution_role_arn": c.roleARN, "log_group_name": c.logGroup, "target_region": region}
		addFilter(doc, c.desired, c.groups)
		docs = append(docs, withTenant(doc, c.tenant))
	}
	for _, s := range s3Dests {
		doc := map[string]any{"type": "s3", "bucket_name": s.bucket, "bucket_prefix": s.prefix}
		addFilter(doc, s.desired, s.groups)
		docs = append(docs, withTenant(doc, s.tenant))
	}
	for _, doc := range docs {
		tenantID := doc["tenant_id"].(string)
		delete(doc, "tenant_id")
		body, _ := json.Marshal(doc)
		out, err := d.runCLI(ctx, cliEnv, body, "configs", "create", tenantID, "-")
		if err != nil {
			return err
		}
		var created map[string]any
		if err := json.Unmarshal(out, &created); err != nil {
			return fmt.Errorf("configs create printed %q: %w", out, err)
		}
		fmt.Fprintf(d.out, "  created %-8s %-10s %s\n", created["tenant_id"], created["type"], describeFilter(created))
	}
	out, err := d.runCLI(ctx, cliEnv, nil, "configs", "list")
	if err != nil {
		return err
	}
	var listed []json.RawMessage
	if err := json.Unmarshal(out, &listed); err != nil {
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err2 := json.Unmarshal(out, &page); err2 != nil {
			return fmt.Errorf("configs list printed something unexpected: %w", err)
		}
		listed = page.Items
	}
	if len(listed) != len(docs) {
		return fmt.Errorf("configs list shows %d configs, want %d", len(listed), len(docs))
	}
	fmt.Fprintf(d.out, "  `logrouter configs list` shows %d configs\n", len(listed))
	return nil
}

func withTenant(doc map[string]any, tenant string) map[string]any {
	doc["tenant_id"] = tenant
	return doc
}

func addFilter(doc map[string]any, desired, groups []string) {
	if len(desired) > 0 {
		doc["desired_logs"] = desired
	}
	if len(groups) > 0 {
		doc["groups"] = groups
	}
}

func describeFilter(c map[string]any) string {
	dest := ""
	if v, ok := c["log_group_name"]; ok {
		dest = fmt.Sprint("→ ", v)
	}
	if v, ok := c["bucket_name"]; ok {
		dest = fmt.Sprintf("→ s3://%v/%v", v, c["bucket_prefix"])
	}
	filter := "all applications"
	if g, ok := c["groups"]; ok {
		filter = fmt.Sprint("groups ", g)
	}
	if dl, ok := c["desired_logs"]; ok {
		filter = fmt.Sprint("desired_logs ", dl)
	}
	return dest + "  (" + filter + ")"
}

// object is one uploaded object and what logrouter should make of it.
type object struct {
	key    engine.ObjectKey
	events int64 // non-empty events the parser yields: what a CloudWatch destination receives
	bytes  int64
}

type expectation struct {
	objects []object
}

func (d *demo) uploadObjects(ctx context.Context) (*expectation, error) {
	client := s3.NewFromConfig(d.cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := d.stack["CentralBucketName"]
	start := time.Now().Add(-10 * time.Minute).UTC()
	exp := &expectation{}
	for i, p := range pods {
		var buf bytes.Buffer
		sum, err := corpus.Generate(&buf, corpus.Options{
			Seed: int64(1000 + i), TargetBytes: d.o.objectSize, Start: start.Add(time.Duration(i) * time.Second),
			ClusterID: clusterID, Namespace: p.tenant, Application: p.app, PodName: p.pod,
		})
		if err != nil {
			return nil, err
		}
		key := engine.ObjectKey{ClusterID: clusterID, TenantID: p.tenant, Application: p.app, PodName: p.pod,
			File: fmt.Sprintf("%d-%s.log.gz", start.Unix(), randomHex(4))}
		events, err := countEvents(buf.Bytes())
		if err != nil {
			return nil, err
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key.String()), Body: bytes.NewReader(buf.Bytes())}); err != nil {
			return nil, fmt.Errorf("upload %s: %w", key, err)
		}
		exp.objects = append(exp.objects, object{key: key, events: events, bytes: sum.UncompressedBytes})
		fmt.Fprintf(d.out, "  s3://%s/%s  (%d lines, %.1f MiB → %.0f KiB gzip)\n", bucket, key, sum.Lines,
			float64(sum.UncompressedBytes)/(1<<20), float64(sum.CompressedBytes)/1024)
	}
	return exp, nil
}

// countEvents parses an object as logrouter will and counts the events with a non-empty message.
func countEvents(gz []byte) (int64, error) {
	r := parser.NewReader(bytes.NewReader(gz), time.Now())
	defer r.Close()
	var n int64
	var msg []byte
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		if msg, err = ev.AppendMessage(msg[:0]); err != nil {
			return n, err
		}
		if len(msg) > 0 {
			n++
		}
	}
}

// procResult is what a short-lived command printed.
type procResult struct{ stdout, stderr []byte }

func startProcCapture(ctx context.Context, bin string, env []string, stdin []byte, args ...string) (procResult, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return procResult{so.Bytes(), se.Bytes()}, err
}
