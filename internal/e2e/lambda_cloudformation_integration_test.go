package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logrouter/logrouter/internal/testaws"
)

// What moto's CloudFormation covers of deploy/cloudformation/processor-lambda.yaml: the function from a zip in
// S3, its environment, timeout and role; the event source mapping's settings; the execution role's policy; the
// progress table; and both role variants. Not covered (moto does not implement it): Architectures (moto reports
// x86_64 whatever is asked), the container-image variant (needs a real ECR image), the template's Rules, and
// running the function.

// bootstrapZip is a Lambda zip holding an executable named bootstrap (moto stores it, nothing runs it).
func bootstrapZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("#!/bin/sh\nexit 0\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type lambdaStack struct {
	outputs  map[string]string
	physical map[string]string // logical id -> physical id
}

func createLambdaStack(ctx context.Context, t *testing.T, cfg aws.Config, name string, params map[string]string) lambdaStack {
	t.Helper()
	cfn := cloudformation.NewFromConfig(cfg)
	var ps []cfntypes.Parameter
	for k, v := range params {
		ps = append(ps, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	_, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(readTemplate(t, "processor-lambda.yaml")),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		Parameters:   ps,
	})
	if err != nil {
		t.Fatalf("create stack %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(name)})
	})
	w := cloudformation.NewStackCreateCompleteWaiter(cfn, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	out, err := w.WaitForOutput(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)}, 2*time.Minute)
	if err != nil {
		var reasons []string
		if ev, e := cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)}); e == nil {
			for _, e := range ev.StackEvents {
				if e.ResourceStatusReason != nil {
					reasons = append(reasons, aws.ToString(e.LogicalResourceId)+": "+aws.ToString(e.ResourceStatusReason))
				}
			}
		}
		t.Fatalf("stack %s did not complete: %v\n%s", name, err, strings.Join(reasons, "\n"))
	}
	s := lambdaStack{outputs: map[string]string{}, physical: map[string]string{}}
	for _, o := range out.Stacks[0].Outputs {
		s.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	res, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.StackResources {
		s.physical[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
	}
	return s
}

// lambdaGet calls the Lambda REST API of the emulator with a signed GET (the module has no Lambda client).
func lambdaGet(ctx context.Context, t *testing.T, cfg aws.Config, path string, query url.Values, out any) {
	t.Helper()
	u := testaws.Endpoint(t) + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "lambda", cfg.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

type lambdaFunction struct {
	Configuration struct {
		FunctionName string
		Runtime      string
		Handler      string
		Timeout      int
		MemorySize   int
		Role         string
		PackageType  string
		Environment  struct{ Variables map[string]any }
	}
}

type eventSourceMappings struct {
	EventSourceMappings []struct {
		EventSourceArn        string
		FunctionArn           string
		BatchSize             int
		FunctionResponseTypes []string
		ScalingConfig         struct{ MaximumConcurrency int }
		State                 string
	}
}

type policyDocument struct {
	Statement []struct {
		Effect   string
		Action   any // string or list
		Resource any
	}
}

// rolePolicy returns the inline policy's statements as "action resource" strings.
func rolePolicy(ctx context.Context, t *testing.T, client *iam.Client, role, policy string) []string {
	t.Helper()
	out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(policy)})
	if err != nil {
		t.Fatalf("role %s policy %s: %v", role, policy, err)
	}
	raw, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(raw, "{'") {
		// moto returns inline policies created through CloudFormation as a Python dict literal; these hold no
		// quotes inside values, so swapping the quote character yields the JSON document.
		raw = strings.ReplaceAll(raw, "'", `"`)
	}
	var doc policyDocument
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("policy %s: %v: %s", policy, err, raw)
	}
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, s := range v {
				out = append(out, fmt.Sprint(s))
			}
			return out
		}
		return nil
	}
	var grants []string
	for _, s := range doc.Statement {
		if s.Effect != "Allow" {
			t.Errorf("policy %s: unexpected effect %q", policy, s.Effect)
		}
		for _, a := range list(s.Action) {
			for _, r := range list(s.Resource) {
				grants = append(grants, a+" "+r)
			}
		}
	}
	return grants
}

