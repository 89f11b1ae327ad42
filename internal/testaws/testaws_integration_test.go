package testaws_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

// The harness works: a bucket is created in the emulator and an object written to it reads back intact.
func TestEmulatorS3RoundTrip(t *testing.T) {
	ctx := testaws.Context(t, 30*time.Second)
	client := testaws.S3(t)
	bucket := testaws.Name("harness")
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)

	body := []byte(`{"message":"hello","timestamp":"2025-08-30T10:33:20Z"}` + "\n")
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("c1/tenant-a/app/pod-0/part.json"), Body: bytes.NewReader(body),
	})
	require.NoError(t, err)

	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("c1/tenant-a/app/pod-0/part.json")})
	require.NoError(t, err)
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	require.Equal(t, body, got)
}
