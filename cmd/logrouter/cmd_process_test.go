package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/api"
)

func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), stdio{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}, args, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestEngineCommandsDocumentEverySetting(t *testing.T) {
	shared := []string{"LOGROUTER_TENANT_TABLE", "LOGROUTER_CENTRAL_ROLE_ARN", "LOGROUTER_EXTERNAL_ID", "LOGROUTER_SOURCE_BUCKETS",
		"LOGROUTER_WORKERS", "LOGROUTER_LOG_STREAM_TEMPLATE", "LOGROUTER_CONFIG_CACHE_TTL", "LOGROUTER_MAX_EVENT_BYTES",
		"LOGROUTER_OUT_OF_WINDOW", "LOGROUTER_LOG_LEVEL", "LOGROUTER_S3_PATH_STYLE", "LOGROUTER_PROGRESS_TABLE", "LOGROUTER_STREAM_PROBE"}
	for cmd, extra := range map[string][]string{
		"poll":    {"LOGROUTER_QUEUE_URL", "LOGROUTER_METRICS_ADDR", "--queue-url", "--tenant-table", "20s", "127.0.0.1:9090", "{pod_name}", "tenant-configurations"},
		"lambda":  {"LOGROUTER_DEADLINE_RESERVE", "LOGROUTER_REPLAY_KEYS", "LOGROUTER_REPLAY_KEYS_FILE", "--replay-keys"},
		"process": {"--bucket", "--key", "--dry-run"},
	} {
		code, out, _ := runCmd(t, nil, "", "help", cmd)
		require.Equal(t, 0, code)
		for _, want := range append(shared, extra...) {
			assert.Contains(t, out, want, "logrouter help %s", cmd)
		}
	}
}

func TestEngineCommandUsageErrors(t *testing.T) {
	full := map[string]string{"LOGROUTER_CENTRAL_ROLE_ARN": "arn:aws:iam::123456789012:role/c", "LOGROUTER_SOURCE_BUCKETS": "b", "AWS_REGION": "us-east-1"}
	without := func(k string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			if a != k {
				m[a] = b
			}
		}
		return m
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range full {
			m[a] = b
		}
		return m
	}
	tests := map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"poll without queue":             {full, []string{"poll"}, "--queue-url"},
		"process without central role":   {without("LOGROUTER_CENTRAL_ROLE_ARN"), []string{"process", "--bucket", "b", "--key", "k"}, "central role ARN is required"},
		"process without source buckets": {without("LOGROUTER_SOURCE_BUCKETS"), []string{"process", "--bucket", "b", "--key", "k"}, "source bucket"},
		"bucket without key":             {full, []string{"process", "--bucket", "b"}, "--bucket and --key go together"},
		"bad stream template":            {full, []string{"process", "--log-stream-template", "{namespace}", "--bucket", "b", "--key", "k"}, "unknown placeholder"},
		"bad out-of-window policy":       {full, []string{"process", "--out-of-window", "keep", "--bucket", "b", "--key", "k"}, "keep"},
		"bad event size":                 {full, []string{"process", "--max-event-bytes", "5000", "--bucket", "b", "--key", "k"}, "5000"},
		"bad stream probe":               {full, []string{"process", "--stream-probe", "describe-first", "--bucket", "b", "--key", "k"}, "unknown stream probe \"describe-first\""},
		"bad stream probe from env":      {with("LOGROUTER_STREAM_PROBE", "Create-First"), []string{"process", "--bucket", "b", "--key", "k"}, `unknown stream probe "Create-First"`},
		"bad path style":                 {full, []string{"process", "--s3-path-style", "maybe", "--bucket", "b", "--key", "k"}, "maybe"},
		"lambda with arguments":          {full, []string{"lambda", "x"}, "no arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tc.env, "", tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestLambdaDefault(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == lambdaRuntimeEnv {
				return v
			}
			return ""
		}
	}
	assert.Equal(t, []string{"lambda"}, lambdaDefault(nil, env("127.0.0.1:9001")), "bootstrap without arguments")
	assert.Equal(t, []string{"poll"}, lambdaDefault([]string{"poll"}, env("127.0.0.1:9001")), "explicit command wins")
	assert.Empty(t, lambdaDefault(nil, env("")), "outside Lambda nothing changes")
}

