// Package testaws connects integration tests to the AWS emulator (moto) that `make test` starts.
//
// `make test` runs the tests under internal/tools/withmoto, which sets LOGROUTER_TEST_AWS_ENDPOINT.
// Without it an integration test fails with a clear message. A developer may opt out locally with
// LOGROUTER_SKIP_INTEGRATION=1, which turns those failures into skips; CI (CI=true) never skips.
package testaws

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Environment variables read by this package.
const (
	EnvEndpoint = "LOGROUTER_TEST_AWS_ENDPOINT"
	EnvSkip     = "LOGROUTER_SKIP_INTEGRATION"
)

// Region is the region integration tests use.
const Region = "us-east-1"

// AccountID is the account moto reports for the default test credentials.
const AccountID = "123456789012"

// Endpoint returns the emulator's base URL, or fails (or, when opted out outside CI, skips) the test.
func Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		return strings.TrimRight(ep, "/")
	}
	if os.Getenv(EnvSkip) != "" && os.Getenv("CI") == "" {
		t.Skipf("integration test skipped: %s is set", EnvSkip)
	}
	t.Fatalf("integration test needs the AWS emulator: %s is not set. Run `make test` (it starts moto_server), "+
		"or `go run ./internal/tools/withmoto -- go test ./...`; to skip locally set %s=1", EnvEndpoint, EnvSkip)
	return ""
}

// Config returns an aws.Config aimed at the emulator with static test credentials.
func Config(t testing.TB) aws.Config {
	t.Helper()
	ep := Endpoint(t)
	return aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint:     aws.String(ep),
		RetryMaxAttempts: 3,
	}
}

// S3 returns an S3 client for the emulator (path-style addressing).
func S3(t testing.TB) *s3.Client {
	cfg := Config(t)
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

var seq atomic.Int64

// Name returns a name unique within this test process, lowercase and safe for buckets, queues and tables.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, seq.Add(1))
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
