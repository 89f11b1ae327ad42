package credentials

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isolateAWSEnv gives the SDK static base credentials and nothing else from the machine's environment.
func isolateAWSEnv(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": baseAccessKey, "AWS_SECRET_ACCESS_KEY": baseSecret, "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		t.Setenv(k, "") // restored after the test
		require.NoError(t, os.Unsetenv(k))
	}
}

// useAll makes one CloudWatch Logs call with customer credentials and one S3 call with central ones.
func useAll(t *testing.T, ctx context.Context) {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	m, err := New(cfg, Options{CentralRoleARN: centralARN, S3UsePathStyle: true})
	require.NoError(t, err)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "eu-central-1")
	require.NoError(t, err)
	require.NoError(t, putLogGroup(ctx, c))
	s, err := m.S3(ctx, "")
	require.NoError(t, err)
	_, err = s.ListBuckets(ctx, &s3.ListBucketsInput{})
	require.NoError(t, err)
}

func TestServiceEndpointEnvironmentVariables(t *testing.T) {
	isolateAWSEnv(t)
	stsFake, logsFake, s3Fake := newFakeAWS(t), newFakeAWS(t), newFakeAWS(t)
	t.Setenv("AWS_ENDPOINT_URL_STS", stsFake.srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logsFake.srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_S3", s3Fake.srv.URL)
	useAll(t, testContext(t))

	assert.Len(t, stsFake.stsCalls("AssumeRole", ""), 2)
	assert.Empty(t, logsFake.stsCalls("", ""))
	assert.Empty(t, s3Fake.stsCalls("", ""))
	require.Len(t, logsFake.logs, 1)
	assert.Equal(t, customerARN, stsFake.issuedTo(logsFake.logs[0]).roleARN)
	require.Len(t, s3Fake.s3, 1)
	assert.Equal(t, centralARN, stsFake.issuedTo(s3Fake.s3[0]).roleARN)
	assert.Empty(t, stsFake.logs)
	assert.Empty(t, stsFake.s3)
}

func TestGlobalEndpointEnvironmentVariable(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeAWS(t)
	t.Setenv("AWS_ENDPOINT_URL", f.srv.URL)
	useAll(t, testContext(t))
	assert.Len(t, f.stsCalls("AssumeRole", ""), 2)
	require.Len(t, f.logs, 1)
	assert.Equal(t, customerARN, f.issuedTo(f.logs[0]).roleARN)
	require.Len(t, f.s3, 1)
}

func TestSharedConfigServiceEndpoints(t *testing.T) {
	isolateAWSEnv(t)
	stsFake, logsFake := newFakeAWS(t), newFakeAWS(t)
	conf := "[default]\nregion = us-east-1\nservices = emulators\n\n[services emulators]\n" +
		"sts =\n  endpoint_url = " + stsFake.srv.URL + "\n" +
		"cloudwatch_logs =\n  endpoint_url = " + logsFake.srv.URL + "\n" +
		"s3 =\n  endpoint_url = " + logsFake.srv.URL + "\n"
	require.NoError(t, os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(conf), 0o600))
	useAll(t, testContext(t))
	assert.Len(t, stsFake.stsCalls("AssumeRole", ""), 2)
	require.Len(t, logsFake.logs, 1)
	assert.Equal(t, customerARN, stsFake.issuedTo(logsFake.logs[0]).roleARN)
}