func TestLambdaProcessorStackIntegration(t *testing.T) {
	cfg := testaws.Config(t)
	ctx := testaws.Context(t, 3*time.Minute)

	// What the central stack provides: the code bucket with the zip, the queue.
	codeBucket, codeKey := testaws.Name("lr-code"), "logrouter/test/logrouter-lambda-arm64.zip"
	s3c := testaws.S3(t)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(codeBucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(codeBucket), Key: aws.String(codeKey), Body: bytes.NewReader(bootstrapZip(t))}); err != nil {
		t.Fatal(err)
	}
	sqsc := sqs.NewFromConfig(cfg)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testaws.Name("lr-notifications")),
		Attributes: map[string]string{"VisibilityTimeout": "300"}})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	queueARN := qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	centralBucket := testaws.Name("lr-central")
	centralRole := "arn:aws:iam::" + testaws.AccountID + ":role/lr-central-log-distribution"
	iamc := iam.NewFromConfig(cfg)

	common := func(prefix string) map[string]string {
		return map[string]string{
			"NamePrefix": prefix, "CodeS3Bucket": codeBucket, "CodeS3Key": codeKey, "QueueArn": queueARN,
			"CentralBucketName": centralBucket, "CentralLogDistributionRoleArn": centralRole,
			"TenantTableName": "tenant-configurations", "MaximumConcurrency": "7",
		}
	}
	checkFunction := func(t *testing.T, prefix, wantRole, wantProgress, wantExternalID, wantReplayKeys string) {
		t.Helper()
		var fn lambdaFunction
		lambdaGet(ctx, t, cfg, "/2015-03-31/functions/"+prefix+"-processor", nil, &fn)
		c := fn.Configuration
		if c.Runtime != "provided.al2023" || c.Handler != "bootstrap" || c.PackageType != "Zip" {
			t.Errorf("runtime %q handler %q package %q, want provided.al2023, bootstrap, Zip", c.Runtime, c.Handler, c.PackageType)
		}
		if c.Timeout != 50 {
			t.Errorf("timeout %d, want 50 (a sixth of the queue's 300 s visibility timeout, rounded down to the mapping)", c.Timeout)
		}
		if c.Role != wantRole {
			t.Errorf("role %q, want %q", c.Role, wantRole)
		}
		env := map[string]string{}
		for k, v := range c.Environment.Variables {
			env[k] = fmt.Sprint(v)
		}
		want := map[string]string{
			"LOGROUTER_TENANT_TABLE": "tenant-configurations", "LOGROUTER_CENTRAL_ROLE_ARN": centralRole,
			"LOGROUTER_SOURCE_BUCKETS": centralBucket, "LOGROUTER_PROGRESS_TABLE": wantProgress,
			"LOGROUTER_DEADLINE_RESERVE": "10s",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("environment %s = %q, want %q", k, env[k], v)
			}
		}
		if got, ok := env["LOGROUTER_EXTERNAL_ID"]; ok != (wantExternalID != "") || got != wantExternalID {
			t.Errorf("environment LOGROUTER_EXTERNAL_ID = %q (set: %v), want %q (unset when empty)", got, ok, wantExternalID)
		}
		if got, ok := env["LOGROUTER_REPLAY_KEYS"]; ok != (wantReplayKeys != "") || got != wantReplayKeys {
			t.Errorf("environment LOGROUTER_REPLAY_KEYS set: %v, equal to the ReplayKeys parameter: %v, want set: %v (unset when empty)",
				ok, got == wantReplayKeys, wantReplayKeys != "")
		}

		var esms eventSourceMappings
		lambdaGet(ctx, t, cfg, "/2015-03-31/event-source-mappings/", url.Values{"FunctionName": {prefix + "-processor"}}, &esms)
		if len(esms.EventSourceMappings) != 1 {
			t.Fatalf("%d event source mappings, want 1", len(esms.EventSourceMappings))
		}
		m := esms.EventSourceMappings[0]
		if m.EventSourceArn != queueARN || m.BatchSize != 10 || !slices.Equal(m.FunctionResponseTypes, []string{"ReportBatchItemFailures"}) ||
			m.ScalingConfig.MaximumConcurrency != 7 || !strings.HasSuffix(m.FunctionArn, ":function:"+prefix+"-processor") {
			t.Errorf("event source mapping %+v, want the queue, batch size 10, ReportBatchItemFailures, maximum concurrency 7", m)
		}
	}

	t.Run("own role and progress table", func(t *testing.T) {
		prefix := testaws.Name("lr")
		st := createLambdaStack(ctx, t, cfg, prefix+"-lambda", common(prefix))
		role := prefix + "-processor-lambda"
		roleARN := "arn:aws:iam::" + testaws.AccountID + ":role/" + role
		table := prefix + "-lambda-progress"
		if st.outputs["ExecutionRoleArn"] != roleARN || st.outputs["ProgressTableName"] != table || st.outputs["FunctionTimeout"] != "50" {
			t.Errorf("outputs %v", st.outputs)
		}
		checkFunction(t, prefix, roleARN, table, "", "")

		d, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		if ks := d.Table.KeySchema; len(ks) != 1 || aws.ToString(ks[0].AttributeName) != "id" {
			t.Errorf("progress table key schema %+v, want partition key id only", ks)
		}
		tableARN := aws.ToString(d.Table.TableArn)

		grants := rolePolicy(ctx, t, iamc, role, "processor")
		for _, g := range []string{
			"sqs:ReceiveMessage " + queueARN, "sqs:DeleteMessage " + queueARN, "sqs:ChangeMessageVisibility " + queueARN,
			"s3:GetObject arn:aws:s3:::" + centralBucket + "/*",
			"dynamodb:Query arn:aws:dynamodb:us-east-1:" + testaws.AccountID + ":table/tenant-configurations",
			"dynamodb:GetItem " + tableARN, "dynamodb:UpdateItem " + tableARN,
			"sts:AssumeRole " + centralRole,
		} {
			if !slices.Contains(grants, g) {
				t.Errorf("execution role lacks %s", g)
			}
		}
		for _, g := range grants {
			if strings.Contains(g, "*") && !strings.HasPrefix(g, "s3:GetObject ") && !strings.HasPrefix(g, "logs:") {
				t.Errorf("execution role grants a wildcard: %s", g)
			}
		}
	})

	t.Run("given role and progress table", func(t *testing.T) {
		prefix := testaws.Name("lr")
		role := prefix + "-processor"
		r, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role),
			AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		params := common(prefix)
		params["ExecutionRoleArn"] = aws.ToString(r.Role.Arn)
		params["ProgressTableName"] = "shared-progress"
		params["ExternalId"] = "acme-external-id"
		replayKeys := "replay-2026=0123456789abcdef0123456789abcdef,replay-2027=fedcba9876543210fedcba9876543210"
		params["ReplayKeys"] = replayKeys
		st := createLambdaStack(ctx, t, cfg, prefix+"-lambda", params)
		for _, logical := range []string{"ExecutionRole", "ProgressTable"} {
			if _, ok := st.physical[logical]; ok {
				t.Errorf("%s was created although one was given", logical)
			}
		}
		checkFunction(t, prefix, aws.ToString(r.Role.Arn), "shared-progress", "acme-external-id", replayKeys)
		grants := rolePolicy(ctx, t, iamc, role, prefix+"-lambda-progress")
		tableARN := "arn:aws:dynamodb:us-east-1:" + testaws.AccountID + ":table/shared-progress"
		if !slices.Equal(grants, []string{"dynamodb:GetItem " + tableARN, "dynamodb:UpdateItem " + tableARN}) {
			t.Errorf("given role's progress policy grants %v", grants)
		}
	})
}