func TestLambdaCommandStartsHandler(t *testing.T) {
	var started any
	old := startLambda
	startLambda = func(h any, _ ...lambda.Option) { started = h }
	t.Cleanup(func() { startLambda = old })
	env := map[string]string{"LOGROUTER_CENTRAL_ROLE_ARN": "arn:aws:iam::123456789012:role/c", "LOGROUTER_SOURCE_BUCKETS": "b"}
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	code, _, stderr := runCmd(t, env, "", "lambda")
	require.Equal(t, 0, code, stderr)
	require.NotNil(t, started, "the SQS handler was handed to the Lambda runtime")
}

func TestReplayKeysSettings(t *testing.T) {
	const s1, s2 = "replay-secret-0123456789abcdef", "another-secret-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "replay-keys")
	require.NoError(t, os.WriteFile(file, []byte("k1="+s1+"\nk2="+s2+"\n"), 0o600))
	want := api.Keys{"k1": []byte(s1), "k2": []byte(s2)}

	for name, inline := range map[string]string{
		"commas":   "k1=" + s1 + ",k2=" + s2,
		"newlines": "k1=" + s1 + "\nk2=" + s2 + "\n",
		"spaces":   " k1=" + s1 + " , k2=" + s2 + " ",
	} {
		t.Run(name, func(t *testing.T) {
			f := engineFlags{replayKeysInline: inline}
			keys, err := f.replayKeySet()
			require.NoError(t, err)
			assert.Equal(t, want, keys)
		})
	}
	fromFile, err := (&engineFlags{replayKeys: file}).replayKeySet()
	require.NoError(t, err)
	assert.Equal(t, want, fromFile, "the variable holds what the file holds")

	keys, err := (&engineFlags{}).replayKeySet()
	require.NoError(t, err)
	assert.Nil(t, keys, "no setting, no keys")

	_, err = (&engineFlags{replayKeys: file, replayKeysInline: "k1=" + s1}).replayKeySet()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not both")

	// Bad values: the error says what is wrong and never repeats a secret.
	for name, inline := range map[string]string{
		"short secret":     "k1=" + s1 + ",k2=short-secret",
		"comma in secret":  "k1=" + s1[:10] + "," + s1[10:],
		"duplicate key id": "k1=" + s1 + ",k1=" + s2,
		"bad key id":       "k 1=" + s1,
		"scope line":       "k1=" + s1 + ",@k1 access=read",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := (&engineFlags{replayKeysInline: inline}).replayKeySet()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "LOGROUTER_REPLAY_KEYS")
			for _, secret := range []string{s1, s2, s1[:10], s1[10:], "short-secret"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// The processor commands load the replay keys at start and say so (ids only); a bad value stops them with an
// error that holds no secret.
func TestLambdaLoadsReplayKeysFromTheEnvironment(t *testing.T) {
	old := startLambda
	startLambda = func(any, ...lambda.Option) {}
	t.Cleanup(func() { startLambda = old })
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	const secret = "replay-secret-0123456789abcdef"
	env := map[string]string{"LOGROUTER_CENTRAL_ROLE_ARN": "arn:aws:iam::123456789012:role/c", "LOGROUTER_SOURCE_BUCKETS": "b"}

	code, _, stderr := runCmd(t, env, "", "lambda")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "replay notifications are dropped")

	env["LOGROUTER_REPLAY_KEYS"] = "replay-2026=" + secret + ",replay-2027=" + secret + "x"
	code, _, stderr = runCmd(t, env, "", "lambda")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "replay notifications are accepted")
	assert.Contains(t, stderr, "replay-2026")
	assert.Contains(t, stderr, "replay-2027")
	assert.NotContains(t, stderr, secret)

	env["LOGROUTER_REPLAY_KEYS"] = "replay-2026=" + secret + ",oops"
	code, _, stderr = runCmd(t, env, "", "lambda")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "LOGROUTER_REPLAY_KEYS")
	assert.NotContains(t, stderr, secret)
}
