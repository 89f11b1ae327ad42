package cost

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProxyClassifiesEveryProtocol sends real SDK calls of each protocol through the proxy to a backend that
// answers some of them with errors, and checks what the proxy counted.
func TestProxyClassifiesEveryProtocol(t *testing.T) {
	var bodies []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		switch {
		case r.Header.Get("X-Amz-Target") == "Logs_20140328.PutLogEvents":
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException:http://internal")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"ResourceNotFoundException"}`)
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusNotFound)
		case strings.Contains(string(b), "Action=AssumeRole"):
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>`)
		default:
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			io.WriteString(w, `{}`)
		}
	}))
	defer backend.Close()
	p, err := StartProxy(backend.URL, map[string]string{"progress-t": "progress table"})
	require.NoError(t, err)
	defer p.Close()

	cfg := aws.Config{Region: "us-east-1", Credentials: awscreds.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(p.URL), RetryMaxAttempts: 1}
	ctx := context.Background()
	_, _ = sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("q")})
	_, _ = sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("q")})
	_, _ = dynamodb.NewFromConfig(cfg).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("progress-t"),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
	_, _ = dynamodb.NewFromConfig(cfg).Query(ctx, &dynamodb.QueryInput{TableName: aws.String("unknown-t")})
	_, _ = cloudwatchlogs.NewFromConfig(cfg).PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"),
		LogEvents: []cwltypes.InputLogEvent{{Message: aws.String("m"), Timestamp: aws.Int64(1)}}})
	_, _ = sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::1:role/r"), RoleSessionName: aws.String("s")})
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	_, _ = s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k/1.gz")})
	_, _ = s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k/1.gz")})
	_, _ = s3c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("d"), Key: aws.String("k/1.gz"), CopySource: aws.String("b/k/1.gz")})

	got := map[string]Tally{}
	for c, tl := range p.Counts() {
		got[c.String()] = tl
	}
	assert.Equal(t, 2, got["sqs ReceiveMessage"].Calls)
	assert.Equal(t, 1, got["dynamodb UpdateItem (progress table)"].Calls)
	assert.Equal(t, 1, got["dynamodb Query (other)"].Calls)
	assert.Equal(t, Tally{Calls: 1, Errors: map[string]int{"ResourceNotFoundException": 1}}, got["logs PutLogEvents"])
	assert.Equal(t, Tally{Calls: 1, Errors: map[string]int{"AccessDenied": 1}}, got["sts AssumeRole"])
	assert.Equal(t, 1, got["s3 GetObject"].Calls)
	assert.Equal(t, Tally{Calls: 1, Errors: map[string]int{"Not Found": 1}}, got["s3 HeadObject"])
	assert.Equal(t, 1, got["s3 CopyObject"].Calls)
	assert.Len(t, got, 8, "nothing else was counted: %v", got)
	// The bodies reached the backend whole after the proxy read them.
	assert.Contains(t, strings.Join(bodies, "\n"), `"TableName":"progress-t"`)
	assert.Contains(t, strings.Join(bodies, "\n"), "RoleSessionName=s")

	p.Reset()
	assert.Empty(t, p.Counts())
}

// TestEvaluateJudgesAgainstTheMinimum checks the minimums, the MET/MISSED verdicts, unexpected calls and the
// dollar figures of a made-up run.
func TestEvaluateJudgesAgainstTheMinimum(t *testing.T) {
	r := &Result{Objects: 100, Tenants: 4, Streams: 16, Groups: 4, UncompressedBytes: 100 * 30_000, Seconds: 20, Counts: map[string]Tally{
		"sqs ReceiveMessage":                   {Calls: 10},
		"sqs DeleteMessageBatch":               {Calls: 12},
		"s3 GetObject":                         {Calls: 100},
		"s3 CopyObject":                        {Calls: 100},
		"dynamodb Query (tenant table)":        {Calls: 4},
		"dynamodb UpdateItem (progress table)": {Calls: 200},
		"sts AssumeRole":                       {Calls: 5},
		"logs PutLogEvents":                    {Calls: 116, Errors: map[string]int{"ResourceNotFoundException": 16}},
		"logs CreateLogStream":                 {Calls: 16},
		"logs CreateLogGroup":                  {Calls: 4},
		"logs DescribeLogStreams":              {Calls: 1},
		"s3 ListObjectsV2":                     {Calls: 2},
	}}
	r.Evaluate()
	rows := map[string]Row{}
	for _, row := range r.Rows {
		rows[row.Operation] = row
	}
	assert.Equal(t, "MET", rows["SQS ReceiveMessage"].Status, "10 ≤ 1.05 × 10")
	assert.Equal(t, "MISSED", rows["SQS DeleteMessageBatch"].Status, "12 > 1.05 × 10")
	assert.Equal(t, 10.0, rows["SQS DeleteMessageBatch"].Minimum)
	assert.Equal(t, "MET", rows["DynamoDB progress UpdateItem"].Status)
	assert.Equal(t, "MISSED", rows["CloudWatch PutLogEvents"].Status)
	assert.Equal(t, "16 ResourceNotFoundException", rows["CloudWatch PutLogEvents"].Errors)
	assert.Equal(t, "MISSED", rows["CloudWatch Describe*"].Status)
	assert.Equal(t, "MET", rows["STS GetCallerIdentity"].Status, "zero calls is within at most one")
	assert.Equal(t, "MISSED", rows["s3 ListObjectsV2"].Status, "an unexpected call is judged against zero")
	assert.ElementsMatch(t, []string{"SQS DeleteMessageBatch", "CloudWatch PutLogEvents", "CloudWatch Describe*", "s3 ListObjectsV2"}, r.Missed())

	// US$: SQS 22 × 0.4e-6, S3 100 × 0.4e-6 + 100 × 5e-6, DynamoDB 4 × 0.0625e-6 + 200 × 0.625e-6, per object × 1e6.
	want := (22*0.4 + 100*0.4 + 100*5 + 4*0.0625 + 200*0.625) / 100
	assert.InDelta(t, want, r.DollarsPerMillionObjects, 1e-9)
	assert.InDelta(t, want/1e6*100/(100*30_000)*1e12, r.DollarsPerTB, 1e-6)
	assert.Greater(t, r.UpstreamPerMillionObjects, 0.0)
}
