package credentials

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingClient passes requests on and records every STS request's parameters and signing key, and the
// signing key of every CloudWatch Logs request: moto does not check ExternalId, so the test checks what
// was sent.
type recordingClient struct {
	next aws.HTTPClient

	mu   sync.Mutex
	sts  []url.Values // with "AccessKeyId" added
	logs []string
}

func (r *recordingClient) Do(req *http.Request) (*http.Response, error) {
	switch {
	case req.Header.Get("X-Amz-Target") != "":
		r.mu.Lock()
		r.logs = append(r.logs, signingKey(req))
		r.mu.Unlock()
	case req.Body != nil && req.Header.Get("Content-Type") == "application/x-www-form-urlencoded":
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		form.Set("AccessKeyId", signingKey(req))
		r.mu.Lock()
		r.sts = append(r.sts, form)
		r.mu.Unlock()
	}
	return r.next.Do(req)
}

func (r *recordingClient) stsCalls(action string) []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []url.Values
	for _, f := range r.sts {
		if f.Get("Action") == action {
			out = append(out, f)
		}
	}
	return out
}

func TestIntegrationDoubleHopWithMoto(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	base := testaws.Config(t)
	rec := &recordingClient{next: awshttp.NewBuildableClient()}
	base.HTTPClient = rec
	reg := prometheus.NewRegistry()
	centralRole := "arn:aws:iam::" + testaws.AccountID + ":role/logrouter-central"
	customerAccount := fmt.Sprintf("4%011d", time.Now().UnixNano()%100_000_000_000)
	customerRole := "arn:aws:iam::" + customerAccount + ":role/LogDistributionRole"

	m, err := New(base, Options{CentralRoleARN: centralRole, Metrics: NewMetrics(reg)})
	require.NoError(t, err)
	logs, scope, err := m.CloudWatchLogs(ctx, customerRole, "", "acme-corp", "")
	require.NoError(t, err)
	assert.Equal(t, "aws:"+customerAccount+":"+testaws.Region, scope)

	group, stream := testaws.Name("/logrouter/credentials"), "pod-1"
	_, err = logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)})
	require.NoError(t, err)
	_, err = logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
	require.NoError(t, err)
	now := time.Now().UnixMilli()
	_, err = logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(now), Message: aws.String("delivered as the customer")}},
	})
	require.NoError(t, err)
	got, err := logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true),
	})
	require.NoError(t, err)
	require.Len(t, got.Events, 1)
	assert.Equal(t, "delivered as the customer", aws.ToString(got.Events[0].Message))

	// What STS was asked, and with which credentials.
	assumes := rec.stsCalls("AssumeRole")
	require.Len(t, assumes, 2)
	central, customer := assumes[0], assumes[1]
	assert.Equal(t, centralRole, central.Get("RoleArn"))
	assert.Equal(t, "logrouter-central", central.Get("RoleSessionName"))
	assert.Equal(t, "testing", central.Get("AccessKeyId"), "central hop signed with the base credentials")
	assert.False(t, central.Has("ExternalId"))
	assert.Equal(t, customerRole, customer.Get("RoleArn"))
	assert.Equal(t, "logrouter-acme-corp", customer.Get("RoleSessionName"))
	assert.Equal(t, testaws.AccountID, customer.Get("ExternalId"), "default ExternalId: the central account id")
	assert.Equal(t, "3600", customer.Get("DurationSeconds"))
	centralKey := customer.Get("AccessKeyId")
	assert.NotEqual(t, "testing", centralKey, "customer hop signed with the central role's credentials")
	identity := rec.stsCalls("GetCallerIdentity")
	require.Len(t, identity, 1)
	assert.Equal(t, centralKey, identity[0].Get("AccessKeyId"))

	// CloudWatch Logs was called with the customer role's credentials, which moto places in the customer's
	// account: the group is not in the central account.
	rec.mu.Lock()
	logKeys := append([]string(nil), rec.logs...)
	rec.mu.Unlock()
	require.Len(t, logKeys, 4)
	for _, k := range logKeys {
		assert.NotEqual(t, "testing", k)
		assert.NotEqual(t, centralKey, k)
	}
	own := cloudwatchlogs.NewFromConfig(testaws.Config(t))
	groups, err := own.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	require.NoError(t, err)
	assert.Empty(t, groups.LogGroups, "the group lives in the customer's account, not the central one")

	// A per-config ExternalId is sent instead of the default; the central credentials are reused.
	logs2, _, err := m.CloudWatchLogs(ctx, customerRole, "acme-unique-7f3a", "acme-corp", "")
	require.NoError(t, err)
	_, err = logs2.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	require.NoError(t, err)
	assumes = rec.stsCalls("AssumeRole")
	require.Len(t, assumes, 3)
	assert.Equal(t, "acme-unique-7f3a", assumes[2].Get("ExternalId"))
	assert.Equal(t, centralKey, assumes[2].Get("AccessKeyId"))
	assert.Equal(t, 1.0, counter(t, reg, "logrouter_credentials_assume_role_calls_total", map[string]string{"hop": "central"}))
	assert.Equal(t, 2.0, counter(t, reg, "logrouter_credentials_assume_role_calls_total", map[string]string{"hop": "customer"}))
}
